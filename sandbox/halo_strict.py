"""Strictness of the Halo sandbox: query parameters and body fields checked against Halo's OpenAPI subset.

sandbox/openapi_subset.json is generated from Halo's own OpenAPI document by
tools/extract_openapi_subset.py. Every rule here fails loudly (HTTP 400 naming the culprit) so a client
that invents a parameter or a field fails a test instead of failing at a customer.

Deliberate choices (real Halo, an ASP.NET app, is more lenient on some of them):
- query parameter names match case-insensitively (as ASP.NET binds them); values must parse as the
  declared type (int/integer, bool = true|false, List<int> = comma separated ints);
- body field names must match exactly (a wrong case is rejected with a hint), types must be compatible
  JSON types, null is always allowed, date-time and uuid strings must parse.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_SUBSET_PATH = Path(__file__).with_name("openapi_subset.json")


class StrictError(ValueError):
    """A request the real API would refuse (or that the sandbox refuses to guess about): HTTP 400."""


class OpenApiSubset:
    """Paths, query parameters and schemas the sandbox enforces; lookups are cached per schema."""

    def __init__(self, path: str | Path = DEFAULT_SUBSET_PATH) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.paths: dict[str, dict[str, Any]] = data["paths"]
        self.schemas: dict[str, dict[str, dict[str, Any]]] = data["schemas"]
        self.list_fields: dict[str, frozenset[str]] = {
            schema: frozenset(names) for schema, names in data.get("list_fields", {}).items()}
        self._template_by_lower = {template.lower(): template for template in self.paths}
        self._query_by_lower: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        self._lower_props: dict[str, dict[str, str]] = {}

    def template(self, lowered_path: str) -> str | None:
        """'/users/{id}' -> '/Users/{id}' (Halo path matching is case-insensitive)."""
        return self._template_by_lower.get(lowered_path)

    def methods(self, template: str) -> list[str]:
        return [m for m in self.paths[template] if m in ("get", "post", "put", "patch", "delete")]

    def tag_schema(self, template: str) -> str | None:
        return self.paths[template].get("schema")

    def body_item_schema(self, template: str) -> str | None:
        body = self.paths[template].get("post", {}).get("body", {})
        return body.get("items", {}).get("ref")

    def properties(self, schema: str) -> dict[str, dict[str, Any]]:
        return self.schemas[schema]

    def _query_map(self, template: str, method: str) -> dict[str, tuple[str, str]]:
        key = (template, method)
        if key not in self._query_by_lower:
            declared = self.paths[template].get(method, {}).get("query", {})
            self._query_by_lower[key] = {name.lower(): (name, kind) for name, kind in declared.items()}
        return self._query_by_lower[key]

    def check_query(self, template: str, method: str, params: dict[str, str]) -> dict[str, str]:
        """Raise StrictError for an undeclared parameter or a badly typed value; return params keyed by
        their declared names."""
        declared = self._query_map(template, method.lower())
        checked: dict[str, str] = {}
        for name, value in params.items():
            if name.lower() not in declared:
                raise StrictError(f"Unknown query parameter '{name}' for {method.upper()} /api{template}")
            real_name, kind = declared[name.lower()]
            if not query_value_ok(kind, value):
                raise StrictError(f"The value '{value}' is not valid for query parameter '{real_name}' "
                                  f"({kind}) of {method.upper()} /api{template}")
            checked[real_name] = value
        return checked

    def check_record(self, schema: str, record: Any, where: str, prefix: str = "") -> None:
        """Raise StrictError naming the first field that is not in the schema or has the wrong type.

        `where` names the record ("Users record [3]"); `prefix` is the path of a nested object.
        """
        if not isinstance(record, dict):
            what = f"field '{prefix}'" if prefix else "it"
            raise StrictError(f"{where}: {what} must be a JSON object ({schema}), got {json_type_name(record)}")
        properties = self.schemas[schema]
        for name, value in record.items():
            field_path = f"{prefix}.{name}" if prefix else str(name)
            prop = properties.get(name)
            if prop is None:
                raise StrictError(self._unknown_field_message(schema, name, field_path, where))
            self._check_value(prop, value, where, field_path)

    def _unknown_field_message(self, schema: str, name: str, field_path: str, where: str) -> str:
        if schema not in self._lower_props:
            self._lower_props[schema] = {prop.lower(): prop for prop in self.schemas[schema]}
        message = f"{where}: unknown field '{field_path}' (not a property of the {schema} schema)"
        near = self._lower_props[schema].get(str(name).lower())
        return message + (f"; did you mean '{near}'?" if near else "")

    def _check_value(self, prop: dict[str, Any], value: Any, where: str, field_path: str) -> None:
        if value is None or prop["type"] == "any":
            return
        kind = prop["type"]
        problem = f"{where}: field '{field_path}' must be"
        if not type_matches(kind, value):
            raise StrictError(f"{problem} {kind}, got {json_type_name(value)}")
        if "enum" in prop and value not in prop["enum"]:
            raise StrictError(f"{problem} one of {prop['enum']}, got {value!r}")
        if kind == "string" and prop.get("format") and not string_format_ok(prop["format"], value):
            raise StrictError(f"{problem} a {prop['format']} string, got {value!r}")
        if kind == "object" and "ref" in prop:
            self.check_record(prop["ref"], value, where, field_path)
        elif kind == "object" and "values" in prop:
            for key, item in value.items():
                self._check_value(prop["values"], item, where, f"{field_path}.{key}")
        elif kind == "array":
            for index, item in enumerate(value):
                self._check_value(prop["items"], item, where, f"{field_path}[{index}]")


def type_matches(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    expected = {"boolean": bool, "string": str, "object": dict, "array": list}[kind]
    return isinstance(value, expected)


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for python_type, name in ((int, "integer"), (float, "number"), (str, "string"), (dict, "object"),
                              (list, "array")):
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def string_format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date-time":
            datetime.fromisoformat(value)
        elif fmt == "uuid":
            uuid.UUID(value)
    except ValueError:
        return False
    return True


def query_value_ok(kind: str, value: str) -> bool:
    if kind in ("int", "integer"):
        return is_int_text(value)
    if kind == "bool":
        return value.lower() in ("true", "false")
    if kind == "List<int>":
        return all(is_int_text(part) for part in value.split(",") if part.strip())
    return True


def is_int_text(value: str) -> bool:
    text = value.strip()
    return text.lstrip("-").isdigit() and text.count("-") <= 1


def query_bool(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    return default if value is None else value.lower() == "true"


def query_int(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    return default if value is None else int(value)
