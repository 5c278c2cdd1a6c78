"""The pure Entra ID mapping: Graph users and Intune devices to Halo records, tested with tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.entra.imports import imports_of
from integrations.entra.mapping import (
    BASE_DEVICE_SELECT, BASE_USER_SELECT, GRAPH_DEVICE_PROPERTIES, GRAPH_USER_PROPERTIES, SINGLE_DEVICE_READ_ONLY,
    excluded_device, OS_WITH_VERSION, Memberships, device_mapping_from, graph_device_value, graph_user_value,
    map_device, map_devices, map_user, map_users, matching_fields, site_for_user, usable_serial, user_mapping_from,
)

USER = {
    "id": "oid-1", "accountEnabled": True, "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
    "mail": "ada@contoso.example", "userPrincipalName": "ada.l@contoso.example", "jobTitle": "Engineer",
    "department": "R&D", "mobilePhone": "+44 7700 900123", "businessPhones": ["+44 20 7946 0001", "+44 20 2"],
    "employeeId": "E1", "onPremisesExtensionAttributes": {"extensionAttribute3": "cc-42"},
}


def connection(**overrides):
    base = {"id": 7, "directoryid": "tenant-guid", "mappings_user": [], "mappings_site": [],
            "createunmatchedusers": False, "unmatchedusersite": 0, "deactivate_users": False}
    return {**base, **overrides}


@pytest.mark.parametrize("prop, expected", [
    ("displayName", "Ada Lovelace"),
    ("mail", "ada@contoso.example"),
    ("businessPhones", "+44 20 7946 0001"),  # the first number only
    ("employeeId", "E1"),
    ("extensionAttribute3", "cc-42"),
    ("extensionAttribute4", ""),
    ("officeLocation", ""),  # not returned: blank, so Halo's value is cleared
    ("accountEnabled", "True"),
])
def test_graph_user_values(prop, expected):
    assert graph_user_value(USER, prop) == expected


def test_mail_falls_back_to_the_user_principal_name():
    assert graph_user_value({**USER, "mail": None}, "mail") == "ada.l@contoso.example"


def test_default_table_maps_every_field_named_in_the_brief():
    mapping = user_mapping_from(connection())
    wanted = map_user(USER, mapping, site_id=3)
    assert wanted.key == "oid-1"
    assert wanted.fields == {
        "name": "Ada Lovelace", "firstname": "Ada", "surname": "Lovelace", "emailaddress": "ada@contoso.example",
        "login": "ada.l@contoso.example", "title": "Engineer", "department": "R&D",
        "mobilenumber": "+44 7700 900123", "phonenumber": "+44 20 7946 0001", "azure_id": "oid-1",
        "azureoid": "oid-1", "azure_connectionid": 7, "azure_tenant_id": "tenant-guid", "site_id": 3,
    }
    assert wanted.label == "Ada Lovelace (ada@contoso.example)"
    assert wanted.scope == "site 3"


@pytest.mark.parametrize("rows, added, note", [
    ([{"thirdpartyname": "employeeId", "name": "other1"}], ("employeeId", "other1"), None),
    ([{"thirdpartyname": "EMPLOYEEID", "name": "Other2"}], ("employeeId", "other2"), None),
    ([{"thirdpartyname": "extensionAttribute3", "name": "other3"}], ("extensionAttribute3", "other3"), None),
    ([{"thirdpartyname": "favouriteColour", "name": "other1"}], None, "not a Microsoft Graph user property"),
    ([{"thirdpartyname": "employeeId", "name": "shoe_size"}], None, "not a Halo user field"),
])
def test_mappings_user_add_fields_or_are_skipped_with_a_note(rows, added, note):
    mapping = user_mapping_from(connection(mappings_user=rows))
    if added:
        assert mapping.field_map[-1] == added
        assert not mapping.notes
    else:
        assert len(mapping.field_map) == 9
        assert note in mapping.notes[0]


def test_select_names_every_property_the_mapping_reads_once():
    mapping = user_mapping_from(connection(mappings_user=[
        {"thirdpartyname": "employeeId", "name": "other1"},
        {"thirdpartyname": "extensionAttribute3", "name": "other2"},
        {"thirdpartyname": "extensionAttribute5", "name": "other3"},
        {"thirdpartyname": "mail", "name": "email2"},
    ]))
    select = mapping.select
    assert len(select) == len(set(select))
    for name in ("id", "accountEnabled", "displayName", "givenName", "surname", "mail", "userPrincipalName",
                 "jobTitle", "department", "mobilePhone", "businessPhones", "employeeId",
                 "onPremisesExtensionAttributes"):
        assert name in select
    assert "extensionAttribute3" not in select


@pytest.mark.parametrize("enabled, deactivate_users, inactive", [
    (True, False, None), (True, True, False), (False, False, None), (False, True, True),
])
def test_disabled_accounts_become_inactive_only_when_the_connection_says_so(enabled, deactivate_users, inactive):
    """Without "deactivate users" the Entra import leaves the flag alone (None: not written), so it never
    reactivates a user AD or a person deactivated; the core reactivates only what it deactivated itself."""
    mapping = user_mapping_from(connection(deactivate_users=deactivate_users))
    assert map_user({**USER, "accountEnabled": enabled}, mapping, 1).fields.get("inactive") is inactive


SITE_RULES = [
    {"group_name": "Engineering", "siteid": 12, "sequenceid": 2},
    {"group_name": "Sales", "siteid": 11, "sequenceid": 1},
    {"group_name": "Contractors", "siteid": 0, "default_site_id": 14, "sequenceid": 3},
    {"group_name": "", "siteid": 99, "sequenceid": 4},  # no group: ignored
]
MEMBERS = Memberships({"sales": frozenset({"a", "both"}), "engineering": frozenset({"b", "both"}),
                       "contractors": frozenset({"c"})})


@pytest.mark.parametrize("user_id, create_unmatched, site", [
    ("a", False, 11),
    ("b", False, 12),
    ("both", False, 11),  # first rule by sequenceid wins
    ("c", False, 14),  # the rule's default site when it names no site
    ("nobody", False, None),
    ("nobody", True, 13),
])
def test_site_mapping_in_order(user_id, create_unmatched, site):
    mapping = user_mapping_from(connection(mappings_site=SITE_RULES, createunmatchedusers=create_unmatched,
                                           unmatchedusersite=13))
    assert mapping.group_names == ("Sales", "Engineering", "Contractors")
    assert site_for_user(user_id, MEMBERS, mapping) == site


def test_users_in_no_group_are_skipped_and_counted():
    mapping = user_mapping_from(connection(mappings_site=SITE_RULES))
    users = [{**USER, "id": user_id} for user_id in ("a", "b", "x", "y")]
    wanted, skipped = map_users(users, MEMBERS, mapping)
    assert [(w.key, w.fields["site_id"]) for w in wanted] == [("a", 11), ("b", 12)]
    assert skipped == 2


@pytest.mark.parametrize("fields, pairs, expected", [
    ("", [], ("emailaddress",)),
    ("email", [], ("emailaddress",)),
    ("Email;UPN", [], ("emailaddress", "login")),
    ("userprincipalname,emailaddress", [], ("login", "emailaddress")),
    ("", [{"value": "upn", "label": "User Principal Name"}], ("login",)),
])
def test_matching_fields(fields, pairs, expected):
    assert matching_fields({"user_matching_fields": fields, "user_matching_list": pairs}) == expected


@pytest.mark.parametrize("import_list, types, intune, expected", [
    ("", [], False, {"users"}),
    ("", [], True, {"users", "devices"}),
    ("users,devices", [], False, {"users", "devices"}),
    ("Devices", [], False, {"devices"}),
    ("users; intune", [], False, {"users", "devices"}),
    ("", [{"value": "2", "label": "Devices (Intune)"}], False, {"devices"}),
    ("", [{"value": "users", "label": "Users"}], True, {"users"}),
])
def test_imports_chosen_in_halo(import_list, types, intune, expected):
    chosen, _ = imports_of({"halo_integrator_import_list": import_list, "halo_integrator_import_types": types,
                            "intune_enabled": intune})
    assert chosen == expected


def test_an_import_this_integrator_does_not_run_is_noted():
    chosen, notes = imports_of({"halo_integrator_import_list": "users,agents"})
    assert chosen == {"users"} and "agents" in notes[0]


DEVICE = {"id": "dev-1", "deviceName": "LAPTOP-01", "serialNumber": "SN123", "model": "Latitude 7440",
          "manufacturer": "Dell Inc.", "operatingSystem": "Windows", "osVersion": "10.0.22631",
          "lastSyncDateTime": "2026-11-27T08:00:00Z", "userId": "a"}
DEVICE_CONNECTION = connection(default_assettype=5, defaultsite=1, mappings_device=[
    {"thirdpartyname": "model", "fiid": 102}, {"thirdpartyname": "manufacturer", "fiid": 101},
    {"thirdpartyname": OS_WITH_VERSION, "fiid": 103}, {"thirdpartyname": "lastSyncDateTime", "fiid": 104},
    {"thirdpartyname": "serialNumber", "fiid": 0}, {"thirdpartyname": "flavour", "fiid": 105},
])


def test_device_maps_to_an_asset_with_its_fields():
    mapping = device_mapping_from(DEVICE_CONNECTION)
    assert len(mapping.notes) == 2  # no field chosen; unknown property
    wanted = map_device(DEVICE, mapping, site_id=11)
    assert wanted.key == "dev-1"
    assert wanted.fields == {
        "intune_id": "dev-1", "intune_connectionid": 7, "assettype_id": 5, "inventory_number": "LAPTOP-01",
        "site_id": 11, "key_field": "SN123", "azure_userid": "a",
        "fields": [{"id": 101, "value": "Dell Inc."}, {"id": 102, "value": "Latitude 7440"},
                   {"id": 103, "value": "Windows 10.0.22631"}, {"id": 104, "value": "2026-11-27T08:00:00Z"}],
    }


@pytest.mark.parametrize("serial, usable", [
    ("SN123", "SN123"), ("", ""), (None, ""), ("0", ""), ("To be filled by O.E.M.", ""), (" ABC ", "ABC"),
])
def test_placeholder_serials_are_no_key(serial, usable):
    assert usable_serial(serial) == usable
    fields = map_device({**DEVICE, "serialNumber": serial}, device_mapping_from(DEVICE_CONNECTION), 1).fields
    assert fields.get("key_field", "") == usable


def test_device_site_is_the_primary_users_else_the_default():
    mapping = device_mapping_from(DEVICE_CONNECTION)
    devices = [DEVICE, {**DEVICE, "id": "dev-2", "userId": "stranger"}, {**DEVICE, "id": "dev-3", "userId": None}]
    wanted, skipped = map_devices(devices, {"a": 11, "stranger": None}, mapping)
    assert [(w.key, w.fields["site_id"]) for w in wanted] == [("dev-1", 11), ("dev-2", 1), ("dev-3", 1)]
    assert skipped == 0


def test_devices_without_any_site_are_skipped():
    mapping = device_mapping_from(connection(default_assettype=5, defaultsite=0))
    wanted, skipped = map_devices([DEVICE], {}, mapping)
    assert wanted == [] and skipped == 1


def test_default_site_falls_back_to_a_mappings_default_site_id():
    mapping = device_mapping_from(connection(defaultsite=None, mappings_site=[{"group_name": "G", "default_site_id": 9}]))
    assert mapping.default_site == 9


def test_os_with_version_and_blank_values():
    assert graph_device_value({"operatingSystem": "iOS", "osVersion": None}, OS_WITH_VERSION) == "iOS"
    assert graph_device_value({}, "model") == ""



# ---- what Graph's metadata says (sandbox/graph_subset.json, from Microsoft's v1.0 metadata) --------------

GRAPH_SUBSET = json.loads((Path(__file__).resolve().parents[1] / "sandbox" / "graph_subset.json").read_text())["types"]


def test_every_user_property_a_mapping_may_name_is_one_graph_lists():
    user = GRAPH_SUBSET["user"]
    names = set(GRAPH_USER_PROPERTIES) | set(BASE_USER_SELECT) | {"onPremisesExtensionAttributes"}
    assert names <= set(user["properties"])
    assert not names & set(user["single_read_only"])  # a list read selecting one of those answers 501


def test_every_device_property_a_mapping_may_name_is_in_the_metadata():
    device = GRAPH_SUBSET["managedDevice"]
    assert set(GRAPH_DEVICE_PROPERTIES) | set(BASE_DEVICE_SELECT) | {"managementAgent"} <= set(device["properties"])
    # The refusal below covers exactly the known properties that Graph's list reads leave at a default.
    assert SINGLE_DEVICE_READ_ONLY == set(GRAPH_DEVICE_PROPERTIES) & set(device["list_default"])
    assert "msSense" in json.loads((Path(__file__).resolve().parents[1] / "sandbox" / "graph_subset.json")
                                   .read_text())["enums"]["managementAgentType"]


@pytest.mark.parametrize("source, refused", [
    ("ethernetMacAddress", True), ("PhysicalMemoryInBytes", True), ("wiFiMacAddress", False),
    ("totalStorageSpaceInBytes", False),
])
def test_single_device_only_properties_are_refused_with_the_reason(source, refused):
    mapping = device_mapping_from(connection(mappings_device=[{"thirdpartyname": source, "fiid": 120}]))
    assert (mapping.field_map == ()) is refused
    if refused:
        assert len(mapping.notes) == 1 and "only when one device is read by id" in mapping.notes[0]
        assert "one Graph request per device per run" in mapping.notes[0]
    else:
        assert mapping.notes == () and mapping.field_map == ((source, 120),)


@pytest.mark.parametrize("setting, agent, excluded", [
    (True, "msSense", True), (True, "MSSENSE", True), (True, "mdm", False), (True, None, False),
    (False, "msSense", False), (None, "msSense", False), ("true", "msSense", True), ("yes please", "msSense", False),
])
def test_msSense_devices_are_left_out_when_the_connection_says_so(setting, agent, excluded):
    mapping = device_mapping_from(connection(exclude_mssense_devices=setting))
    assert excluded_device({**DEVICE, "managementAgent": agent}, mapping) is excluded
    assert ("managementAgent" in mapping.select) is mapping.exclude_mssense
    assert any("msSense" in note for note in mapping.notes) is mapping.exclude_mssense
