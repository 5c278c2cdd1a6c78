#!/usr/bin/env python3
"""Extract the part of Microsoft Graph v1.0's metadata that the Graph emulator enforces.

Reads Graph's v1.0 CSDL (`schemas/v1.0-Prod.csdl` of github.com/microsoftgraph/msgraph-metadata) and
writes sandbox/graph_subset.json: for the entity types `user`, `group` and `managedDevice` (with the
properties they inherit from `directoryObject` and `entity`), each property with its EDM type, the
navigation properties, and:

- `list_default`: managedDevice properties that a list read (`GET /deviceManagement/managedDevices`)
  answers with a default (null, 0 or "") whatever the device holds; only a single-device GET with
  `$select` returns the value. Derived from the metadata's own descriptions ("To retrieve actual values
  GET call needs to be made, with device id", "Individual get call ... is needed").
- `filter`, `single_read_only` and `default_select`: what the documentation says and the metadata does
  not (the published CSDL carries no per-property filter capabilities for directory objects). They
  are kept below as tables, each naming the documentation page it comes from, and are checked against
  the metadata: a documented name the metadata lacks stops the extraction.

The output is committed so the sandbox runs from the repository alone. Get the metadata with

    git -C <msgraph-metadata clone> show HEAD:schemas/v1.0-Prod.csdl > /tmp/v1.0-Prod.csdl
    python tools/extract_graph_subset.py /tmp/v1.0-Prod.csdl [--out sandbox/graph_subset.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("sandbox/graph_subset.json")
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NAMESPACE = "microsoft.graph"
ENTITY_TYPES = ("user", "group", "managedDevice")
DESCRIPTION = "Org.OData.Core.V1.Description"
# How the metadata describes a managedDevice property that list reads leave at its default.
SINGLE_GET_ONLY = re.compile(r"GET call needs to be made, with device id|Individual get call", re.IGNORECASE)
LIST_DEFAULT = re.compile(r"Default(?:,)? is (Null|0|an empty string)", re.IGNORECASE)

# https://learn.microsoft.com/graph/api/resources/user (v1.0), each property's "Supports $filter (...)".
USER_FILTERS = {
    "accountEnabled": "eq ne not in", "ageGroup": "eq ne not in", "businessPhones": "eq not ge le startsWith",
    "city": "eq ne not ge le in startsWith null", "companyName": "eq ne not ge le in startsWith null",
    "country": "eq ne not ge le in startsWith null", "createdDateTime": "eq ne not ge le in",
    "department": "eq ne not ge le in null", "displayName": "eq ne not ge le in startsWith null",
    "employeeHireDate": "eq ne not ge le in", "employeeId": "eq ne not ge le in startsWith null",
    "employeeType": "eq ne not ge le in startsWith", "externalUserState": "eq ne not in",
    "faxNumber": "eq ne not ge le in startsWith null", "givenName": "eq ne not ge le in startsWith null",
    "id": "eq ne not in", "jobTitle": "eq ne not ge le in startsWith null",
    "mail": "eq ne not ge le in startsWith endsWith null", "mailNickname": "eq ne not ge le in startsWith null",
    "mobilePhone": "eq ne not ge le in startsWith null", "officeLocation": "eq ne not ge le in startsWith null",
    "onPremisesImmutableId": "eq ne not ge le in", "onPremisesSamAccountName": "eq ne not ge le in startsWith",
    "onPremisesSecurityIdentifier": "eq null", "onPremisesSyncEnabled": "eq ne not in null",
    "onPremisesUserPrincipalName": "eq ne not ge le in startsWith", "otherMails": "eq not ge le in startsWith endsWith",
    "postalCode": "eq ne not ge le in startsWith null", "preferredLanguage": "eq ne not ge le in startsWith null",
    "proxyAddresses": "eq not ge le startsWith endsWith", "state": "eq ne not ge le in startsWith null",
    "streetAddress": "eq ne not ge le in startsWith null", "surname": "eq ne not ge le in startsWith null",
    "usageLocation": "eq ne not ge le in startsWith null", "userPrincipalName": "eq ne not ge le in startsWith endsWith",
    "userType": "eq ne not in null",
}
# https://learn.microsoft.com/graph/api/resources/group (v1.0).
GROUP_FILTERS = {
    "id": "eq ne not in", "displayName": "eq ne not ge le in startsWith null", "mail": "eq ne not ge le in startsWith null",
    "mailEnabled": "eq ne not", "mailNickname": "eq ne not ge le in startsWith null",
    "securityEnabled": "eq ne not in", "onPremisesSyncEnabled": "eq ne not in null",
}
# The Intune documentation names no filterable managedDevice property for v1.0: the emulator refuses
# every $filter on managedDevices (the harder case; the Integrator filters devices itself).
FILTERS = {"user": USER_FILTERS, "group": GROUP_FILTERS, "managedDevice": {}}
# https://learn.microsoft.com/graph/delta-query-overview ("Properties stored outside of the main data
# store"): these user properties live in SharePoint Online; a list read selecting one answers 501
# NotImplemented, only GET /users/{id} returns them.
USER_SINGLE_READ_ONLY = ("aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects",
                         "preferredName", "responsibilities", "schools", "skills", "mailboxSettings")
# https://learn.microsoft.com/graph/api/user-list ("By default, only a limited set of properties are
# returned"); the other types return every property when no $select is given.
USER_DEFAULT_SELECT = ("businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                       "officeLocation", "preferredLanguage", "surname", "userPrincipalName")
# https://learn.microsoft.com/graph/paging and each list page: (default page size, largest $top).
PAGE_SIZES = {"users": [100, 999], "groups": [100, 999], "members": [100, 999],
              # Intune documents no bounds; the emulator pages by 1000 and refuses a larger $top.
              "managedDevices": [1000, 1000],
              # users/delta: $top is not supported (delta-query-overview); Graph picks the page size, at
              # most 200 users (Prefer: odata.maxpagesize is capped there).
              "users/delta": [200, 200]}


def entity_types(root: ET.Element) -> dict[str, ET.Element]:
    schema = next(s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == NAMESPACE)
    return {element.get("Name"): element for element in schema.findall(f"{EDM}EntityType")}


def descriptions(root: ET.Element) -> dict[str, str]:
    """'type/property' -> the metadata's description of it."""
    out = {}
    for annotations in root.iter(f"{EDM}Annotations"):
        target = annotations.get("Target", "")
        if not target.startswith(NAMESPACE + "."):
            continue
        for annotation in annotations.findall(f"{EDM}Annotation"):
            if annotation.get("Term") == DESCRIPTION:
                out[target[len(NAMESPACE) + 1:]] = annotation.get("String", "")
    return out


