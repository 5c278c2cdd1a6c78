"""What the pure mapping needs from Halo, and how database values become Halo values.

``HaloLookups`` is built from three lean list reads the core makes before mapping (see README of this
package in integrations/sql/__init__.py): ``GET /Site`` (Site_List: id, name, inactive), ``GET
/AssetType`` (Xtype: id, name, keyfield_id, keyfield2_id, keyfield3_id) and ``GET /Users`` (Users_List:
id, site_id and the field users are matched on). Names are compared stripped and case-insensitively;
a name two Halo records share matches neither (the mapping says so rather than guess).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from halointegrator.errors import SourceError
from halointegrator.values import as_id, identity_key
from integrations.sql.fields import text_of

MAX_EXACT_INTEGER = 2 ** 53  # beyond this a JSON number loses digits: such values are sent as text


def halo_value(value: Any) -> Any:
    """A database value as JSON Halo takes: dates as ISO text, decimals as numbers, bytes as hex."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < MAX_EXACT_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value():
            return halo_value(int(value))
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00"  # Halo answers dates as date-times; same text, no rewrite
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex().upper()
    if isinstance(value, uuid.UUID):
        return str(value)
    text = str(value).replace("\0", "").strip()
    return text


def key_text(value: Any) -> str:
    """A key column's value as the text Halo's identity field holds ("" for NULL or blank)."""
    converted = halo_value(value)
    if converted is None or isinstance(converted, bool):
        return ""
    if isinstance(converted, float) and converted.is_integer():
        converted = int(converted)
    return str(converted).strip()


@dataclass(frozen=True)
class AssetIdentity:
    """The Halo asset field that holds the import's key: a list-visible slot, or an asset field by id."""

    field: str  # "key_field", "key_field2", "key_field3", "inventory_number", or "fields"
    field_id: int | None = None  # the asset field id when ``field == "fields"``

    def describe(self) -> str:
        return f"asset field {self.field_id}" if self.field == "fields" else self.field

    def value_of(self, asset: Mapping[str, Any]) -> str:
        """The identity as a Device_List item carries it (``fields`` needs includeassetfields=true)."""
        if self.field != "fields":
            return text_of(asset.get(self.field))
        for item in asset.get("fields") or []:
            if isinstance(item, dict) and as_id(item.get("id")) == self.field_id:
                return text_of(item.get("value"))
        return ""


_SLOTS = (("keyfield_id", "key_field"), ("keyfield2_id", "key_field2"), ("keyfield3_id", "key_field3"))


def asset_identity(identifier: int | None, asset_types: Iterable[Mapping[str, Any]]) -> AssetIdentity:
    """Which Halo asset field the asset import identifier names.

    The document types the identifier as an integer beside ``assetimportidentifier_guid`` / ``_name``,
    the shape of a reference to a Field (an asset field). An asset type's key fields are Field ids too
    (Xtype ``keyfield_id``, ``keyfield2_id``, ``keyfield3_id``), and a Device_List item carries their
    values as ``key_field``, ``key_field2``, ``key_field3``. So: no identifier -> ``key_field`` (each type's
    first key field, the serial number on Halo's standard types); the identifier is some type's n-th key
    field -> that slot; any other field id -> that asset field in ``fields`` (listed with
    includeassetfields=true). A field that is the first key of one type and the second of another
    cannot be one identity: refused.
    """
    if identifier is None:
        return AssetIdentity("key_field")
    slots = {slot for asset_type in asset_types for name, slot in _SLOTS
             if as_id(asset_type.get(name)) == identifier}
    if len(slots) > 1:
        raise SourceError(f"The asset import identifier (asset field {identifier}) is a different key field in "
                          f"different asset types ({', '.join(sorted(slots))}): make it the same key field of "
                          "every asset type in Halo, or choose another identifier.")
    return AssetIdentity(slots.pop()) if slots else AssetIdentity("fields", identifier)


def _index(records: Iterable[Mapping[str, Any]], field_name: str) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        key = identity_key(record.get(field_name))
        if key:
            out.setdefault(key, []).append(record)
    return out


@dataclass
class HaloLookups:
    """Halo's sites, asset types and users, found by name (or by the users' matching field)."""

    sites: list[Mapping[str, Any]] = field(default_factory=list)
    asset_types: list[Mapping[str, Any]] = field(default_factory=list)
    users: list[Mapping[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        active_sites = [site for site in self.sites if not site.get("inactive")]
        self.site_ids = frozenset(i for i in (as_id(s.get("id")) for s in self.sites) if i)
        self.type_ids = frozenset(i for i in (as_id(t.get("id")) for t in self.asset_types) if i)
        self._sites_by_name = _index(active_sites, "name")
        self._types_by_name = _index(self.asset_types, "name")
        self._users_by: dict[str, dict[str, list[Mapping[str, Any]]]] = {}

    def site_named(self, name: str) -> tuple[int | None, str]:
        return _one(self._sites_by_name, name, "site")

    def type_named(self, name: str) -> tuple[int | None, str]:
        return _one(self._types_by_name, name, "asset type")

    def user_matching(self, match_field: str, value: str) -> tuple[Mapping[str, Any] | None, str]:
        if match_field not in self._users_by:
            self._users_by[match_field] = _index((u for u in self.users if not u.get("inactive")), match_field)
        found = self._users_by[match_field].get(identity_key(value), [])
        if len(found) == 1:
            return found[0], ""
        if found:
            return None, f"{len(found)} Halo users have {match_field} '{value}'"
        return None, f"no active Halo user has {match_field} '{value}'"


def _one(index: dict[str, list[Mapping[str, Any]]], name: str, what: str) -> tuple[int | None, str]:
    found = index.get(identity_key(name), [])
    if len(found) == 1:
        return as_id(found[0].get("id")), ""
    if found:
        return None, f"{len(found)} Halo {what}s are called '{name}'"
    return None, f"no Halo {what} is called '{name}'"
