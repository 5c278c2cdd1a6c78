"""Pure mapping: database rows -> ``Wanted`` Halo assets (Lansweeper, SCCM, SQL imports) or users.

``map_rows(rows, settings, lookups, identity)`` takes the rows as the reader yields them (dicts keyed by
lower-case column name) and returns a ``Mapped``: the records, a sentence for every row it skipped, and
notes. Nothing half-known is written: a row without a key, with a key another row has too, or without a
type or site it can resolve is skipped and the reason named.

Assets: key = the key column (idfield / keyfield) in the Halo field the asset import identifier names;
type = type rules, else the type column by name, else the default type; site = the user's site
(use-users-site), else site rules, else the site column by name, else the default site; user = the user
column through the matching field (no user in the row clears the asset's users unless dontremoveusers);
field mappings -> asset fields (by field id) or Device fields (by name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from halointegrator.engine.model import Wanted
from halointegrator.errors import SourceError
from halointegrator.values import as_id, identity_key
from integrations.sql.fields import (
    ASSET_FIELDS, ASSET_TYPE_TARGETS, SITE_TARGETS, USER_FIELDS, USER_IDENTITY_FIELDS, USER_MATCH_ALIASES,
    USER_TARGETS, text_of,
)
from integrations.sql.lookups import AssetIdentity, HaloLookups, halo_value, key_text
from integrations.sql.settings import ASSETS, ImportSettings

EXAMPLES_SHOWN = 5


@dataclass
class Mapped:
    """What the rows say Halo should hold, and what was left out and why."""

    wanted: list[Wanted] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one sentence per skipped row or duplicated key
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    create_only_fields: frozenset[str] = frozenset()  # set on create, never updated (dontupdatesite, ...)
    allow_create: bool = True  # False for an update-only import
    # Keys of rows the source still has but that were skipped (unresolvable, or on several rows): their
    # Halo records are not the source's leavers, so the reader keeps them from being deactivated.
    skipped_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    """The settings' column names resolved once (lower case), with what each mapping writes."""

    key: str
    type_column: str = ""
    type_by_id: bool = False
    site_column: str = ""
    site_by_id: bool = False
    user_column: str = ""
    user_match: str = ""
    plain: tuple[tuple[str, str], ...] = ()  # (column, Halo field)
    by_field_id: tuple[tuple[str, int], ...] = ()  # (column, asset field id)
    label: str = ""
    notes: tuple[str, ...] = ()


def user_match_field(written: str) -> str:
    """Halo's usermatchingfield as a Users_List field ("" when it names none)."""
    return USER_MATCH_ALIASES.get(" ".join(written.casefold().replace("_", " ").split()), "") or \
        USER_MATCH_ALIASES.get(written.casefold(), "")


def resolve_columns(settings: ImportSettings, identity: AssetIdentity | None = None) -> Columns:
    """Which column feeds what; mappings this Integrator cannot write are noted and left out."""
    allowed = ASSET_FIELDS if settings.entity == ASSETS else USER_FIELDS
    taken = {identity.field} if identity and identity.field != "fields" else set()
    plain, by_id, notes = [], [], []
    special: dict[str, tuple[str, str]] = {}
    for mapping in settings.field_mappings:
        column, target = mapping.column.casefold(), mapping.halo_field.casefold()
        if settings.entity == ASSETS and target in {**ASSET_TYPE_TARGETS, **SITE_TARGETS, **USER_TARGETS}:
            special.setdefault(target, (column, target))
        elif mapping.field_id and settings.entity == ASSETS:
            by_id.append((column, mapping.field_id))
        elif target in {name.casefold(): name for name in allowed} and target not in taken:
            plain.append((column, next(n for n in allowed if n.casefold() == target)))
        else:
            notes.append(f"Field mapping '{mapping.column}' -> '{mapping.halo_field or mapping.field_id}' is left "
                         f"out: it is not a Halo {settings.entity} field this Integrator writes.")
    type_column, type_target = special.get("assettype_name") or special.get("assettype_id") or (settings.type_column.casefold(), "")
    site_column, site_target = special.get("site_name") or special.get("site_id") or (settings.site_column.casefold(), "")
    user_column, _ = special.get("user_email") or (settings.user_column.casefold(), "")
    match = "emailaddress" if "user_email" in special else user_match_field(settings.user_match_field or "login")
    if user_column and not match:
        notes.append(f"The user matching field '{settings.user_match_field}' is not a Halo user field this "
                     "Integrator can match on (email address, login, name, other1-5): users are not set.")
        user_column = ""
    label = next((column for column, name in plain if name in ("inventory_number", "name")), "")
    return Columns(settings.key_column.casefold(), type_column, type_target == "assettype_id", site_column,
                   site_target == "site_id", user_column, match, tuple(plain), tuple(by_id), label, tuple(notes))


