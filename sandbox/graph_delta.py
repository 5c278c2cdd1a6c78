"""`GET /v1.0/users/delta` as Microsoft documents it (delta-query-overview, user-delta, delta-query-users).

- A round without a token reports every user that exists (no removals); a round from a deltaLink
  reports what changed since that link, then a new deltaLink. `$deltatoken=latest` gives a link
  meaning "from now" and no users.
- Items omit properties that were never set. A created (or restored) user comes whole; an updated
  user comes as its id with "at least the properties that have been updated": the emulator sends
  only those (the harder reading, and what `Prefer: return=minimal` asks for) unless
  `delta_items="full"`. A user changed several times may appear once per change in one round.
- With `$select`, only changes to selected properties are tracked: a user whose change touched no
  selected property does not appear.
- Removed users come as `{"id", "@removed": {"reason": "deleted" | "changed"}}`.
- `$top` is not supported on users delta: Graph ignores it (the emulator does too, and notes the
  request in `GraphServer.unsupported`); Graph picks the page size, at most 200 users, and pages vary.
  `$filter` takes only `id eq '...'` (up to 50, joined by `or`); `$orderby`/`$expand` answer 400.
- Tokens are opaque; a deltaLink expires after seven days (or when a test expires them all) with
  410 Gone, `syncStateNotFound` and a Location to start again.
- Switches for tests (on GraphServer): held-back changes (replication lag), a replay of the previous
  round, empty pages that still carry a nextLink.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from typing import Any

from sandbox.graph_schema import SCHEMAS, GraphError
from sandbox.graph_tenant import CREATED, REMOVED, UPDATED, Change, Tenant

LINK_LIFETIME = 7 * 24 * 3600  # "For directory objects, the limit is seven days"
ID_FILTER = re.compile(r"^id\s+eq\s+'([^']+)'$", re.IGNORECASE)
MAX_ID_FILTERS = 50


def encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        state = None
    if not isinstance(state, dict):
        raise GraphError(400, "Request_BadRequest", "Invalid skip or delta token")
    return state


def delta_page(graph: Any, path: str, query: dict[str, str], prefer: str) -> dict[str, Any]:
    """One page of a users delta round (called under the server's lock)."""
    for option in ("$orderby", "$expand"):
        if option in query:
            raise GraphError(400, "Request_UnsupportedQuery", f"{option} is not supported on delta queries.")
    if "$top" in query:
        graph.unsupported.append(f"$top={query['$top']} on users/delta (not supported; ignored)")
    if "$skiptoken" in query:
        if "$select" in query:
            raise GraphError(400, "Request_BadRequest", "Delta queries with both $select and $skipToken are not supported.")
        state = decode_token(query["$skiptoken"])
    elif query.get("$deltatoken") == "latest":
        graph.counts["delta"] += 1
        graph.check_switches("delta", 1)
        select = SCHEMAS["user"].select(query.get("$select"), listing=True)
        return {"@odata.context": f"{graph.url}/v1.0/$metadata#users", "value": [],
                "@odata.deltaLink": delta_link(graph, graph.tenant.version, graph.tenant.version, select, [])}
    elif "$deltatoken" in query:
        state = round_from_link(graph, path, decode_token(query["$deltatoken"]))
    else:
        state = {"since": 0, "upto": visible_version(graph), "o": 0, "p": 1,
                 "s": SCHEMAS["user"].select(query.get("$select"), listing=True), "f": id_filter(query)}
    graph.counts["delta"] += 1
    graph.check_switches("delta", state["p"])
    return build_page(graph, path, state, minimal="return=minimal" in prefer.replace(" ", "").lower())


def id_filter(query: dict[str, str]) -> list[str]:
    if "$filter" not in query:
        return []
    ids = [ID_FILTER.match(part.strip()) for part in re.split(r"\s+or\s+", query["$filter"].strip(), flags=re.I)]
    if not all(ids) or len(ids) > MAX_ID_FILTERS:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
    return [match.group(1) for match in ids]


def round_from_link(graph: Any, path: str, link: dict[str, Any]) -> dict[str, Any]:
    expired = link.get("e") != graph.delta_epoch or graph.clock() - float(link.get("t", 0)) > LINK_LIFETIME
    if expired:
        graph.counts["delta"] += 1
        status, code = graph.delta_expiry
        raise GraphError(status, code, "The sync state is expired or was reset; start a new round of delta queries.",
                         {"Location": f"{graph.url}{path}"})
    since = int(link["v"])
    if graph.replay_next_round:  # Graph sends the previous round's changes again
        graph.replay_next_round = False
        since = int(link.get("pv", since))
    return {"since": since, "upto": max(since, visible_version(graph)), "o": 0, "s": link["s"], "p": 1,
            "f": link.get("f", [])}


def visible_version(graph: Any) -> int:
    """The newest version delta rounds may report: held-back (lagging) changes are not yet visible."""
    changes = graph.tenant.changes
    if graph.held_back <= 0 or not changes:
        return graph.tenant.version
    index = len(changes) - graph.held_back - 1
    return changes[index].version if index >= 0 else 0


def build_page(graph: Any, path: str, state: dict[str, Any], *, minimal: bool) -> dict[str, Any]:
    page: dict[str, Any] = {"@odata.context": f"{graph.url}/v1.0/$metadata#users"}
    if graph.empty_delta_pages > 0:  # "there are more pages ... even if the current response is empty"
        graph.empty_delta_pages -= 1
        page["value"] = []
        page["@odata.nextLink"] = skip_link(graph, path, {**state, "p": state["p"] + 1})
        return page
    items = round_items(graph, state["since"], state["upto"], state["s"], state.get("f") or [],
                        partial=minimal or graph.delta_items == "partial")
    offset, size = state["o"], page_length(graph, state["p"])
    page["value"] = items[offset:offset + size]
    if offset + size < len(items):
        page["@odata.nextLink"] = skip_link(graph, path, {**state, "o": offset + size, "p": state["p"] + 1})
    else:
        page["@odata.deltaLink"] = delta_link(graph, state["upto"], state["since"], state["s"], state.get("f") or [])
    return page


def page_length(graph: Any, page: int) -> int:
    """Graph chooses delta page sizes and they vary; the emulator cycles through full, 3/4 and 1/2."""
    size = graph.delta_page_size
    if not graph.vary_delta_pages:
        return size
    return max(1, (size, size * 3 // 4, size // 2)[(page - 1) % 3])


def skip_link(graph: Any, path: str, state: dict[str, Any]) -> str:
    return f"{graph.url}{path}?$skiptoken={encode_token(state)}"


def delta_link(graph: Any, version: int, since: int, select: list[str] | None, ids: list[str]) -> str:
    token = {"v": version, "pv": since, "s": select, "e": graph.delta_epoch, "t": graph.clock()}
    if ids:
        token["f"] = ids
    return f"{graph.url}/v1.0/users/delta?$deltatoken={encode_token(token)}"


def round_items(graph: Any, since: int, upto: int, select: list[str] | None, ids: list[str], *,
                partial: bool) -> list[dict[str, Any]]:
    """Every item of the round (since, upto], cached while the tenant does not change."""
    key = (since, upto, json.dumps(select), tuple(ids), partial, graph.tenant.version)
    if graph.delta_cache and graph.delta_cache[0] == key:
        return graph.delta_cache[1]
    tenant = graph.tenant
    versions = [change.version for change in tenant.changes]
    events = tenant.changes[bisect.bisect_right(versions, since):bisect.bisect_right(versions, upto)]
    tracked = set(select or ["id", *SCHEMAS["user"].default_select])
    by_user: dict[str, list[Change]] = {}
    for change in events:  # a change to properties not selected is not tracked at all
        if (not ids or change.user_id in ids) and (change.kind != UPDATED or change.props & tracked):
            by_user.setdefault(change.user_id, []).append(change)
    order = sorted(by_user, key=lambda user_id: by_user[user_id][-1].version)
    items = []
    for user_id in order:
        items += items_for(tenant, user_id, by_user[user_id], select, initial=since == 0, partial=partial)
    graph.delta_cache = (key, items)
    return items


def items_for(tenant: Tenant, user_id: str, changes: list[Change], select: list[str] | None, *,
              initial: bool, partial: bool) -> list[dict[str, Any]]:
    user = tenant.users.get(user_id)
    if user is None:  # removed since; an initial round reports only users that exist
        last = changes[-1]
        return [] if initial or last.kind != REMOVED else [{"id": user_id, "@removed": {"reason": last.reason}}]
    names = select or ["id", *SCHEMAS["user"].default_select]
    if initial or not partial or any(change.kind == CREATED for change in changes):
        return [whole(tenant, user, names)]
    items = []
    for change in changes:  # one item per change: the same user may appear several times in a round
        props = [name for name in names if name in change.props and name != "id"]
        if props:
            items.append({"id": user_id, **{name: user.get(name) for name in props}})
    return items


def whole(tenant: Tenant, user: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A user's standard representation in a delta round: properties never set are left out."""
    ever_set = tenant.ever_set.get(user["id"], set())
    return {name: user.get(name) for name in names if name == "id" or name in ever_set}
