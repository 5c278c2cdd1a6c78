"""What the Graph emulator lets a request name: $select, $filter and $top checked against Graph v1.0.

The property lists come from sandbox/graph_subset.json, which tools/extract_graph_subset.py derives
from Microsoft's v1.0 metadata (msgraph-metadata, schemas/v1.0-Prod.csdl). A name Graph does not know,
a filter the documentation does not list, or a page size out of bounds answers 400 with Graph's
error body, as Graph does; nothing is silently ignored except where Graph itself ignores it.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

SUBSET_PATH = Path(__file__).with_name("graph_subset.json")
# $filter clauses the emulator evaluates: `prop eq 'x'`, `prop ne true`, `startswith(prop,'x')`, joined
# by `and` / `or` (no parentheses; `and` binds first, as in OData).
CLAUSE = re.compile(r"^\s*(?:(?P<prop>[A-Za-z]\w*)\s+(?P<op>eq|ne)\s+(?P<value>'(?:[^']|'')*'|true|false|null)"
                    r"|startswith\(\s*(?P<sprop>[A-Za-z]\w*)\s*,\s*(?P<svalue>'(?:[^']|'')*')\s*\))\s*$",
                    re.IGNORECASE)


class GraphError(Exception):
    """An error the emulator answers with (Graph or AADSTS shaped)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    """Graph's error shape, innerError included (clients must not depend on more than code/message)."""
    request_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": now, "request-id": request_id, "client-request-id": request_id}}}


@lru_cache(maxsize=1)
def subset() -> dict[str, Any]:
    return json.loads(SUBSET_PATH.read_text(encoding="utf-8"))


class EntitySchema:
    """One entity type of the subset: its properties (case-insensitive, as Graph reads them) and rules."""

    def __init__(self, name: str):
        spec = subset()["types"][name]
        self.name, self.spec = name, spec
        self.by_folded = {prop.casefold(): prop for prop in spec["properties"]}
        self.filters = {prop.casefold(): set(ops) for prop, ops in spec["filter"].items()}
        self.list_default: dict[str, Any] = spec["list_default"]
        self.single_read_only = frozenset(spec.get("single_read_only", ()))
        self.default_select = tuple(spec.get("default_select", ()))

    def canonical(self, name: str) -> str | None:
        return self.by_folded.get(name.strip().casefold())

    def select(self, text: str | None, *, listing: bool) -> list[str] | None:
        """The $select list in Graph's spelling, id first; None: every property (no $select, no default)."""
        if not text:
            return ["id", *[p for p in self.default_select if p != "id"]] if self.default_select else None
        names = []
        for raw in text.split(","):
            prop = self.canonical(raw)
            if prop is None:
                raise GraphError(400, "Request_BadRequest", "Parsing OData Select and Expand failed: Could not find "
                                 f"a property named '{raw.strip()}' on type 'microsoft.graph.{self.name}'.")
            if listing and prop in self.single_read_only:
                raise GraphError(501, "NotImplemented", "This operation target is not yet supported.")
            if prop not in names:
                names.append(prop)
        return names if "id" in names else ["id", *names]


SCHEMAS = {name: EntitySchema(name) for name in ("user", "group", "managedDevice")}


def page_size(query: dict[str, str], listing: str) -> int:
    """$top, or the listing's default page size; out of bounds answers 400."""
    default, maximum = subset()["page_sizes"][listing]
    if "$top" not in query:
        return default
    try:
        top = int(query["$top"])
    except ValueError:
        raise GraphError(400, "Request_BadRequest", f"Invalid $top value '{query['$top']}'.") from None
    if not 1 <= top <= maximum:
        raise GraphError(400, "Request_BadRequest",
                         f"Invalid page size specified: '{top}'. Must be between 1 and {maximum} inclusive.")
    return top


def literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return text[1:-1].replace("''", "'")


def parse_filter(text: str, schema: EntitySchema) -> Callable[[dict[str, Any]], bool]:
    """A predicate for a $filter the documentation lets `schema` take; anything else answers 400."""
    alternatives = []
    for branch in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        alternatives.append([_clause(part, schema) for part in re.split(r"\s+and\s+", branch, flags=re.IGNORECASE)])
    return lambda item: any(all(test(item) for test in tests) for tests in alternatives)


def _clause(text: str, schema: EntitySchema) -> Callable[[dict[str, Any]], bool]:
    match = CLAUSE.match(text)
    if not match:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
    raw, op = (match["prop"], match["op"].lower()) if match["prop"] else (match["sprop"], "startsWith")
    prop, value = schema.canonical(raw), literal(match["value"] or match["svalue"])
    allowed = schema.filters.get(raw.casefold(), set())
    if prop is None:
        raise GraphError(400, "Request_BadRequest", f"Could not find a property named '{raw}' on type "
                         f"'microsoft.graph.{schema.name}'.")
    if op not in allowed or (value is None and "null" not in allowed):
        raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified "
                         f"for property '{prop}' of resource '{schema.name[0].upper()}{schema.name[1:]}'.")
    if op == "startsWith":
        return lambda item: str(item.get(prop) or "").lower().startswith(str(value).lower())
    equal = (lambda item: _equal(item.get(prop), value))
    return equal if op == "eq" else (lambda item: not equal(item))


def _equal(held: Any, wanted: Any) -> bool:
    """Directory string comparisons are case-insensitive; a collection matches when any member does."""
    if isinstance(held, list):
        return any(_equal(member, wanted) for member in held)
    if isinstance(held, str) and isinstance(wanted, str):
        return held.casefold() == wanted.casefold()
    return held == wanted
