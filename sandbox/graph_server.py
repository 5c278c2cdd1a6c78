"""A Microsoft login + Graph v1.0 emulator on 127.0.0.1 for the tests, the demo and the benchmark.

Serves `POST /{tenant}/oauth2/v2.0/token` (client credentials, AADSTS-style errors) and, with a bearer
token from it, `/v1.0/users` (+ `/{id}`, `/delta`), `/v1.0/groups` (`$filter=displayName eq '...'`),
`/v1.0/groups/{id}/members|transitiveMembers` and `/v1.0/deviceManagement/managedDevices`. Listings
page with opaque `$skiptoken`s; delta links carry a version number. Tests switch on throttling (429 +
Retry-After), failing pages, 403s per listing and expired delta links, and read request counts.

    with GraphServer(generate_tenant(users=50)) as graph:
        graph.url  # login root and Graph root alike
"""

from __future__ import annotations

import collections
import random
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from sandbox.graph_routes import GraphError, GraphHandler
from sandbox.graph_tenant import Tenant, generate_tenant, make_user, new_id

__all__ = ["GraphServer", "GraphError", "Tenant", "generate_tenant"]


class GraphServer:
    """A threaded HTTP server holding one tenant; every switch and mutation is thread-safe."""

    def __init__(self, tenant: Tenant | None = None, *, tenant_id: str = "sandbox-tenant",
                 client_id: str = "graph-app", client_secret: str = "graph-secret",
                 token_lifetime: int = 3600, delta_page_size: int = 200, clock: Callable[[], float] = time.time):
        self.tenant = tenant or generate_tenant(users=50, devices=10)
        self.tenant_id, self.client_id, self._secret = tenant_id, client_id, client_secret
        self.token_lifetime, self.delta_page_size, self.clock = token_lifetime, delta_page_size, clock
        self.lock = threading.RLock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.request_log: list[str] = []
        self._tokens: dict[str, float] = {}
        self._throttle_left, self._retry_after = 0, 1
        self._failing: dict[tuple[str, int], list[Any]] = {}  # (listing, page) -> [status, times left]
        self._denied: set[str] = set()
        self._delta_epoch = 0
        self._order: list[str] | None = None
        self._rng = random.Random()
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, port: int = 0) -> "GraphServer":
        server = self

        class Handler(GraphHandler):
            graph = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="graph-emulator").start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "GraphServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def login_url(self) -> str:
        return self.url

    @property
    def graph_url(self) -> str:
        return self.url

    # ---- switches for tests ----------------------------------------------------------------------
    def throttle(self, count: int, retry_after: int = 1) -> None:
        """The next `count` Graph requests answer 429 with Retry-After."""
        with self.lock:
            self._throttle_left, self._retry_after = count, retry_after

    def fail_page(self, listing: str, page: int, status: int = 503, times: int | None = None) -> None:
        """Page `page` (1-based) of `listing` ("users", "delta", "members", "devices", "groups") answers
        `status`, `times` times (None: until cleared with `clear_failures`)."""
        with self.lock:
            self._failing[(listing, page)] = [status, times]

    def deny(self, listing: str) -> None:
        """`listing` answers 403 Authorization_RequestDenied (a missing application permission)."""
        with self.lock:
            self._denied.add(listing)

    def clear_failures(self) -> None:
        with self.lock:
            self._failing.clear()
            self._denied.clear()
            self._throttle_left = 0

    def expire_delta_links(self) -> None:
        """Every delta link issued so far answers 410 Gone (syncStateNotFound)."""
        with self.lock:
            self._delta_epoch += 1

    def revoke_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    # ---- directory mutations ---------------------------------------------------------------------
    def change_users(self, count: int, prop: str = "jobTitle") -> list[str]:
        """Change `prop` of the first `count` users; returns their ids."""
        with self.lock:
            changed = list(self.tenant.users)[:count]
            for user_id in changed:
                user = self.tenant.users[user_id]
                user[prop] = f"{user.get(prop) or ''} (v{self.tenant.version + 1})".strip()
                self.tenant.touch(user_id)
            return changed

    def update_user(self, user_id: str, **props: Any) -> None:
        with self.lock:
            self.tenant.users[user_id].update(props)
            self.tenant.touch(user_id)

    def disable(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=False)

    def add_user(self, groups: tuple[str, ...] = (), **props: Any) -> str:
        """A new user (generated, `props` override), member of the named groups; returns its id."""
        with self.lock:
            user = make_user(random.Random(len(self.tenant.users) + self.tenant.version), 900000 + self.tenant.version,
                             self.tenant.domain) | props
            self.tenant.users[user["id"]] = user
            self.tenant.touch(user["id"])
            for name in groups:
                self.tenant.members[self.tenant.group_named(name)["id"]].append(user["id"])
            self._order = None
            return user["id"]

    def add_group(self, name: str, member_ids: list[str] = ()) -> str:
        with self.lock:
            group_id = new_id(random.Random(name))
            self.tenant.groups[group_id] = {"id": group_id, "displayName": name, "securityEnabled": True}
            self.tenant.members[group_id] = list(member_ids)
            return group_id

    def remove(self, user_id: str, reason: str = "deleted") -> None:
        """Delete a user ("deleted"), or soft-delete it ("changed"): delta reports it as @removed."""
        with self.lock:
            del self.tenant.users[user_id]
            for members in self.tenant.members.values():
                if user_id in members:
                    members.remove(user_id)
            self.tenant.version += 1
            self.tenant.user_versions.pop(user_id, None)
            self.tenant.tombstones[user_id] = (self.tenant.version, reason)
            self._order = None

    def user_order(self) -> list[str]:
        if self._order is None or len(self._order) != len(self.tenant.users):
            self._order = list(self.tenant.users)
        return self._order

    # ---- request handling (called by GraphHandler under the lock) ---------------------------------
    def issue_token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        if tenant not in (self.tenant_id, self.tenant.domain):
            raise GraphError(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.", {"aadsts": "90002"})
        if form.get("grant_type") != "client_credentials":
            raise GraphError(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type", {"aadsts": "70003"})
        if form.get("client_id") != self.client_id:
            raise GraphError(400, "unauthorized_client", f"AADSTS700016: Application with identifier "
                             f"'{form.get('client_id')}' was not found in the directory.", {"aadsts": "700016"})
        if not form.get("client_secret"):
            raise GraphError(401, "invalid_client", "AADSTS7000218: no client_secret", {"aadsts": "7000218"})
        if form.get("client_secret") != self._secret:
            raise GraphError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.",
                             {"aadsts": "7000215"})
        if not str(form.get("scope", "")).endswith("/.default"):
            raise GraphError(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. "
                             "Client credential flows must have a scope value with /.default suffixed.",
                             {"aadsts": "1002012"})
        token = f"tok-{new_id(self._rng)}"
        self._tokens[token] = self.clock() + self.token_lifetime
        return {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token}

    def authorise(self, header: str) -> None:
        token = header[7:] if header.startswith("Bearer ") else ""
        if self._tokens.get(token, 0) <= self.clock():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty, invalid or has expired.")

    def check_switches(self, listing: str, page: int) -> None:
        if self._throttle_left > 0:
            self._throttle_left -= 1
            raise GraphError(429, "TooManyRequests", "Too many requests", {"Retry-After": str(self._retry_after)})
        if listing in self._denied:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        failing = self._failing.get((listing, page))
        if failing and failing[1] != 0:
            if failing[1] is not None:
                failing[1] -= 1
            raise GraphError(failing[0], "serviceUnavailable" if failing[0] >= 500 else "BadRequest",
                             f"Injected failure on page {page} of {listing}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run the Microsoft login + Graph emulator in the foreground.")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--groups", type=int, default=3)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tenant-id", default="sandbox-tenant")
    parser.add_argument("--client-id", default="graph-app")
    parser.add_argument("--client-secret", default="graph-secret")
    args = parser.parse_args(argv)
    tenant = generate_tenant(users=args.users, groups=args.groups, devices=args.devices, seed=args.seed)
    server = GraphServer(tenant, tenant_id=args.tenant_id, client_id=args.client_id, client_secret=args.client_secret)
    server.start(args.port)
    print(f"Graph emulator: login and Graph at {server.url}  tenant {args.tenant_id!r}  app {args.client_id!r}; "
          f"groups {', '.join(g['displayName'] for g in tenant.groups.values())}. Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
