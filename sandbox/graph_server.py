"""A Microsoft login + Graph v1.0 emulator on 127.0.0.1 for the tests, the demo and the benchmark.

Serves `POST /{tenant}/oauth2/v2.0/token` (client credentials, AADSTS-style errors) and, with a bearer
token from it, `/v1.0/users` (+ `/{id}`, `/delta`), `/v1.0/groups` (`$filter`), `/v1.0/groups/{id}/
members|transitiveMembers` (users, nested groups, devices, service principals, contacts) and
`/v1.0/deviceManagement/managedDevices` (+ `/{id}`). It answers as Graph documents: query options
checked against Graph's v1.0 metadata (sandbox/graph_subset.json), delta as in sandbox/graph_delta.py,
list reads of managed devices without the single-device-only properties. Listings page with opaque
`$skiptoken`s. Tests switch on throttling (429 with Retry-After in seconds or as an HTTP date, login
included), failing pages, 403s per listing, expired delta links, lag, replays, and read request counts.

    with GraphServer(generate_tenant(users=50)) as graph:
        graph.url  # login root and Graph root alike
"""

from __future__ import annotations

import collections
import email.utils
import random
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from sandbox.graph_routes import USER_TYPE, GraphError, GraphHandler
from sandbox.graph_tenant import CREATED, Tenant, generate_tenant, make_user, new_id

__all__ = ["GraphServer", "GraphError", "Tenant", "generate_tenant"]
LISTINGS = ("users", "user", "delta", "groups", "members", "devices", "device", "token")