def map_rows(rows: Iterable[Mapping[str, Any]], settings: ImportSettings, lookups: HaloLookups,
             identity: AssetIdentity | None = None) -> Mapped:
    """Every row as a Wanted record of ``settings.entity``; duplicates and unresolvable rows skipped."""
    columns = resolve_columns(settings, identity)
    mapper = _AssetRow(settings, columns, lookups, identity or AssetIdentity("key_field")) \
        if settings.entity == ASSETS else _UserRow(settings, columns, lookups)
    result = Mapped(notes=list(columns.notes) + list(settings.notes), allow_create=not settings.update_only,
                    create_only_fields=frozenset(mapper.create_only()))
    by_key: dict[str, list[int]] = {}
    spelled: dict[str, str] = {}  # the key as its first row spells it
    kept: dict[str, Wanted] = {}
    for number, row in enumerate(rows, start=1):
        result.rows = number
        key = key_text(row.get(columns.key))
        if not key:
            result.skipped.append(f"Row {number}: the key column '{settings.key_column}' is empty: skipped.")
            continue
        folded = identity_key(key)
        by_key.setdefault(folded, []).append(number)
        spelled.setdefault(folded, key)
        if len(by_key[folded]) > 1:
            kept.pop(folded, None)
            continue
        wanted, reason = mapper.map(row, key)
        if wanted is None:
            result.skipped.append(f"Row {number} ({settings.key_column} '{key}'): {reason}: skipped.")
            result.skipped_keys.append(key)
        else:
            kept[folded] = wanted
    for folded, numbers in by_key.items():
        if len(numbers) > 1:
            result.skipped_keys.append(spelled[folded])
            shown = ", ".join(map(str, numbers[:EXAMPLES_SHOWN])) + (", ..." if len(numbers) > EXAMPLES_SHOWN else "")
            result.skipped.append(f"{settings.key_column} '{spelled[folded]}' is on {len(numbers)} rows ({shown}): "
                                  "none of them is imported, as the Integrator cannot tell which is right; "
                                  "make the query return one row per key.")
    result.wanted = list(kept.values())
    result.notes += mapper.summary()
    return result


class _Row:
    """What asset and user rows share: plain fields, the site by name, examples of unmatched values."""

    def __init__(self, settings: ImportSettings, columns: Columns, lookups: HaloLookups) -> None:
        self.settings, self.columns, self.lookups = settings, columns, lookups
        self.unmatched_users: list[str] = []

    def plain_fields(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: halo_value(row.get(column)) for column, name in self.columns.plain}

    def site(self, row: Mapping[str, Any]) -> tuple[int | None, str]:
        value = text_of(halo_value(row.get(self.columns.site_column))) if self.columns.site_column else ""
        for rule in self.settings.site_rules:
            if _rule_matches(rule, row, value):
                return rule.site_id, ""
        if value:
            site_id, reason = ((as_id(value), "") if self.columns.site_by_id else self.lookups.site_named(value))
            if site_id and site_id in self.lookups.site_ids:
                return site_id, ""
            if not self.settings.default_site:
                return None, reason or f"site {value} does not exist in Halo"
        if self.settings.default_site:
            return self.settings.default_site, ""
        return None, "no site (the site column is empty and Halo names no default site)"

    def summary(self) -> list[str]:
        if not self.unmatched_users:
            return []
        shown = "; ".join(self.unmatched_users[:EXAMPLES_SHOWN])
        return [f"{len(self.unmatched_users)} row(s) name a user Halo does not have (e.g. {shown}): "
                "those assets keep the users they have."]


def _rule_matches(rule, row: Mapping[str, Any], site_value: str) -> bool:
    if rule.criteria:
        return all(identity_key(halo_value(row.get(column.casefold()))) == identity_key(value)
                   for column, value in rule.criteria)
    return bool(site_value) and identity_key(site_value) in {identity_key(name) for name in rule.names}


