"""Reading one SQL connection for the core: its database completely, as the Wanted assets or users.

Finding the records in Halo's lean lists. An asset's key goes into the Halo field the asset import
identifier names (lookups.asset_identity): ``key_field`` (or ``key_field2``/``3``), which a Device_List
item shows, so the core finds the asset by it directly, status or not, the way Halo's own import
matches on the identifier; or one asset field by id inside ``fields`` (listed with
includeassetfields=true), found through ``recognise`` with a compare that reads that field. A user's
key is in the field ``entity_match_field`` names (default emailaddress), which Users_List shows.

Ownership (what a run may deactivate) is the core's sync status alone: the records this connection
created or updated. Halo records the status does not know are never claimed. Device.sqlimport_id and
lansweeper_id would say more, but no list item carries them (each would cost a whole-record read),
and SCCM has no such field; the only gap is a record that left the source while the status was lost.

Deactivation: Halo's document gives Lansweeper, SCCM and SQL imports no switch for records the source
no longer returns (other modules have one, e.g. datto_delete_devices), so nothing is deactivated
unless the connection's local setting ``deactivate_missing`` is ticked, and then under the core's
guards: the mass-deactivation guard, and an import that returned nobody (its scope, the import's
name) deactivates nothing. A row the source still returns but that was skipped (a type Halo lacks, a
key on two rows) keeps its Halo record as it is.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from halointegrator.engine.context import RunContext
from halointegrator.engine.model import EntityKind, Identity, KindRead, SourceRead, Wanted
from halointegrator.errors import Cancelled
from halointegrator.halo.resources import assets, sites, users
from halointegrator.values import as_id, flag, identity_key, rows_of
from integrations.sql import DEFAULT_MAX_ROWS, MAX_ROWS_SETTING, read_records
from integrations.sql.approval import approver
from integrations.sql.connections import settings_for
from integrations.sql.lookups import AssetIdentity, HaloLookups, asset_identity
from integrations.sql.mapping import resolve_columns, user_match_field
from integrations.sql.settings import ASSETS, ImportSettings

SITE_LIST = sites("name")  # for the look-ups only its list parameters matter (ctx.existing shares the read)
USER_LIST = users("emailaddress")
DEACTIVATE_SETTING = "deactivate_missing"


def read(source: str, ctx: RunContext, record: Mapping[str, Any]) -> SourceRead:
    """The connection's database read completely and mapped; raises SourceError before anything is written."""
    settings = settings_for(source, record, ctx.local_settings)
    lookups, identity = halo_lookups(ctx, settings)
    began = time.monotonic()
    mapped = read_records(settings, lookups, watch=_watcher(ctx, settings.name), approve=approver(ctx),
                          max_rows=as_id(ctx.local_settings.get(MAX_ROWS_SETTING)) or DEFAULT_MAX_ROWS)
    seconds = time.monotonic() - began
    kind = kind_of(settings, identity)
    kept = kept_as_they_are(ctx, kind, settings, identity, mapped.skipped_keys)
    notes = [read_note(mapped.rows, seconds), *mapped.notes, *mapped.skipped]
    if kept:
        notes.append(f"{len(kept)} {kind.name}(s) whose rows were skipped keep their Halo records as they are.")
    read_kind = KindRead(
        kind, mapped.wanted + kept, identity_rules(settings, identity),
        empty_scopes=frozenset() if mapped.wanted else frozenset({settings.name}),
        deactivate_missing=flag(ctx.local_settings.get(DEACTIVATE_SETTING)),
        create_missing=mapped.allow_create, create_only=mapped.create_only_fields,
        notes=tuple(notes), skipped=mapped.rows - len(mapped.wanted))
    return SourceRead([read_kind])


def halo_lookups(ctx: RunContext, settings: ImportSettings) -> tuple[HaloLookups, AssetIdentity | None]:
    """Halo's sites (always), asset types (asset imports) and users (when rows name users), and the asset
    identity the import identifier names. Lists the core reads anyway are shared through ctx.existing."""
    site_list = ctx.existing(SITE_LIST)
    if settings.entity != ASSETS:
        return HaloLookups(sites=site_list), None
    asset_types = asset_type_list(ctx.halo)
    identity = asset_identity(settings.identifier, asset_types)
    columns = resolve_columns(settings, identity)
    user_list = ctx.existing(USER_LIST) if columns.user_column or settings.use_users_site else []
    return HaloLookups(sites=site_list, asset_types=asset_types, users=user_list), identity


def asset_type_list(halo: Any) -> list[dict]:
    """GET /AssetType: a bare array (the document gives it no paging parameters)."""
    answer = halo.get("AssetType") or []
    if isinstance(answer, dict):
        answer = next((value for value in answer.values() if isinstance(value, list)), [])
    return rows_of(answer)


def kind_of(settings: ImportSettings, identity: AssetIdentity | None) -> EntityKind:
    if settings.entity == ASSETS:
        identity = identity or AssetIdentity("key_field")
        with_fields = identity.field == "fields" or bool(resolve_columns(settings, identity).by_field_id)
        return assets(identity.field, with_fields=with_fields)
    return users(user_match_field(settings.identity_field or "emailaddress"))


def identity_rules(settings: ImportSettings, identity: AssetIdentity | None) -> Identity:
    """How the core finds this import's records (see the module docstring); the scope is the import's name."""
    scope = settings.name
    if identity is not None and identity.field == "fields":
        return Identity(recognise=("fields",), compare=_asset_field_compare(identity), scope_of=lambda record: scope)
    return Identity(scope_of=lambda record: scope)


def _asset_field_compare(identity: AssetIdentity) -> Callable[[str, Any], str]:
    def compare(field_name: str, value: Any) -> str:
        if field_name == "fields":
            return identity_key(identity.value_of({"fields": value}))
        return identity_key(value)
    return compare


def identity_fields(kind: EntityKind, identity: AssetIdentity | None, key: str) -> dict[str, Any]:
    """The fields that say which record a key is, as the mapping writes them."""
    if identity is not None and identity.field == "fields":
        return {"fields": [{"id": identity.field_id, "value": key}]}
    return {kind.identity_field: key}


def kept_as_they_are(ctx: RunContext, kind: EntityKind, settings: ImportSettings, identity: AssetIdentity | None,
                     keys: list[str]) -> list[Wanted]:
    """Partial records for skipped rows whose Halo record this connection holds: left as they are, never
    deactivated for being skipped (a partial record never creates one)."""
    if not keys or ctx.status is None:
        return []
    live = ctx.status.live(kind)
    held = [key for key in dict.fromkeys(keys) if (entry := live.get(identity_key(key))) and not entry.gone]
    return [Wanted(key, key, identity_fields(kind, identity, key), settings.name, complete=False) for key in held]


def read_note(rows: int, seconds: float) -> str:
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 and rows else ""
    return f"Read {rows:,} row(s) from the database in {seconds:.2f} s{rate}."


def _watcher(ctx: RunContext, name: str) -> Callable[[int], None]:
    def watch(rows: int) -> None:
        if ctx.cancel.is_set():
            raise Cancelled(f"Stopped by the user while reading {name} from the database; nothing was written.")
        ctx.progress(f"Reading {name}: {rows:,} rows", 0, 0)
    return watch


__all__ = ["read", "halo_lookups", "kind_of", "identity_rules", "read_note", "DEACTIVATE_SETTING"]