class GraphServer:
    """A threaded HTTP server holding one tenant; every switch and mutation is thread-safe."""

    def __init__(self, tenant: Tenant | None = None, *, tenant_id: str = "sandbox-tenant",
                 client_id: str = "graph-app", client_secret: str = "graph-secret",
                 token_lifetime: int = 3600, delta_page_size: int = 200, delta_items: str = "partial",
                 vary_delta_pages: bool = True, clock: Callable[[], float] = time.time):
        self.tenant = tenant or generate_tenant(users=50, devices=10)
        self.tenant_id, self.client_id, self._secret = tenant_id, client_id, client_secret
        self.token_lifetime, self.clock = token_lifetime, clock
        self.delta_page_size, self.delta_items, self.vary_delta_pages = delta_page_size, delta_items, vary_delta_pages
        self.lock = threading.RLock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.request_log: list[str] = []
        self.unsupported: list[str] = []  # query options Graph ignores that a client sent anyway
        self._tokens: dict[str, float] = {}
        self._throttle: dict[str, Any] = {"left": 0}
        self._failing: dict[tuple[str, int], list[Any]] = {}  # (listing, page) -> [status, times left]
        self._denied: set[str] = set()
        self.delta_epoch, self.delta_expiry = 0, (410, "syncStateNotFound")
        self.held_back, self.replay_next_round, self.empty_delta_pages = 0, False, 0
        self.delta_cache: tuple[Any, list] | None = None
        self._order: list[str] | None = None
        self._deleted_items: dict[str, tuple[dict[str, Any], list[str]]] = {}
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
    def throttle(self, count: int, retry_after: int = 1, *, as_date: bool = False,
                 only: tuple[str, ...] = ()) -> None:
        """The next `count` requests (login included; `only` names listings, e.g. ("token",)) answer 429
        with Retry-After `retry_after` seconds, or that moment as an HTTP date."""
        with self.lock:
            self._throttle = {"left": count, "after": retry_after, "as_date": as_date, "only": set(only)}

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
            self._throttle = {"left": 0}

    def expire_delta_links(self, status: int = 410, code: str = "syncStateNotFound") -> None:
        """Every delta link issued so far answers `status` with `code` (410 Gone, syncStateNotFound)."""
        with self.lock:
            self.delta_epoch += 1
            self.delta_expiry = (status, code)

    def hold_back(self, changes: int) -> None:
        """Replication lag: the newest `changes` changes are not yet in delta rounds (0 releases them)."""
        with self.lock:
            self.held_back = changes

    def replay(self) -> None:
        """The next round from a delta link also reports the changes of the round before it again."""
        with self.lock:
            self.replay_next_round = True

    def empty_pages(self, count: int) -> None:
        """The next `count` delta pages carry no items, only a nextLink."""
        with self.lock:
            self.empty_delta_pages = count

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
                self.tenant.updated(user_id, {prop: f"{user.get(prop) or ''} (v{self.tenant.version + 1})".strip()})
            return changed

    def update_user(self, user_id: str, **props: Any) -> None:
        with self.lock:
            self.tenant.updated(user_id, props)

    def disable(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=False)

    def add_user(self, groups: tuple[str, ...] = (), **props: Any) -> str:
        """A new user (generated, `props` override), member of the named groups; returns its id."""
        with self.lock:
            user = make_user(random.Random(len(self.tenant.users) + self.tenant.version), 900000 + self.tenant.version,
                             self.tenant.domain) | props
            self.tenant.created(user)
            for name in groups:
                self.tenant.members[self.tenant.group_named(name)["id"]].append(user["id"])
            self._order = None
            return user["id"]

    def add_group(self, name: str, member_ids: list[str] = ()) -> str:
        """A group whose direct members are `member_ids` (users, groups or other directory objects)."""
        with self.lock:
            group_id = new_id(random.Random(name))
            self.tenant.groups[group_id] = {"id": group_id, "displayName": name, "securityEnabled": True}
            self.tenant.members[group_id] = list(member_ids)
            return group_id

    def remove(self, user_id: str, reason: str = "deleted") -> None:
        """Delete a user ("deleted"), or soft-delete it ("changed"): delta reports it as @removed."""
        with self.lock:
            user = self.tenant.users[user_id]
            groups = [group_id for group_id, members in self.tenant.members.items() if user_id in members]
            self.tenant.removed(user_id, reason)
            if reason == "changed":  # kept in deletedItems with its memberships, which a restore brings back
                self._deleted_items[user_id] = (user, groups)
            self._order = None

    def restore(self, user_id: str) -> None:
        """Bring back a soft-deleted user (from deletedItems): delta reports it whole again."""
        with self.lock:
            user, groups = self._deleted_items.pop(user_id)
            self.tenant.users[user_id] = user
            for group_id in groups:
                self.tenant.members[group_id].append(user_id)
            self.tenant.record(user_id, CREATED)
            self._order = None

    def user_order(self) -> list[str]:
        if self._order is None or len(self._order) != len(self.tenant.users):
            self._order = list(self.tenant.users)
        return self._order

    def direct_member_ids(self, group_id: str) -> list[str]:
        """What /members lists. Graph v1.0's known issue: service principals are left out there."""
        return [member for member in self.tenant.members.get(group_id, [])
                if self.tenant.odata_type(member) not in ("", "#microsoft.graph.servicePrincipal")]

    def transitive_member_ids(self, group_id: str) -> list[str]:
        """What /transitiveMembers lists: every member of the group and of its nested groups (the nested
        groups themselves included), each once, whatever their kind."""
        seen, order, pending = {group_id}, [], list(reversed(self.tenant.members.get(group_id, [])))
        while pending:
            member = pending.pop()
            if member in seen or not self.tenant.odata_type(member):
                continue
            seen.add(member)
            order.append(member)
            if member in self.tenant.groups:
                pending += reversed(self.tenant.members.get(member, []))
        return order

    def directory_object(self, object_id: str) -> dict[str, Any]:
        tenant = self.tenant
        if object_id in tenant.users:
            return {"@odata.type": USER_TYPE, **tenant.users[object_id]}
        if object_id in tenant.groups:
            return {"@odata.type": "#microsoft.graph.group", **tenant.groups[object_id]}
        return dict(tenant.objects[object_id])

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

    def check_throttle(self, listing: str) -> None:
        throttle = self._throttle
        if throttle["left"] <= 0 or (throttle["only"] and listing not in throttle["only"]):
            return
        throttle["left"] -= 1
        after = throttle["after"]
        value = email.utils.formatdate(self.clock() + after, usegmt=True) if throttle["as_date"] else str(after)
        raise GraphError(429, "TooManyRequests", "Too many requests from Identifier:sandbox under category:"
                         "throttle.aad.ags.directory. Please try again later.", {"Retry-After": value})

    def check_switches(self, listing: str, page: int) -> None:
        self.check_throttle(listing)
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
