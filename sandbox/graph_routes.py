"""The HTTP side of the Graph emulator: routing, paging tokens, $select/$top/$filter, error bodies.

`GraphHandler.graph` is the GraphServer (sandbox/graph_server.py) whose tenant and switches are used;
every request is handled under its lock. Query options are checked by sandbox/graph_schema.py against
Graph's v1.0 metadata; users delta lives in sandbox/graph_delta.py.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from sandbox.graph_delta import decode_token, delta_page, encode_token
from sandbox.graph_schema import SCHEMAS, GraphError, EntitySchema, error_body, page_size, parse_filter

TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
MEMBERS_PATH = re.compile(r"^/v1\.0/groups/([^/]+)/(members|transitiveMembers)$", re.IGNORECASE)
USER_PATH = re.compile(r"^/v1\.0/users/([^/]+)$", re.IGNORECASE)
DEVICE_PATH = re.compile(r"^/v1\.0/deviceManagement/managedDevices/([^/]+)$", re.IGNORECASE)
USER_TYPE = "#microsoft.graph.user"

__all__ = ["GraphError", "GraphHandler"]


class MemberSchema(EntitySchema):
    """$select on a directoryObject collection (members): any property of a user or a group."""

    def __init__(self) -> None:
        super().__init__("user")
        self.name = "directoryObject"
        self.by_folded = {**SCHEMAS["group"].by_folded, **SCHEMAS["user"].by_folded}
        self.default_select = ()


MEMBERS = MemberSchema()


def project(item: dict[str, Any], names: list[str] | None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """`names` of `item` (None: all); `defaults` replace what a list read does not return."""
    projected = dict(item) if names is None else {name: item.get(name) for name in names}
    for name, value in (defaults or {}).items():
        if name in projected:
            projected[name] = value
    return projected


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
                return self.send_json(404, error_body("NotFound", "No such endpoint"))
            form = {key: values[0] for key, values in parse_qs(body).items()}
            try:
                self.graph.check_throttle("token")
                self.send_json(200, self.graph.issue_token(match.group(1), form))
            except GraphError as error:
                if error.status == 429:  # the login service throttles with a bare text body
                    return self.send_text(429, "Too Many Requests", error.headers)
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
                self.send_json(error.status, error_body(error.code, str(error)),
                               {k: v for k, v in error.headers.items() if k != "aadsts"})

    def send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode(), "application/json", headers)

    def send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, text.encode(), "text/plain", {k: v for k, v in (headers or {}).items() if k != "aadsts"})

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # ---- routes ----------------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        lowered = path.lower()
        if lowered == "/v1.0/users":
            return self.users(path, query)
        if lowered == "/v1.0/users/delta":
            return delta_page(self.graph, path, query, self.headers.get("Prefer", ""))
        if lowered == "/v1.0/groups":
            return self.groups(path, query)
        if lowered == "/v1.0/devicemanagement/manageddevices":
            return self.devices(path, query)
        if match := MEMBERS_PATH.match(path):
            return self.members(path, query, match.group(1), match.group(2).lower() == "transitivemembers")
        if match := USER_PATH.match(path):
            return self.one_user(match.group(1), query)
        if match := DEVICE_PATH.match(path):
            return self.one_device(match.group(1), query)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")

    def listing(self, name: str, path: str, query: dict[str, str], rows: Callable[[], list[dict[str, Any]]],
                shape: Callable[[dict[str, Any], list[str] | None], dict[str, Any]], schema: EntitySchema,
                listing: str) -> dict[str, Any]:
        """One page of a listing; the skiptoken carries offset, page size, $select, $filter and page number."""
        if "$skiptoken" in query:
            state = decode_token(query["$skiptoken"])
        else:
            state = {"o": 0, "t": page_size(query, listing), "s": schema.select(query.get("$select"), listing=True),
                     "p": 1, "f": query.get("$filter")}
        self.graph.counts[name] += 1
        self.graph.check_switches(name, state["p"])
        items = rows()
        if state.get("f"):
            keep = parse_filter(state["f"], schema)
            items = [item for item in items if keep(item)]
        offset, top = state["o"], state["t"]
        page = {"@odata.context": f"{self.graph.url}/v1.0/$metadata#{name}",
                "value": [shape(item, state["s"]) for item in items[offset:offset + top]]}
        if offset + top < len(items):
            token = encode_token({**state, "o": offset + top, "p": state["p"] + 1})
            page["@odata.nextLink"] = f"{self.graph.url}{path}?$skiptoken={token}"
        return page

    def users(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        users = self.graph.tenant.users
        rows = lambda: [users[user_id] for user_id in self.graph.user_order()]  # noqa: E731
        return self.listing("users", path, query, rows, project, SCHEMAS["user"], "users")

    def one_user(self, user_id: str, query: dict[str, str]) -> dict[str, Any]:
        self.graph.counts["user"] += 1
        self.graph.check_switches("user", 1)
        select = SCHEMAS["user"].select(query.get("$select"), listing=False)
        user = self.graph.tenant.users.get(user_id)
        if user is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{user_id}' does not exist or one of its "
                             "queried reference-property objects are not present.")
        return project(user, select)

    def groups(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        groups = list(self.graph.tenant.groups.values())
        return self.listing("groups", path, query, lambda: groups, project, SCHEMAS["group"], "groups")

    def devices(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if "$filter" in query:  # the harder case: no filterable property is documented (graph_subset.json)
            parse_filter(query["$filter"], SCHEMAS["managedDevice"])
        defaults = SCHEMAS["managedDevice"].list_default
        rows = lambda: list(self.graph.tenant.devices.values())  # noqa: E731
        shape = lambda item, names: project(item, names, defaults)  # noqa: E731
        return self.listing("devices", path, query, rows, shape, SCHEMAS["managedDevice"], "managedDevices")

    def one_device(self, device_id: str, query: dict[str, str]) -> dict[str, Any]:
        """A single-device GET: the only read that fills ethernetMacAddress, physicalMemoryInBytes, ..."""
        self.graph.counts["device"] += 1
        self.graph.check_switches("device", 1)
        schema = SCHEMAS["managedDevice"]
        select = schema.select(query.get("$select"), listing=False)
        device = self.graph.tenant.devices.get(device_id)
        if device is None:
            raise GraphError(404, "ResourceNotFound", f"Resource not found for the segment '{device_id}'.")
        return project(device, select, None if query.get("$select") else schema.list_default)

    def members(self, path: str, query: dict[str, str], group_id: str, transitive: bool) -> dict[str, Any]:
        tenant = self.graph.tenant
        if group_id not in tenant.groups:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist or one of its "
                             "queried reference-property objects are not present.")

        def rows() -> list[dict[str, Any]]:
            ids = self.graph.transitive_member_ids(group_id) if transitive else self.graph.direct_member_ids(group_id)
            return [self.graph.directory_object(member_id) for member_id in ids]

        def shape(item: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
            # Every directoryObject in a collection says what it is; properties it lacks read as null.
            return {"@odata.type": item["@odata.type"], **project(item, names)}
        return self.listing("members", path, query, rows, shape, MEMBERS, "members")
