"""Pure mapping of database rows to Wanted assets and users, in tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid

import pytest

from halointegrator.errors import SourceError
from integrations.sql.lookups import AssetIdentity, HaloLookups, asset_identity, halo_value, key_text
from integrations.sql.mapping import map_rows, resolve_columns
from integrations.sql.settings import ASSETS, USERS, FieldMapping, ImportSettings, SiteRule, TypeRule
from integrations.sql.connstr import DbTarget

LOOKUPS = HaloLookups(
    sites=[{"id": 1, "name": "London"}, {"id": 2, "name": "Zürich"}, {"id": 3, "name": "Paris", "client_id": 1},
           {"id": 4, "name": "Paris", "client_id": 2}, {"id": 5, "name": "Closed", "inactive": True}],
    asset_types=[{"id": 10, "name": "Workstation", "keyfield_id": 101}, {"id": 11, "name": "Server", "keyfield_id": 101,
                                                                          "keyfield2_id": 102}],
    users=[{"id": 100, "login": "ada", "emailaddress": "ada@example.com", "site_id": 2},
           {"id": 101, "login": "bob", "emailaddress": "bob@example.com", "site_id": 1},
           {"id": 102, "login": "twin", "site_id": 1}, {"id": 103, "login": "TWIN", "site_id": 1},
           {"id": 104, "login": "gone", "inactive": True, "site_id": 1}],
)


def assets(**overrides) -> ImportSettings:
    base = ImportSettings(
        source="lansweeper", connection_id=1, name="Lansweeper", entity=ASSETS, enabled=True,
        allowed_client_ids=frozenset(), target=DbTarget(server="s", database="d"), udl_path="", query="SELECT 1",
        key_column="Serial", type_column="Type", site_column="Site", user_column="User", user_match_field="login",
        default_site=1, default_type=10,
        field_mappings=(FieldMapping("Name", "inventory_number"), FieldMapping("RAM", field_id=144)))
    return dataclasses.replace(base, **overrides)


def row(**values) -> dict:
    base = {"serial": "SN1", "type": "Workstation", "site": "Zürich", "user": "ada", "name": "PC-1", "ram": 16}
    return {**base, **{key.lower(): value for key, value in values.items()}}


def one(rows, settings=None, lookups=LOOKUPS, identity=None):
    mapped = map_rows(rows, settings or assets(), lookups, identity)
    return mapped


def test_a_row_becomes_an_asset_keyed_by_its_serial() -> None:
    mapped = one([row()])
    assert mapped.skipped == [] and mapped.rows == 1
    wanted = mapped.wanted[0]
    assert (wanted.key, wanted.label, wanted.scope) == ("SN1", "PC-1 (SN1)", "Lansweeper")
    assert wanted.fields == {"inventory_number": "PC-1", "key_field": "SN1", "assettype_id": 10, "site_id": 2, "fields": [{"id": 144, "value": 16}], "users": [{"id": 100}]}


@pytest.mark.parametrize("values,field,expected", [
    ({"type": "server"}, "assettype_id", 11),  # by name, case-insensitive
    ({"type": "Toaster"}, "assettype_id", 10),  # unknown: the default type
    ({"type": None}, "assettype_id", 10),
    ({"site": "london "}, "site_id", 1),
    ({"site": "Atlantis"}, "site_id", 1),  # unknown: the default site
    ({"site": "Paris"}, "site_id", 1),  # two Halo sites called Paris: neither is guessed
    ({"site": "Closed"}, "site_id", 1),  # inactive sites are not matched by name
    ({"site": None}, "site_id", 1),
])
def test_type_and_site_by_name_else_the_defaults(values, field, expected) -> None:
    assert one([row(**values)]).wanted[0].fields[field] == expected


def test_type_rules_and_site_rules_come_first() -> None:
    settings = assets(type_rules=(TypeRule(11, ("Windows Server",)),),
                      site_rules=(SiteRule(3, ("HQ",)), SiteRule(4, (), (("Domain", "EMEA"),))))
    mapped = one([row(serial="A", type="windows server", site="HQ"), row(serial="B", site="London", domain="emea")],
                 settings)
    assert [(w.fields["assettype_id"], w.fields["site_id"]) for w in mapped.wanted] == [(11, 3), (10, 4)]


def test_without_a_default_an_unresolvable_type_or_site_skips_the_row_with_a_sentence() -> None:
    mapped = one([row(serial="A", type="Toaster"), row(serial="B", site="Atlantis")],
                 assets(default_type=None, default_site=None))
    assert mapped.wanted == []
    assert mapped.skipped == [
        "Row 1 (Serial 'A'): no Halo asset type is called 'Toaster' and there is no default asset type: skipped.",
        "Row 2 (Serial 'B'): no Halo site is called 'Atlantis': skipped."]


def test_the_default_type_may_be_a_local_name() -> None:
    mapped = one([row(type="Toaster")], assets(default_type=None, default_type_name="server"))
    assert mapped.wanted[0].fields["assettype_id"] == 11


@pytest.mark.parametrize("user,dont_remove,expected", [
    ("ADA", False, [{"id": 100}]),  # matched case-insensitively
    (None, False, []),  # no user in the row: the asset's users are cleared
    (None, True, None),  # ... unless dontremoveusers
    ("nobody", False, None),  # a user Halo lacks: left alone, and noted
    ("twin", False, None),  # two Halo users share the login: neither is guessed
    ("gone", False, None),  # inactive users are not matched
])
def test_the_user_through_the_matching_field(user, dont_remove, expected) -> None:
    mapped = one([row(user=user)], assets(dont_remove_users=dont_remove))
    assert mapped.wanted[0].fields.get("users") == expected
    if user in ("nobody", "twin", "gone"):
        assert "keep the users they have" in mapped.notes[-1]


def test_use_users_site_puts_the_asset_at_its_users_site() -> None:
    mapped = one([row(site="London", user="ada"), row(serial="SN2", site="London", user=None)],
                 assets(use_users_site=True))
    assert [w.fields["site_id"] for w in mapped.wanted] == [2, 1]


def test_matching_on_email_and_an_unknown_matching_field() -> None:
    assert one([row(user="bob@example.com")], assets(user_match_field="Email Address")).wanted[0].fields["users"] == [{"id": 101}]
    unknown = one([row()], assets(user_match_field="shoe size"))
    assert "users" not in unknown.wanted[0].fields and "shoe size" in unknown.notes[0]


def test_null_blank_and_duplicate_keys_are_skipped_with_a_sentence_each() -> None:
    rows = [row(serial=None), row(serial="  "), row(serial="DUP"), row(serial="ok"), row(serial="dup "),
            row(serial=12345), row(serial=decimal.Decimal("12345"))]
    mapped = one(rows)
    assert [w.key for w in mapped.wanted] == ["ok"]
    assert mapped.skipped == [
        "Row 1: the key column 'Serial' is empty: skipped.",
        "Row 2: the key column 'Serial' is empty: skipped.",
        "Serial 'DUP' is on 2 rows (3, 5): none of them is imported, as the Integrator cannot tell which is right; "
        "make the query return one row per key.",
        "Serial '12345' is on 2 rows (6, 7): none of them is imported, as the Integrator cannot tell which is "
        "right; make the query return one row per key."]


def test_update_only_and_dont_update_site_and_type_are_passed_on() -> None:
    mapped = one([row()], assets(update_only=True, dont_update_site=True, dont_update_type=True))
    assert mapped.allow_create is False and mapped.create_only_fields == {"site_id", "assettype_id"}
    assert one([row()]).allow_create is True and one([row()]).create_only_fields == frozenset()


@pytest.mark.parametrize("value,expected", [
    (None, None), (True, True), (7, 7), (2 ** 60, str(2 ** 60)), (1.5, 1.5), (float("nan"), None),
    (decimal.Decimal("16.00"), 16), (decimal.Decimal("1234.56"), 1234.56), (decimal.Decimal("NaN"), None),
    (dt.date(2024, 2, 29), "2024-02-29T00:00:00"), (dt.datetime(2026, 1, 2, 3, 4, 5, 678), "2026-01-02T03:04:05"),
    (dt.time(8, 30), "08:30:00"), (b"\x01\xab", "01AB"), (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("  東京-端末 \0", "東京-端末"), ("Zoë 💻", "Zoë 💻"),
])
def test_database_values_become_halo_values(value, expected) -> None:
    assert halo_value(value) == expected


def test_key_text_of_numbers() -> None:
    assert [key_text(v) for v in (12, 12.0, decimal.Decimal("12.0"), " a ", None, "")] == ["12", "12", "12", "a", "", ""]


def test_dates_decimals_and_unicode_reach_the_asset_fields() -> None:
    settings = assets(field_mappings=(FieldMapping("Name", "inventory_number"), FieldMapping("Bought", "warranty_start"),
                                      FieldMapping("Price", field_id=150), FieldMapping("Notes", "notes")))
    mapped = one([row(name="Zürich-Ünïcødé", bought=dt.date(2020, 5, 1), price=decimal.Decimal("999.90"), notes=None)],
                 settings)
    fields = mapped.wanted[0].fields
    assert fields["inventory_number"] == "Zürich-Ünïcødé" and fields["warranty_start"] == "2020-05-01T00:00:00"
    assert fields["fields"] == [{"id": 150, "value": 999.9}] and fields["notes"] is None


def test_mappings_to_fields_this_integrator_does_not_write_are_noted_and_left_out() -> None:
    settings = assets(field_mappings=(FieldMapping("Name", "dinvno"), FieldMapping("X", "client_id"),
                                      FieldMapping("Serial", "key_field")))
    columns = resolve_columns(settings, AssetIdentity("key_field"))
    assert columns.plain == () and len(columns.notes) == 3
    assert "'Name' -> 'dinvno' is left out" in columns.notes[0]


@pytest.mark.parametrize("identifier,expected", [
    (None, AssetIdentity("key_field")), (101, AssetIdentity("key_field")), (102, AssetIdentity("key_field2")),
    (555, AssetIdentity("fields", 555)),
])
def test_the_asset_import_identifier_names_the_identity_field(identifier, expected) -> None:
    types = [{"id": 10, "keyfield_id": 101}, {"id": 11, "keyfield_id": 101, "keyfield2_id": 102}]
    assert asset_identity(identifier, types) == expected


def test_an_identifier_that_is_different_key_fields_of_different_types_is_refused() -> None:
    with pytest.raises(SourceError, match="different key field in different asset types"):
        asset_identity(7, [{"keyfield_id": 7}, {"keyfield2_id": 7}])


def test_an_identity_in_an_asset_field_is_written_and_read_there() -> None:
    identity = AssetIdentity("fields", 555)
    wanted = one([row()], identity=identity).wanted[0]
    assert "key_field" not in wanted.fields
    assert wanted.fields["fields"] == [{"id": 144, "value": 16}, {"id": 555, "value": "SN1"}]
    assert identity.value_of({"fields": [{"id": 555, "value": "SN1"}]}) == "SN1"
    assert AssetIdentity("key_field2").value_of({"key_field2": " X "}) == "X"


def users(**overrides) -> ImportSettings:
    base = ImportSettings(
        source="sql_import", connection_id=5, name="HR people", entity=USERS, enabled=True,
        allowed_client_ids=frozenset(), target=DbTarget(server="s", database="d"), udl_path="", query="SELECT 1",
        key_column="Email", site_column="Office", default_site=1, identity_field="emailaddress",
        field_mappings=(FieldMapping("FullName", "name"), FieldMapping("Phone", "phonenumber")))
    return dataclasses.replace(base, **overrides)


def test_a_users_import() -> None:
    mapped = one([{"email": "zoe@example.com", "fullname": "Zoë Ødegård", "office": "Zürich", "phone": "+41"},
                  {"email": "x@example.com", "fullname": None, "office": None, "phone": None}], users())
    assert [(w.key, w.label, w.fields["site_id"]) for w in mapped.wanted] == [
        ("zoe@example.com", "Zoë Ødegård (zoe@example.com)", 2), ("x@example.com", "x@example.com", 1)]
    assert mapped.wanted[0].fields == {"name": "Zoë Ødegård", "phonenumber": "+41", "emailaddress": "zoe@example.com",
                                       "site_id": 2}


def test_a_users_import_must_match_on_a_field_the_user_list_carries() -> None:
    with pytest.raises(SourceError, match="Halo's user list does not carry"):
        map_rows([], users(identity_field="department"), LOOKUPS)
    assert one([{"email": "a", "login": "l"}], users(identity_field="login", key_column="login")).wanted[0].fields["login"] == "l"
