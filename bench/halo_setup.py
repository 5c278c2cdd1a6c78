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
    store = halo.store
    plain_matching, plain_upsert = store._matching, store.upsert
    by_email: dict[str, set[int]] = {}
    built = []

    def index(record: dict[str, Any]) -> None:
        email = str(record.get("emailaddress") or "").lower()
        if email:
            by_email.setdefault(email, set()).add(record["id"])

    def matching(resource: Any, params: dict[str, str]) -> list[dict[str, Any]]:
        search = (params.get("search") or "").lower()
        if resource.table != "users" or "@" not in search or set(params) - {"search", "includeinactive"}:
            return plain_matching(resource, params)
        include_inactive = (params.get("includeinactive") or "").lower() == "true"
        with store.lock:
            if not built:
                for record in store.state["users"].values():
                    index(record)
                built.append(True)
            rows = store.state["users"]
            found = [rows[i] for i in sorted(by_email.get(search, ())) if i in rows]
        return [row for row in found if str(row.get("emailaddress") or "").lower() == search
                and (include_inactive or not row.get("inactive"))]

    def upsert(resource: Any, records: list[dict[str, Any]], reject: Any = None) -> list[dict[str, Any]]:
        saved = plain_upsert(resource, records, reject)
        if resource.table == "users" and built:
            with store.lock:
                for record in saved:
                    index(record)
        return saved

    store._matching, store.upsert = matching, upsert
