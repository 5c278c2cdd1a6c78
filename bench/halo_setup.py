"""The Halo sandboxes the benchmark syncs into: one per runner, in the benchmark process (threads).

The emulator's rate limit is off: the hosted budget is simulated afterwards from the request
timestamps (measure.hosted_budget_time), so a run is never slowed by it and both are comparable.
"""

from __future__ import annotations

from typing import Any

HALO_CLIENT_ID = "halo-integrator"
HALO_SECRET_ENV = "BENCH_HALO_SECRET"
HALO_SECRET = "bench-halo-secret"
HALO_TENANT = "sandbox"


def make_halo(source: Any) -> Any:
    """A started Halo sandbox with the default seed and the source's connection enabled (its log has times)."""
    from sandbox.halo_server import HaloSandbox

    halo = HaloSandbox(client_id=HALO_CLIENT_ID, client_secret=HALO_SECRET, tenant=HALO_TENANT, rate_limit=None)
    source.seed_halo(halo)
    halo.start()
    return halo


def install_email_index(halo: Any) -> None:
    """Answer ``GET /api/Users?search=<an email>`` from an index instead of the emulator's scan of every user.

    The emulator's search is a linear scan (real Halo searches with its SQL indexes): with it, the naive
    baseline's N searches would cost O(N^2) emulator time and measure the emulator, not the requests.
    The answer is the same records for the baseline's searches (whole addresses); request counts are
    untouched. Every other listing goes to the emulator's own code.
    """
    _EmailIndex(halo.store).install()


class _EmailIndex:
    """Users by lower-case e-mail address, built on the first search and kept up to date by upserts."""

    def __init__(self, store: Any) -> None:
        self.store, self.by_email, self.built = store, {}, False
        self.plain_matching, self.plain_upsert = store._matching, store.upsert

    def install(self) -> None:
        self.store._matching, self.store.upsert = self.matching, self.upsert

    def index(self, record: dict[str, Any]) -> None:
        email = str(record.get("emailaddress") or "").lower()
        if email:
            self.by_email.setdefault(email, set()).add(record["id"])

    def matching(self, resource: Any, params: dict[str, str]) -> list[dict[str, Any]]:
        search = (params.get("search") or "").lower()
        if resource.table != "users" or "@" not in search or set(params) - {"search", "includeinactive"}:
            return self.plain_matching(resource, params)
        include_inactive = (params.get("includeinactive") or "").lower() == "true"
        with self.store.lock:
            if not self.built:
                for record in self.store.state["users"].values():
                    self.index(record)
                self.built = True
            rows = self.store.state["users"]
            found = [rows[i] for i in sorted(self.by_email.get(search, ())) if i in rows]
        return [row for row in found if str(row.get("emailaddress") or "").lower() == search
                and (include_inactive or not row.get("inactive"))]

    def upsert(self, resource: Any, records: list[dict[str, Any]], reject: Any = None) -> list[dict[str, Any]]:
        saved = self.plain_upsert(resource, records, reject)
        if resource.table == "users" and self.built:
            with self.store.lock:
                for record in saved:
                    self.index(record)
        return saved