def lineage(types: dict[str, ET.Element], name: str) -> list[ET.Element]:
    """The type and its base types, the type first."""
    chain = []
    while name:
        element = types[name]
        chain.append(element)
        name = (element.get("BaseType") or "").replace("graph.", "")
    return chain


def describe_type(types: dict[str, ET.Element], notes: dict[str, str], name: str) -> dict[str, Any]:
    properties, navigation, list_default = {}, [], {}
    for element in reversed(lineage(types, name)):
        for prop in element.findall(f"{EDM}Property"):
            properties[prop.get("Name")] = prop.get("Type").replace("graph.", "microsoft.graph.")
        navigation += [nav.get("Name") for nav in element.findall(f"{EDM}NavigationProperty")]
    for prop in properties:
        text = notes.get(f"{name}/{prop}", "")
        if SINGLE_GET_ONLY.search(text):
            found = LIST_DEFAULT.search(text)
            word = found.group(1).lower() if found else "null"
            list_default[prop] = {"null": None, "0": 0, "an empty string": ""}[word]
    return {"properties": dict(sorted(properties.items())), "navigation": sorted(set(navigation)),
            "list_default": list_default}


def documented(name: str, described: dict[str, Any]) -> dict[str, Any]:
    """The documentation's tables for one type, each name checked against the metadata."""
    out: dict[str, Any] = {"filter": {prop: ops.split() for prop, ops in sorted(FILTERS[name].items())}}
    if name == "user":
        out["single_read_only"] = sorted(USER_SINGLE_READ_ONLY)
        out["default_select"] = list(USER_DEFAULT_SELECT)
    for prop in [*out["filter"], *out.get("single_read_only", ()), *out.get("default_select", ())]:
        if prop not in described["properties"]:
            raise SystemExit(f"The documentation names {name}.{prop}, which the metadata does not have")
    return out


def extract(csdl: bytes) -> dict[str, Any]:
    root = ET.fromstring(csdl)
    types, notes = entity_types(root), descriptions(root)
    out_types = {}
    for name in ENTITY_TYPES:
        described = describe_type(types, notes, name)
        out_types[name] = {**described, **documented(name, described)}
    enum = next(e for e in root.iter(f"{EDM}EnumType") if e.get("Name") == "managementAgentType")
    return {
        "_comment": "Generated by tools/extract_graph_subset.py from Microsoft Graph's v1.0 metadata "
                    "(msgraph-metadata schemas/v1.0-Prod.csdl) and the documentation tables in that tool. Do not edit.",
        "source": {"file": "schemas/v1.0-Prod.csdl", "sha256": hashlib.sha256(csdl).hexdigest(),
                   "entity_types": len(types)},
        "page_sizes": PAGE_SIZES,
        "enums": {"managementAgentType": [member.get("Name") for member in enum.findall(f"{EDM}Member")]},
        "types": out_types,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csdl", help="Graph's v1.0 CSDL (schemas/v1.0-Prod.csdl of msgraph-metadata)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output file (relative to the repo root)")
    args = parser.parse_args(argv)
    subset = extract(Path(args.csdl).read_bytes())
    out = REPO_ROOT / args.out
    out.write_text(json.dumps(subset, indent=1) + "\n", encoding="utf-8")
    counts = ", ".join(f"{name} {len(t['properties'])}" for name, t in subset["types"].items())
    print(f"Wrote {out}: properties {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
