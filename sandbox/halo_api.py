"""Routing and semantics of the Halo sandbox: OAuth token, discovery, lists, single records, upserts.

Transport-free: `HaloApi.handle()` takes a parsed request and returns a `Reply`, so the HTTP layer
(sandbox/halo_http.py) only reads sockets, applies faults and the rate limit, and writes bytes.
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

from sandbox.halo_store import CONTROL, RESOURCE_BY_PATH, HaloStore, Resource
from sandbox.halo_strict import OpenApiSubset, StrictError

JSON_TYPE = "application/json; charset=utf-8"
BODY_TYPES = ("application/json", "text/json", "application/json-patch+json")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    records: int | None = None  # how many records a successful POST saved (for the request log)


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), JSON_TYPE, headers or {})


def halo_error(status: int, message: str, class_name: str = "System.Exception") -> Reply:
    """Halo's (ASP.NET) error shape: {"ClassName": ..., "Message": ...}."""
    return json_reply(status, {"ClassName": class_name, "Message": message})


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"error": error, "error_description": description}, headers)


@dataclass
class ApiSettings:
    client_id: str
    client_secret: str
    tenant: str | None
    token_lifetime: int
    app_version: str
    clock: Callable[[], float]
    list_shape: str = "lean"  # "lean": list items carry only their *_List schema's fields; "whole": every field