class _AssetRow(_Row):
    def __init__(self, settings: ImportSettings, columns: Columns, lookups: HaloLookups,
                 identity: AssetIdentity) -> None:
        super().__init__(settings, columns, lookups)
        self.identity = identity

    def create_only(self) -> set[str]:
        return ({"site_id"} if self.settings.dont_update_site else set()) | \
            ({"assettype_id"} if self.settings.dont_update_type else set())

    def map(self, row: Mapping[str, Any], key: str) -> tuple[Wanted | None, str]:
        type_id, reason = self.asset_type(row)
        if type_id is None:
            return None, reason
        user = self.user(row)
        site_id, reason = (as_id(user.get("site_id")), "") if user and self.settings.use_users_site \
            and as_id(user.get("site_id")) else self.site(row)
        if site_id is None:
            return None, reason
        fields: dict[str, Any] = {**self.plain_fields(row), "assettype_id": type_id, "site_id": site_id}
        asset_fields = [{"id": field_id, "value": halo_value(row.get(column))}
                        for column, field_id in self.columns.by_field_id if field_id != self.identity.field_id]
        if self.identity.field == "fields":
            asset_fields.append({"id": self.identity.field_id, "value": key})
        else:
            fields[self.identity.field] = key
        if asset_fields:
            fields["fields"] = sorted(asset_fields, key=lambda item: item["id"])
        if user:
            fields["users"] = [{"id": as_id(user.get("id"))}]
        elif user is None and not self.settings.dont_remove_users:
            fields["users"] = []
        name = text_of(fields.get("inventory_number")) or key
        return Wanted(key=key, label=name if name == key else f"{name} ({key})", fields=fields,
                      scope=self.settings.name), ""

    def asset_type(self, row: Mapping[str, Any]) -> tuple[int | None, str]:
        value = text_of(halo_value(row.get(self.columns.type_column))) if self.columns.type_column else ""
        folded = identity_key(value)
        for rule in self.settings.type_rules:
            if folded and folded in {identity_key(name) for name in rule.names}:
                return rule.type_id, ""
        reason = ""
        if value:
            type_id, reason = (as_id(value), "") if self.columns.type_by_id else self.lookups.type_named(value)
            if type_id and type_id in self.lookups.type_ids:
                return type_id, ""
        default = self.settings.default_type or (
            self.lookups.type_named(self.settings.default_type_name)[0] if self.settings.default_type_name else None)
        if default:
            return default, ""
        return None, (reason or "the type column is empty") + " and there is no default asset type"

    def user(self, row: Mapping[str, Any]) -> Mapping[str, Any] | bool | None:
        """The matched Halo user; None when the row names nobody; False when the name matches nobody."""
        if not self.columns.user_column:
            return False  # no user column: the asset's users are left alone
        value = key_text(row.get(self.columns.user_column))
        if not value:
            return None
        user, reason = self.lookups.user_matching(self.columns.user_match, value)
        if user is None:
            self.unmatched_users.append(reason)
            return False
        return user


class _UserRow(_Row):
    def __init__(self, settings: ImportSettings, columns: Columns, lookups: HaloLookups) -> None:
        super().__init__(settings, columns, lookups)
        self.identity = user_match_field(settings.identity_field or "emailaddress")
        if self.identity not in USER_IDENTITY_FIELDS:
            raise SourceError(f"SQL import '{settings.name}' matches users on '{settings.identity_field}', which "
                              "Halo's user list does not carry: choose email address, login, name or other1-5.")

    def create_only(self) -> set[str]:
        return {"site_id"} if self.settings.dont_update_site else set()

    def map(self, row: Mapping[str, Any], key: str) -> tuple[Wanted | None, str]:
        site_id, reason = self.site(row)
        if site_id is None:
            return None, reason
        fields = {**self.plain_fields(row), self.identity: key, "site_id": site_id}
        name = text_of(fields.get("name")) or " ".join(
            text_of(fields.get(part)) for part in ("firstname", "surname") if text_of(fields.get(part))) or key
        fields["name"] = name
        return Wanted(key=key, label=name if name == key else f"{name} ({key})", fields=fields,
                      scope=self.settings.name), ""
