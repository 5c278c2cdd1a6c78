"""The HTTP side of the Graph emulator: routing, paging tokens, $select/$top/$filter, error bodies.

`GraphHandler.graph` is the GraphServer (sandbox/graph_server.py) whose tenant and switches are used;
every request is handled under its lock.
"""

from __future__ import annotations

import base64
import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER_PROPERTIES = frozenset({
    "id", "accountEnabled", "ageGroup", "businessPhones", "city", "companyName", "country", "createdDateTime",
    "department", "displayName", "employeeHireDate", "employeeId", "employeeType", "externalUserState",
    "faxNumber", "givenName", "jobTitle", "mail", "mailNickname", "mobilePhone", "officeLocation",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesExtensionAttributes",
    "onPremisesImmutableId", "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "otherMails", "postalCode", "preferredLanguage", "proxyAddresses", "state",
    "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType"})
DEFAULT_USER_SELECT = ("businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                       "officeLocation", "preferredLanguage", "surname", "userPrincipalName")
FILTER_DISPLAY_NAME = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
MEMBERS_PATH = re.compile(r"^/v1\.0/groups/([^/]+)/(members|transitiveMembers)$")
USER_PATH = re.compile(r"^/v1\.0/users/([^/]+)$")


class GraphError(Exception):
    """An error the emulator answers with (Graph or AADSTS shaped)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise GraphError(400, "Request_BadRequest", "Invalid skip or delta token") from None


def select_of(query: dict[str, str], default: tuple[str, ...] | None = DEFAULT_USER_SELECT,
              known: frozenset[str] | None = USER_PROPERTIES) -> list[str] | None:
    """The $select list (id always included); None: every property (no $select, no default)."""
    if not query.get("$select"):
        return list(default) if default else None
    names = [name.strip() for name in query["$select"].split(",")]
    for name in names:
        if known and name not in known:
            raise GraphError(400, "Request_BadRequest",
                             f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")
    return names if "id" in names else ["id", *names]


def project(item: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    return dict(item) if names is None else {name: item.get(name) for name in names}


def top_of(query: dict[str, str], default: int, maximum: int) -> int:
    try:
        top = int(query.get("$top", default))
    except ValueError:
        raise GraphError(400, "Request_BadRequest", "Invalid $top") from None
    if not 1 <= top <= maximum:
        raise GraphError(400, "Request_BadRequest",
                         f"Invalid page size specified: '{top}'. Must be between 1 and {maximum} inclusive.")
    return top


class GraphHandler(BaseHTTPRequestHandler):
    graph: Any = None  # the GraphServer, set by a subclass per server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms each

    def log_message(self, *args: Any) -> None:  # quiet: tests read counts, not stderr
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        match = TOKEN_PATH.match(urlsplit(self.path).path)
        with self.graph.lock:
            self.graph.counts["token"] += 1
            self.graph.request_log.append(f"POST {urlsplit(self.path).path}")
            if not match:
                return self.send_json(404, {"error": {"code": "NotFound", "message": "No such endpoint"}})
            form = {key: values[0] for key, values in parse_qs(body).items()}
            try:
                self.send_json(200, self.graph.issue_token(match.group(1), form))
            except GraphError as error:
                codes = [int(error.headers["aadsts"])] if "aadsts" in error.headers else []
                self.send_json(error.status, {"error": error.code, "error_description": str(error),
                                              "error_codes": codes})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with self.graph.lock:
            self.graph.request_log.append(f"GET {self.path}")
            try:
                self.graph.authorise(self.headers.get("Authorization", ""))
                self.send_json(200, self.route(parts.path, query))
            except GraphError as error:
                self.send_json(error.status, {"error": {"code": error.code, "message": str(error)}},
                               {k: v for k, v in error.headers.items() if k != "aadsts"})

    def send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # ---- routes ----------------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if path == "/v1.0/users":
            return self.listing("users", path, query, self.users_in_order, select_of(query), 100, 999)
        if path == "/v1.0/users/delta":
            return self.delta(path, query)
        if path == "/v1.0/groups":
            return self.groups(path, query)
        if path == "/v1.0/deviceManagement/managedDevices":
            rows = lambda: list(self.graph.tenant.devices.values())  # noqa: E731
            return self.listing("devices", path, query, rows, select_of(query, None, None), 1000, 1000)
        if match := MEMBERS_PATH.match(path):
            return self.members(path, query, match.group(1))
        if match := USER_PATH.match(path):
            return self.one_user(match.group(1), query)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")

    def users_in_order(self) -> list[dict[str, Any]]:
        users = self.graph.tenant.users
        return [users[user_id] for user_id in self.graph.user_order()]

    def listing(self, name: str, path: str, query: dict[str, str], rows, select: list[str] | None,
                default_top: int, max_top: int) -> dict[str, Any]:
        """One page of a listing; the skiptoken carries offset, page size, $select and page number."""
        if "$skiptoken" in query:
            state = decode_token(query["$skiptoken"])
        else:
            state = {"o": 0, "t": top_of(query, default_top, max_top), "s": select, "p": 1}
        self.graph.counts[name] += 1
        self.graph.check_switches(name, state["p"])
        items = rows()
        offset, top = state["o"], state["t"]
        page = {"@odata.context": f"{self.graph.url}/v1.0/$metadata#{name}",
                "value": [project(item, state["s"]) for item in items[offset:offset + top]]}
        if offset + top < len(items):
            token = encode_token({**state, "o": offset + top, "p": state["p"] + 1})
            page["@odata.nextLink"] = f"{self.graph.url}{path}?$skiptoken={token}"
        return page

    def one_user(self, user_id: str, query: dict[str, str]) -> dict[str, Any]:
        self.graph.counts["user"] += 1
        self.graph.check_switches("user", 1)
        user = self.graph.tenant.users.get(user_id)
        if user is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{user_id}' does not exist.")
        return project(user, select_of(query))

    def groups(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        groups = list(self.graph.tenant.groups.values())
        if "$filter" in query:
            match = FILTER_DISPLAY_NAME.match(query["$filter"])
            if not match:
                raise GraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause.")
            wanted = match.group(1).replace("''", "'")
            groups = [group for group in groups if group["displayName"] == wanted]
        return self.listing("groups", path, query, lambda: groups, select_of(query, None, None), 100, 999)

    def members(self, path: str, query: dict[str, str], group_id: str) -> dict[str, Any]:
        if group_id not in self.graph.tenant.groups:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist.")
        users = self.graph.tenant.users

        def rows() -> list[dict[str, Any]]:
            return [{"@odata.type": "#microsoft.graph.user", **users[user_id]}
                    for user_id in self.graph.tenant.members[group_id] if user_id in users]
        select = select_of(query, ("id",))
        if select is not None:
            select = ["@odata.type", *select]
        return self.listing("members", path, query, rows, select, 100, 999)

    def delta(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        """Users delta: a round reports users changed in (since, upto] and tombstones, then a deltaLink."""
        tenant = self.graph.tenant
        if "$skiptoken" in query:
            state = decode_token(query["$skiptoken"])
        elif query.get("$deltatoken") == "latest":
            self.graph.counts["delta"] += 1
            self.graph.check_switches("delta", 1)
            return {"value": [], "@odata.deltaLink": self.delta_link(tenant.version, select_of(query))}
        elif "$deltatoken" in query:
            link = decode_token(query["$deltatoken"])
            if link["e"] != self.graph._delta_epoch:
                self.graph.counts["delta"] += 1
                raise GraphError(410, "syncStateNotFound", "The sync state is expired; start a new round.",
                                 {"Location": f"{self.graph.url}{path}"})
            state = {"since": link["v"], "upto": tenant.version, "o": 0, "s": link["s"], "p": 1}
        else:
            state = {"since": 0, "upto": tenant.version, "o": 0, "s": select_of(query), "p": 1}
        self.graph.counts["delta"] += 1
        self.graph.check_switches("delta", state["p"])
        changes = self.delta_changes(state["since"], state["upto"])
        offset, size = state["o"], self.graph.delta_page_size
        page: dict[str, Any] = {"value": [self.delta_item(key, state["s"]) for key in changes[offset:offset + size]]}
        if offset + size < len(changes):
            page["@odata.nextLink"] = f"{self.graph.url}{path}?$skiptoken={encode_token({**state, 'o': offset + size, 'p': state['p'] + 1})}"
        else:
            page["@odata.deltaLink"] = self.delta_link(state["upto"], state["s"])
        return page

    def delta_changes(self, since: int, upto: int) -> list[str]:
        tenant = self.graph.tenant
        versions = [(version, user_id) for user_id, version in tenant.user_versions.items() if since < version <= upto]
        if since:  # an initial round reports the users that exist, no tombstones
            versions += [(version, user_id) for user_id, (version, _) in tenant.tombstones.items()
                         if since < version <= upto]
        return [user_id for _, user_id in sorted(versions)]

    def delta_item(self, user_id: str, select: list[str]) -> dict[str, Any]:
        tenant = self.graph.tenant
        if user_id in tenant.users:
            return project(tenant.users[user_id], select)
        return {"id": user_id, "@removed": {"reason": tenant.tombstones[user_id][1]}}

    def delta_link(self, version: int, select: list[str] | None) -> str:
        token = encode_token({"v": version, "s": select, "e": self.graph._delta_epoch})
        return f"{self.graph.url}/v1.0/users/delta?$deltatoken={token}"