class HaloApi:
    """One instance's API. `base_url` is set by the server once it has a port."""

    def __init__(self, store: HaloStore, subset: OpenApiSubset, settings: ApiSettings,
                 reject: Callable[[], Callable[[dict[str, Any]], bool] | None]) -> None:
        self.store, self.subset, self.settings = store, subset, settings
        self.base_url = ""
        self.agent_id: int | None = None
        self._reject = reject
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()

    # ---- tokens ----------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self._tokens_lock:
            self._tokens.clear()

    def _token(self, method: str, params: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        if method != "POST":
            return oauth_error(405, "invalid_request", "The token endpoint accepts POST only")
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return oauth_error(400, "invalid_request", "The token request must be form-encoded")
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        settings = self.settings
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported")
        if settings.tenant and params.get("tenant") != settings.tenant:
            named = params.get("tenant")
            reason = f"Tenant '{named}' not found" if named else "Tenant not found: the tenant query parameter is required"
            return oauth_error(400, "invalid_request", reason)
        if not (secrets.compare_digest(form.get("client_id", ""), settings.client_id)
                and secrets.compare_digest(form.get("client_secret", ""), settings.client_secret)):
            return oauth_error(401, "invalid_client", "The client application is unknown or its secret is wrong")
        token = secrets.token_urlsafe(24)
        with self._tokens_lock:
            self._tokens[token] = settings.clock() + settings.token_lifetime
        return json_reply(200, {"access_token": token, "token_type": "Bearer",
                                "expires_in": settings.token_lifetime, "scope": form.get("scope") or "all"})

    def _bearer_problem(self, headers: dict[str, str]) -> Reply | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if scheme.lower() != "bearer" or not token.strip():
            return oauth_error(401, "invalid_token", "No bearer token", {"WWW-Authenticate": "Bearer"})
        with self._tokens_lock:
            expiry = self._tokens.get(token.strip())
        if expiry is None:
            return oauth_error(401, "invalid_token", "The access token is unknown or revoked", challenge)
        if self.settings.clock() >= expiry:
            return oauth_error(401, "invalid_token", "The access token has expired", challenge)
        return None

    # ---- dispatch --------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
               body: bytes) -> Reply:
        lowered = path.lower().rstrip("/")
        if lowered == "/auth/token":
            return self._token(method, params, headers, body)
        if not lowered.startswith("/api/"):
            return halo_error(404, f"Nothing at {path}: the API is under /api, the auth server under /auth")
        template, record_id = self._resolve(lowered[len("/api"):])
        if template is None:
            return halo_error(404, f"No route {method} {path} in the Halo sandbox")
        if template != "/AuthInfo":
            problem = self._bearer_problem(headers)
            if problem is not None:
                return problem
        if method == "DELETE":
            return halo_error(405, "DELETE is refused by the sandbox: the Integrator never deletes in Halo")
        if method.lower() not in self.subset.methods(template):
            return halo_error(405, f"{method} is not allowed on /api{template}")
        try:
            params = self.subset.check_query(template, method, params)
            return self._dispatch(method, template, record_id, params, headers, body)
        except StrictError as error:
            return halo_error(400, str(error), "System.ArgumentException")

    def _resolve(self, api_path: str) -> tuple[str | None, int | None]:
        template = self.subset.template(api_path)
        if template is not None:
            return template, None
        head, _, last = api_path.rpartition("/")
        if last.isdigit():
            return self.subset.template(head + "/{id}"), int(last)
        return None, None

    def _dispatch(self, method: str, template: str, record_id: int | None, params: dict[str, str],
                  headers: dict[str, str], body: bytes) -> Reply:
        if template == "/AuthInfo":
            return json_reply(200, {"auth_url": self.base_url + "/auth", "tenant_id": self.settings.tenant or ""})
        if template == "/Agent/me":
            return self._agent_me()
        if template == "/InstanceInfo":
            return json_reply(200, self._instance_info())
        if record_id is not None:
            return self._one(RESOURCE_BY_PATH[template[: -len("/{id}")]], record_id)
        resource = CONTROL if template == CONTROL.path else RESOURCE_BY_PATH[template]
        if method == "GET" and resource is CONTROL:
            return self._control()
        if method == "GET":
            return json_reply(200, self._lean(resource, self.store.list_response(resource, params)))
        return self._post(resource, headers, body)

    def _lean(self, resource: Resource, answer: Any) -> Any:
        """A list answer as Halo's document shapes it: each item holds only its *_List schema's fields."""
        fields = self.subset.list_fields.get(resource.schema)
        if self.settings.list_shape != "lean" or not fields:
            return answer
        items = answer if resource.list_key is None else answer[resource.list_key]
        lean = [{name: value for name, value in item.items() if name in fields} for item in items]
        return lean if resource.list_key is None else {**answer, resource.list_key: lean}

    def _control(self) -> Reply:
        with self.store.lock:
            record = next(iter(self.store.state[CONTROL.table].values()), None)
        return json_reply(200, record or {"id": 1})

    def _agent_me(self) -> Reply:
        with self.store.lock:
            agent = self.store.state["agents"].get(self.agent_id) if self.agent_id is not None else None
        if agent is None:
            return halo_error(404, "The agent this application logs in as does not exist")
        return json_reply(200, agent)

    def _instance_info(self) -> dict[str, Any]:
        # Field names from a client generated from Halo's 2026 spec (see reference/halo-api.md §5).
        with self.store.lock:
            agent_count = len(self.store.state["agents"])
        return {"app_version": self.settings.app_version, "database_version": self.settings.app_version,
                "app_name": "Halo Sandbox", "agent_url": self.base_url, "portal_url": self.base_url + "/portal",
                "auth_url": self.base_url + "/auth", "agent_count": agent_count,
                "licensed_agent_count": agent_count, "online_agent_count": 0}

    def _one(self, resource: Resource, record_id: int) -> Reply:
        with self.store.lock:
            record = self.store.state[resource.table].get(record_id)
        if record is None:
            return halo_error(404, f"{resource.schema} with id {record_id} not found",
                              "System.Collections.Generic.KeyNotFoundException")
        return json_reply(200, record)

    def _post(self, resource: Resource, headers: dict[str, str], body: bytes) -> Reply:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in BODY_TYPES and not content_type.endswith("+json"):
            return halo_error(415, f"Unsupported content type '{content_type}': send application/json")
        try:
            records = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StrictError(f"The request body is not valid JSON: {error}") from None
        if not isinstance(records, list):
            raise StrictError(f"POST /api{resource.path} takes a JSON array of {resource.schema} objects")
        if not records:
            raise StrictError(f"POST /api{resource.path} received an empty array")
        for index, record in enumerate(records):
            self.subset.check_record(resource.schema, record, f"{resource.schema} record [{index}]")
        saved = self.store.upsert(resource, records, self._reject())
        reply = json_reply(201, saved[0] if len(saved) == 1 else saved)
        reply.records = len(saved)
        return reply
