"""Halo API emulator on 127.0.0.1, strict against Halo's OpenAPI document.

    with HaloSandbox() as halo:            # default seed: sandbox/seed_halo.json
        requests.get(halo.url + "/api/AuthInfo")

`url` is the Web App URL; the API is url + "/api", the auth server url + "/auth". Tables live in
`state` (table -> {id: record}; hold `lock` while editing it from a test). Table names: users, clients,
sites, assets, assettypes, ldapconnections, azureadconnections, features, integrationerrors, agents.
Lists answer as Halo's document says: each item of GET /Users, /Asset, /Site carries only the fields of
its *_List schema (Users_List, Device_List, Site_List); GET /Users/{id} gives the whole record. A test
that needs whole-record lists asks for them: `HaloSandbox(list_shape="whole")`.
`requests` logs every request: method, path, params, status, kind (read/write/token/other) and `time`,
the sandbox clock (time.monotonic unless `clock=` is given) when the request arrived.

Run it for a demo:  python -m sandbox.halo_server --port 8099 --seed FILE
"""
from __future__ import annotations

import argparse
import functools
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from sandbox.halo_api import ApiSettings, HaloApi
from sandbox.halo_faults import HaloFaults
from sandbox.halo_http import RollingWindowLimiter, SandboxHTTPServer
from sandbox.halo_store import TABLE_SCHEMAS, HaloStore, records_of, table_name
from sandbox.halo_strict import DEFAULT_SUBSET_PATH, OpenApiSubset

DEFAULT_SEED_PATH = Path(__file__).with_name("seed_halo.json")
DEFAULT_AGENT = {"name": "Halo Integrator", "is_agent": True, "isapiagent": True}

Seed = dict[str, Any] | str | Path


class ManualClock:
    """A clock tests move by hand: pass it as `clock=` and call advance()."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.lru_cache(maxsize=4)
def load_subset(path: str) -> OpenApiSubset:
    return OpenApiSubset(path)


class HaloSandbox:
    """A real threaded HTTP server emulating the slice of Halo's API the Integrator uses."""

    def __init__(self, seed: Seed | None = None, *, client_id: str = "halo-integrator",
                 client_secret: str = "sandbox-secret", tenant: str | None = "sandbox",
                 rate_limit: int | None = 300, rate_window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, token_lifetime: int = 3600,
                 agent_is_admin: bool = True, app_version: str = "2.184.21",
                 host: str = "127.0.0.1", port: int = 0, subset_path: str | Path | None = None,
                 list_shape: str = "lean") -> None:
        self.client_id, self.tenant, self.host, self.port = client_id, tenant, host, port
        self.clock = clock  # stamps the request log's "time"
        self.subset = load_subset(str(subset_path or DEFAULT_SUBSET_PATH))
        self.store = HaloStore()
        self.state: dict[str, dict[int, dict[str, Any]]] = self.store.state
        self.lock = self.store.lock
        self.faults = HaloFaults()
        self.limiter = RollingWindowLimiter(rate_limit, rate_window, clock)
        settings = ApiSettings(client_id, client_secret, tenant, token_lifetime, app_version, clock, list_shape)
        self.api = HaloApi(self.store, self.subset, settings, lambda: self.faults.reject_predicate)
        self.requests: list[dict[str, Any]] = []
        self._requests_lock = threading.Lock()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.seed_from(DEFAULT_SEED_PATH if seed is None else seed)
        self._ensure_agent(agent_is_admin)

    def __repr__(self) -> str:  # never shows the client secret
        where = self.url if self._server else "not started"
        return f"<HaloSandbox {where} tenant={self.tenant!r} client_id={self.client_id!r}>"

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "HaloSandbox":
        if self._server is not None:
            return self
        self._server = SandboxHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.api.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"halo-sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "HaloSandbox":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Web App URL (http://127.0.0.1:PORT); valid once started."""
        if self._server is None and not self.port:
            raise RuntimeError("HaloSandbox.url is known once start() has bound a port")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def auth_url(self) -> str:
        return self.url + "/auth"

    @property
    def agent_id(self) -> int | None:
        """Id of the agent the client credentials log in as (answered by /api/Agent/me)."""
        return self.api.agent_id

    # ---- data ------------------------------------------------------------------------------------
    def seed_from(self, seed: Seed) -> None:
        """Add the records of a seed (dict or JSON file path: {table: [records]}); fields are checked."""
        data = json.loads(Path(seed).read_text(encoding="utf-8")) if isinstance(seed, (str, Path)) else seed
        for name, rows in data.items():
            if name.startswith("_"):
                continue  # comments
            self.add_many(name, records_of(rows))

    def add(self, table: str, record: dict[str, Any]) -> int:
        """Store a record as-is (schema-checked, no business rules); id assigned if missing. -> id."""
        return self.add_many(table, [record])[0]

    def add_many(self, table: str, records: Iterable[dict[str, Any]]) -> list[int]:
        table = table_name(table)
        schema = TABLE_SCHEMAS[table]
        records = list(records)
        for index, record in enumerate(records):
            self.subset.check_record(schema, record, f"{table}[{index}]")
        with self.lock:
            return [self.store.insert(table, record) for record in records]

    def get(self, table: str, record_id: int) -> dict[str, Any] | None:
        with self.lock:
            record = self.state[table_name(table)].get(record_id)
            return dict(record) if record is not None else None

    def records(self, table: str) -> list[dict[str, Any]]:
        """Copies of every record of a table, inactive ones included, in insertion order."""
        with self.lock:
            return [dict(record) for record in self.state[table_name(table)].values()]

    def _ensure_agent(self, is_admin: bool) -> None:
        with self.lock:
            agents = self.state["agents"]
            agent_id = next(iter(agents)) if agents else self.store.insert("agents", dict(DEFAULT_AGENT))
            agents[agent_id] = {**agents[agent_id], "is_admin": is_admin}
            self.api.agent_id = agent_id

    # ---- tokens, log, counters -------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Revoke every issued token: the next API call with one answers 401."""
        self.api.expire_tokens()

    def counts(self) -> Counter:
        """Requests so far by kind: read, write, token, other."""
        with self._requests_lock:
            return Counter(entry["kind"] for entry in self.requests)

    def clear_requests(self) -> None:
        """Forget the request log (the rate-limit window is kept; see reset_rate_limit)."""
        with self._requests_lock:
            self.requests.clear()

    def reset_rate_limit(self) -> None:
        self.limiter.reset()

    def _record(self, entry: dict[str, Any]) -> None:
        with self._requests_lock:
            self.requests.append(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Halo API sandbox in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--seed", help="seed JSON file (default sandbox/seed_halo.json)")
    parser.add_argument("--tenant", default="sandbox")
    parser.add_argument("--client-id", default="halo-integrator")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument("--rate-limit", type=int, default=300, help="requests per window; 0 disables")
    parser.add_argument("--rate-window", type=float, default=300.0, help="seconds")
    args = parser.parse_args(argv)
    sandbox = HaloSandbox(args.seed, client_id=args.client_id, client_secret=args.client_secret,
                          tenant=args.tenant, rate_limit=args.rate_limit or None, rate_window=args.rate_window,
                          host=args.host, port=args.port)
    with sandbox:
        print(f"Halo sandbox: Web App URL {sandbox.url}  API {sandbox.api_url}  Auth {sandbox.auth_url}  "
              f"tenant {args.tenant!r}  client id {args.client_id!r}. Ctrl-C stops it.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
