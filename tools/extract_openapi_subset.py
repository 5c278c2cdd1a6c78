#!/usr/bin/env python3
"""Extract the part of Halo's OpenAPI document that the sandbox emulator enforces.

Reads Halo's OpenAPI v2 document (default ../shared/halo-openapi/halo-api-v2.json relative to the repo
root) and writes sandbox/openapi_subset.json: for each path the Integrator uses, each method's query
parameters (name -> declared type), the POST body item schema, the schema named by the path's tag, and
every component schema reachable from those (properties with their JSON types; nested $refs kept as
schema names).

The output is committed so the sandbox runs from the repository alone.

    python tools/extract_openapi_subset.py [SPEC] [--out sandbox/openapi_subset.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = Path("../shared/halo-openapi/halo-api-v2.json")
DEFAULT_OUT = Path("sandbox/openapi_subset.json")
LIST_FIELDS_MODULE = Path("halointegrator/halo/list_fields.py")  # what the client knows of list items
CLIENT_LIST_SCHEMAS = {"USERS": "Users", "ASSETS": "Device", "SITES": "Site"}

WANTED_PATHS = (
    "/AuthInfo", "/Agent/me", "/InstanceInfo",
    "/Users", "/Users/{id}", "/Client", "/Client/{id}", "/Site", "/Site/{id}",
    "/Asset", "/Asset/{id}", "/AssetType", "/AssetType/{id}",
    "/LDAPConnection", "/LDAPConnection/{id}", "/azureadconnection", "/azureadconnection/{id}",
    "/Features", "/IntegrationError",
    "/SQLImport", "/SQLImport/{id}", "/Control",
    "/PowerShellScript", "/PowerShellScript/{id}", "/PowerShellScriptCriteria",
    "/PowerShellScriptProcessing", "/PowerShellScriptProcessing/{id}",
)
LIST_SUFFIX = "_List"  # the document's schema of a list item: Users_List beside Users
PRIMITIVES = {"integer", "number", "boolean", "string", "object", "array"}


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def compact_type(spec: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """One property schema -> {"type": ..., "ref"|"items"|"values"|"format"|"enum": ...}.

    A $ref to an object schema stays a name; a $ref to an enum (integer) schema is inlined.
    """
    refs = [spec] if "$ref" in spec else []
    for wrapper in ("allOf", "oneOf", "anyOf"):
        refs += [part for part in spec.get(wrapper, []) if "$ref" in part]
    if refs:
        name = ref_name(refs[0]["$ref"])
        target = components.get(name, {})
        if target.get("type", "object") != "object":
            return compact_type(target, components)
        return {"type": "object", "ref": name}
    json_type = spec.get("type")
    if json_type not in PRIMITIVES:
        return {"type": "any"}
    out: dict[str, Any] = {"type": json_type}
    if json_type == "array":
        out["items"] = compact_type(spec.get("items") or {}, components)
    elif json_type == "object" and isinstance(spec.get("additionalProperties"), dict):
        out["values"] = compact_type(spec["additionalProperties"], components)
    elif json_type == "string" and spec.get("format") in ("date-time", "uuid"):
        out["format"] = spec["format"]
    if "enum" in spec:
        out["enum"] = spec["enum"]
    return out


def referenced_names(prop: dict[str, Any]) -> list[str]:
    names = [prop["ref"]] if "ref" in prop else []
    for key in ("items", "values"):
        if key in prop:
            names += referenced_names(prop[key])
    return names


def collect_schemas(components: dict[str, Any], roots: list[str]) -> dict[str, dict[str, Any]]:
    """The closure of the root schemas over $refs, each as {property: compact type}."""
    out: dict[str, dict[str, Any]] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in out or name not in components:
            continue
        properties = components[name].get("properties", {})
        out[name] = {prop: compact_type(spec, components) for prop, spec in properties.items()}
        for prop in out[name].values():
            pending += referenced_names(prop)
    return dict(sorted(out.items()))


def describe_operation(operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, str] = {}
    path_params: dict[str, str] = {}
    for param in operation.get("parameters", []):
        declared = (param.get("schema") or {}).get("type", "string")
        target = query if param.get("in") == "query" else path_params
        target.setdefault(param["name"], declared)  # the document repeats a few names
    out: dict[str, Any] = {"query": dict(sorted(query.items()))}
    if path_params:
        out["path"] = path_params
    content = (operation.get("requestBody") or {}).get("content", {})
    body = (content.get("application/json") or {}).get("schema")
    if body:
        out["body"] = compact_type(body, components)
        out["content_types"] = sorted(content)
    return out


def find_path(paths: dict[str, Any], wanted: str) -> str:
    by_lower = {key.lower(): key for key in paths}
    if wanted.lower() not in by_lower:
        raise SystemExit(f"Path {wanted} is not in the OpenAPI document")
    return by_lower[wanted.lower()]


def extract(document: dict[str, Any]) -> dict[str, Any]:
    components = document["components"]["schemas"]
    paths_out: dict[str, Any] = {}
    roots: list[str] = []
    for wanted in WANTED_PATHS:
        item = document["paths"][find_path(document["paths"], wanted)]
        entry: dict[str, Any] = {}
        for method, operation in sorted(item.items()):
            entry[method] = described = describe_operation(operation, components)
            roots += referenced_names(described.get("body", {}))
            tag = (operation.get("tags") or [None])[0]
            if tag in components:
                entry["schema"] = tag
                roots.append(tag)
        paths_out[wanted] = entry
    schemas = collect_schemas(components, roots)
    return {
        "_comment": "Generated by tools/extract_openapi_subset.py from Halo's OpenAPI document. Do not edit.",
        "source": {"title": document["info"].get("title"), "version": document["info"].get("version"),
                   "openapi": document.get("openapi"), "path_count": len(document["paths"])},
        "paths": paths_out,
        "list_fields": list_fields(components, schemas),
        "schemas": schemas,
    }


def list_fields(components: dict[str, Any], schemas: dict[str, Any]) -> dict[str, list[str]]:
    """For each schema with a list-item companion (Users -> Users_List), the fields a list item carries.

    Halo answers GET /Users with items of Users_List, not Users: only GET /Users/{id} gives the whole
    record. The sandbox answers lists with these fields alone.
    """
    out = {}
    for name in schemas:
        companion = components.get(name + LIST_SUFFIX)
        if companion:
            out[name] = sorted(companion.get("properties", {}))
    return dict(sorted(out.items()))


def write_subset(subset: dict[str, Any], out: Path) -> None:
    """One line per property keeps the file readable and its diffs small."""
    lines = ["{"]
    for key in ("_comment", "source", "paths", "list_fields"):
        lines.append(f" {json.dumps(key)}: {json.dumps(subset[key], indent=1)},".replace("\n", "\n "))
    lines.append(' "schemas": {')
    schema_items = list(subset["schemas"].items())
    for index, (name, properties) in enumerate(schema_items):
        lines.append(f"  {json.dumps(name)}: {{")
        props = [f"   {json.dumps(p)}: {json.dumps(t, sort_keys=True)}" for p, t in properties.items()]
        lines.append(",\n".join(props))
        lines.append("  }" + ("," if index < len(schema_items) - 1 else ""))
    lines += [" }", "}", ""]
    text = "\n".join(line for line in lines if line != "")
    json.loads(text)  # the hand-rolled layout must stay valid JSON
    out.write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(DEFAULT_SPEC),
                        help="Halo OpenAPI document (relative paths start at the repo root)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output file (relative to the repo root)")
    args = parser.parse_args(argv)
    spec_path, out_path = (REPO_ROOT / args.spec), (REPO_ROOT / args.out)
    document = json.loads(spec_path.read_text(encoding="utf-8"))
    subset = extract(document)
    write_subset(subset, out_path)
    if args.out == str(DEFAULT_OUT):
        write_list_fields(subset["list_fields"], REPO_ROOT / LIST_FIELDS_MODULE)
    print(f"Wrote {out_path}: {len(subset['paths'])} paths, {len(subset['schemas'])} schemas", file=sys.stderr)
    return 0


def list_fields_module(list_fields: dict[str, list[str]]) -> str:
    """The client's copy of the fields a list item carries (Users_List, Device_List, Site_List), as Python."""
    lines = ['"""The fields Halo\'s list answers carry per item, from its OpenAPI document\'s *_List schemas.',
             "", "Generated by tools/extract_openapi_subset.py; do not edit. A list item of /Users is a Users_List",
             "(not a Users): a field outside these sets is only in GET /Users/{id}.", '"""', ""]
    for constant, schema in CLIENT_LIST_SCHEMAS.items():
        names = list_fields[schema]
        lines.append(f"{constant} = frozenset({{  # {schema}_List")
        row = "   "
        for name in names:
            item = f' "{name}",'
            if len(row) + len(item) > 110:
                lines.append(row)
                row = "   "
            row += item
        lines += [row, "})", ""]
    return "\n".join(lines)


def write_list_fields(list_fields: dict[str, list[str]], out: Path) -> None:
    out.write_text(list_fields_module(list_fields), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
