"""Halo's records -> ImportSettings: every field read by its name in Halo's OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halointegrator.errors import SourceError
from integrations.sql import LOCAL_SETTINGS, SOURCES
from integrations.sql import fields as names
from integrations.sql.connections import import_name
from integrations.sql.lookups import asset_identity
from integrations.sql.settings import (
    ASSETS, USERS, import_entity, lansweeper_kind, lansweeper_settings, sccm_settings, sql_import_settings,
)
from integrations.sql.queries import LANSWEEPER_QUERY, SCCM_QUERY

SUBSET = json.loads((Path(__file__).resolve().parent.parent / "sandbox" / "openapi_subset.json").read_text("utf-8"))
SCHEMAS, LIST_FIELDS = SUBSET["schemas"], SUBSET["list_fields"]


class Reads(dict):
    """A Halo record that remembers which of its fields the code under test read (into ``seen``)."""

    def __init__(self, data: dict, seen: set[str]) -> None:
        super().__init__(data)
        self.seen = seen

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)


def sql_import_fields_read() -> tuple[set[str], set[str]]:
    """The SQLImport fields and SQLImportField fields the import's settings read, over the branches that
    read more (no password in ``sisqlpassword``, an ``import_table``)."""
    record_seen: set[str] = set()
    row_seen: set[str] = set()
    record = {"id": 4, "name": "Scanners", "table": "Device", "sqlserver": "db", "sqldatabase": "W", "sqlusername": "r",
              "sql": "SELECT 1 AS k", "keyfield": "k", "defaultsite": 1,
              "fields": [Reads({"thirdpartyname": "k", "nhdname": "inventory_number"}, row_seen)]}
    for variant in (record, {**record, "sisqlpassword": "x"}, {**record, "import_table": 3}):
        try:
            sql_import_settings(Reads(variant, record_seen))
        except SourceError:
            pass  # a custom table is refused, after its name was read for the sentence
        import_name(Reads(variant, record_seen))
    return record_seen, row_seen


def test_every_field_name_read_or_written_is_in_halos_document() -> None:
    control, sql_import = SCHEMAS["Control"], SCHEMAS["SQLImport"]
    read = [n for pair in names.CONTROL_FIELDS.values() for n in pair if n]
    read += [n for pair in names.CONTROL_FLAGS.values() for group in pair for n in group]
    read += [*names.LANSWEEPER_CLOUD_FIELDS, *names.LANSWEEPER_KIND_FIELDS, names.GLOBAL_ASSET_IDENTIFIER]
    assert [n for n in read if n not in control] == []
    record_read, row_read = sql_import_fields_read()
    assert {"sql", "keyfield", "sqlserver", "fields", "import_table_name", "new_sql_password"} <= record_read
    assert sorted(record_read - set(sql_import)) == []
    assert row_read == {"thirdpartyname", "nhdname", "field_id", "is_site_field"} <= set(SCHEMAS["SQLImportField"])
    for source in SOURCES:
        schema = control if source.list_path == "Control" else sql_import
        for field in (source.enabled_field, source.lastsync_field, source.lasterror_field, *source.allowed_fields):
            assert field in schema, field
    plain = {"string", "integer", "number", "boolean"}
    assert [n for n in names.ASSET_FIELDS if SCHEMAS["Device"].get(n, {}).get("type") not in plain] == []
    assert [n for n in names.USER_FIELDS if SCHEMAS["Users"].get(n, {}).get("type") not in plain] == []
    # What recognises a record must be in the list item (Device_List, Users_List), not only the whole record.
    types = [{"id": 1, "keyfield_id": 11, "keyfield2_id": 12, "keyfield3_id": 13}]
    chosen = {asset_identity(identifier, types).field for identifier in (None, 11, 12, 13, 144)}
    assert chosen == {"key_field", "key_field2", "key_field3", "fields"} and chosen <= set(LIST_FIELDS["Device"])
    assert set(names.USER_IDENTITY_FIELDS) <= set(LIST_FIELDS["Users"])
    assert set(names.USER_MATCH_ALIASES.values()) <= set(LIST_FIELDS["Users"])
    for extra in ("users", "assettype_id", "site_id", "inactive"):
        assert extra in SCHEMAS["Device"]


def _control(**overrides) -> dict:
    record = {"id": 1, "halointegrator_lansweeper": True, "lansweeper_sqlserver": "lsdb01\\LANSWEEPER",
              "lansweeper_sql_port": "", "lansweeper_sqldatabase": "lansweeperdb", "lansweeper_sqlusername": "halo_ro",
              "lansweeper_new_sql_password": "from-halo", "lansweeper_sqldriver": "ODBC Driver 18 for SQL Server",
              "lansweeper_sql_timeout": 120, "lansweeper_query": "SELECT AssetID, Serial FROM tblAssets",
              "lansweeper_idfield": "Serial", "lansweeper_typefield": "AssetTypename", "lansweeper_sitefield": "Location",
              "lansweeper_userfield": "Username", "lansweeper_usermatchingfield": "Login",
              "lansweeper_assetimportidentifier": 12, "lansweeper_defaultsite": 3, "lansweeper_default_assettype": 7,
              "lansweeper_updateonly": False, "lansweeper_dont_update_site": True, "lansweeper_dontremoveusers": True,
              "lansweeper_use_users_site": True, "lansweeper_allowed_clientids_list": [{"value": "abc", "label": "A"}],
              "lansweeper_fieldmappings": [{"id": 1, "thirdpartyname": "AssetName", "nhdname": "inventory_number"},
                                           {"id": 2, "thirdpartyname": "Memory", "field_id": 144}],
              "lansweeper_mappings_xtype": [{"id": 1, "typeid": 9, "thirdpartyname": "Windows"}],
              "lansweeper_site_rules": [{"id": 1, "halo_id": 4, "third_party_name": "HQ", "seq": 1}]}
    return {**record, **overrides}


def test_lansweeper_settings_from_the_control_record() -> None:
    settings = lansweeper_settings(_control(), {"trust_server_certificate": True})
    target = settings.target
    assert (target.server, target.port, target.database, target.user, target.password) == (
        "lsdb01\\LANSWEEPER", None, "lansweeperdb", "halo_ro", "from-halo")
    assert target.query_timeout == 120 and target.trust_server_certificate
    assert (settings.key_column, settings.type_column, settings.site_column, settings.user_column) == (
        "Serial", "AssetTypename", "Location", "Username")
    assert (settings.identifier, settings.default_site, settings.default_type) == (12, 3, 7)
    assert settings.enabled and settings.allowed_client_ids == {"abc"} and settings.entity == ASSETS
    assert settings.dont_update_site and settings.dont_remove_users and settings.use_users_site
    assert not settings.update_only
    assert [(m.column, m.halo_field, m.field_id) for m in settings.field_mappings] == [
        ("AssetName", "inventory_number", None), ("Memory", "", 144)]
    assert [(r.type_id, r.names) for r in settings.type_rules] == [(9, ("Windows",))]
    assert [(r.site_id, r.names) for r in settings.site_rules] == [(4, ("HQ",))]
    assert "from-halo" not in repr(settings)


def test_the_local_password_is_used_when_halo_returns_none_and_the_global_identifier_fills_in() -> None:
    settings = lansweeper_settings(_control(lansweeper_new_sql_password="", lansweeper_assetimportidentifier=None,
                                            assetimportidentifier=31), {"password": "local-secret"})
    assert settings.target.password == "local-secret" and settings.identifier == 31


def test_without_a_query_the_default_query_and_key_fields_are_used() -> None:
    settings = lansweeper_settings(_control(lansweeper_query="", lansweeper_idfield="", lansweeper_fieldmappings=[]))
    assert settings.query == LANSWEEPER_QUERY and settings.key_column == "SerialNumber"
    assert [(m.column, m.halo_field) for m in settings.field_mappings] == [("AssetName", "inventory_number")]
    assert "default query" in settings.notes[0]


@pytest.mark.parametrize("record,ours,words", [
    (_control(), True, ""),
    (_control(lansweeper_sqlserver="", lansweeper_authorized=True, lansweeper_instance_type=2),
     False, "Lansweeper's cloud API"),
    (_control(lansweeper_sqlserver="", lansweeper_sitemappings=[{"id": 1, "halo_id": 3}]), False, "Lansweeper Sites"),
    (_control(lansweeper_sqlserver=""), False, "names no SQL Server"),
])
def test_only_the_on_premise_sql_kind_of_lansweeper_is_ours(record: dict, ours: bool, words: str) -> None:
    found, reason = lansweeper_kind(record)
    assert found is ours and words in reason
    if not ours:
        with pytest.raises(SourceError, match=words):
            lansweeper_settings(record)


def test_sccm_settings_from_the_control_record_with_a_udl_file_and_a_local_default_type() -> None:
    control = {"id": 1, "halointegrator_sccm": True, "sccm_udl": "C:\\Halo\\sccm.udl", "sccm_query": "",
               "sccm_defaultsite": 2, "sccm_updateonly": True, "sccm_allowed_clientids_list": [{"value": "x"}]}
    settings = sccm_settings(control, {"default_asset_type": "Workstation"})
    assert settings.udl_path == "C:\\Halo\\sccm.udl" and not settings.target.server
    assert settings.query == SCCM_QUERY and settings.key_column == "SerialNumber" and settings.user_column == "UserName"
    assert settings.default_type is None and settings.default_type_name == "Workstation"
    assert settings.update_only and settings.allowed_client_ids == {"x"} and settings.enabled
    with pytest.raises(SourceError, match="neither a SQL Server"):
        sccm_settings({"id": 1, "halointegrator_sccm": True})


def _sql_import(**overrides) -> dict:
    record = {"id": 5, "name": "HR people", "table": "Users", "integrator_enabled": True, "sqlserver": "hr01",
              "sql_port": "1433", "sqldatabase": "HR", "sqlusername": "", "sql_driver": "", "sql_timeout": 0,
              "sql": "SELECT Email, FullName, Office FROM People", "keyfield": "Email", "defaultsite": 9,
              "entity_match_field": "emailaddress", "halointegrator_allowed_clientids": "a, b;c",
              "fields": [{"id": 1, "thirdpartyname": "FullName", "nhdname": "name"},
                         {"id": 2, "thirdpartyname": "Office", "nhdname": "", "is_site_field": True}]}
    return {**record, **overrides}


def test_a_users_sql_import_with_windows_authentication() -> None:
    settings = sql_import_settings(_sql_import())
    assert settings.entity == USERS and settings.target.integrated and settings.target.port == 1433
    assert settings.site_column == "Office" and [m.column for m in settings.field_mappings] == ["FullName"]
    assert settings.allowed_client_ids == {"a", "b", "c"} and settings.connection_id == 5
    assert settings.target.query_timeout == 300  # 0 in Halo: the default


@pytest.mark.parametrize("table,import_table,entity_or_reason", [
    ("Device", None, ASSETS), ("assets", 0, ASSETS), ("USERS", None, USERS),
    ("Site", None, "imports sites"), ("Area", None, "imports clients"),
    ("Users", 12, "custom table"), ("Invoices", None, "names the table 'Invoices'"), ("", None, "names the table ''"),
])
def test_which_tables_an_sql_import_may_name(table, import_table, entity_or_reason) -> None:
    record = _sql_import(table=table, import_table=import_table, import_table_name="Licences" if import_table else None)
    if entity_or_reason in (ASSETS, USERS):
        assert import_entity(record) == entity_or_reason
    else:
        with pytest.raises(SourceError, match=entity_or_reason):
            import_entity(record)


def test_the_local_settings_are_declared_with_their_defaults() -> None:
    by_key = {setting.key: setting for setting in LOCAL_SETTINGS}
    assert by_key["password"].kind == "secret" and by_key["trust_server_certificate"].default is False
    assert {"odbc_driver", "default_asset_type", "allow_mass_deactivation"} <= set(by_key)
