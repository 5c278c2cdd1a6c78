"""AD entries -> Halo users: the pure mapping, as tables."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from integrations.active_directory import mapping as m
from integrations.active_directory.mapping import FieldMap, MappingScope, SourceEntry

GUID = uuid.UUID("ba28a5d1-5c41-4142-9a0b-0123456789ab")
STAFF = MappingScope("Staff", "OU=Staff,DC=corp,DC=example,DC=com", site_id=7)
SUBSET = Path(__file__).resolve().parents[1] / "sandbox" / "openapi_subset.json"  # extracted from Halo's document


def entry(dn: str = "CN=Ada Lovelace,OU=Staff,DC=corp,DC=example,DC=com", guid: uuid.UUID | None = GUID,
          **attributes: object) -> SourceEntry:
    raw = {"objectguid": [guid.bytes_le]} if guid else {}
    for name, value in attributes.items():
        values = value if isinstance(value, list) else [value]
        raw[name.lower()] = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return SourceEntry(dn, raw)


ADA = dict(givenName="Ada", sn="Lovelace", displayName="Ada Lovelace", mail="ada@corp.example.com",
           telephoneNumber="+44 1", mobile="+44 7", title="Analyst", department="Engines",
           sAMAccountName="alovelace", userPrincipalName="ada@corp.example.com", userAccountControl="512")


def test_guid_is_little_endian_uuid_text():
    raw = bytes.fromhex("d1a528ba415c42419a0b0123456789ab")
    assert m.guid_text(raw) == "ba28a5d1-5c41-4142-9a0b-0123456789ab"
    assert m.guid_text(raw) != str(uuid.UUID(bytes=raw))  # the byte-swapped reading is wrong
    assert m.guid_text(b"short") == "" and m.guid_text(None) == ""


@pytest.mark.parametrize("uac, disabled", [
    (b"512", False), (b"514", True), (b"546", True), (b"66048", False), (b"66050", True),
    ("2", True), (0, False), (None, False), (b"", False), (b"garbage", False),
])
def test_account_disabled_bit(uac, disabled):
    assert m.is_disabled(uac) is disabled


def test_default_mapping_of_a_person():
    wanted = m.to_wanted(entry(**ADA), STAFF, FieldMap(dict(m.DEFAULT_FIELD_MAP)))
    assert wanted.key == str(GUID) and wanted.scope == STAFF.dn
    assert wanted.label == "Ada Lovelace (ada@corp.example.com)"
    assert wanted.fields == {
        "firstname": "Ada", "surname": "Lovelace", "name": "Ada Lovelace", "emailaddress": "ada@corp.example.com",
        "phonenumber": "+44 1", "mobilenumber": "+44 7", "title": "Analyst", "department": "Engines",
        "samaccountname": "alovelace", "login": "ada@corp.example.com",
        "activedirectory_dn": "CN=Ada Lovelace,OU=Staff,DC=corp,DC=example,DC=com",
        "third_party_guid": str(GUID), "inactive": False, "site_id": 7,
    }


@pytest.mark.parametrize("attributes, name", [
    (dict(displayName="Ada L.", givenName="Ada", sn="Lovelace", sAMAccountName="al"), "Ada L."),
    (dict(givenName="Ada", sn="Lovelace", sAMAccountName="al"), "Ada Lovelace"),
    (dict(sn="Lovelace", sAMAccountName="al"), "Lovelace"),
    (dict(sAMAccountName="al"), "al"),
    (dict(), "CN=Ada Lovelace,OU=Staff,DC=corp,DC=example,DC=com"),
])
def test_name_falls_back(attributes, name):
    assert m.to_wanted(entry(**attributes), STAFF, FieldMap(dict(m.DEFAULT_FIELD_MAP))).fields["name"] == name


def test_disabled_account_client_and_identity_field():
    scope = MappingScope("Staff", STAFF.dn, site_id=7, client_id=3)
    wanted = m.to_wanted(entry(userAccountControl="514"), scope, FieldMap(dict(m.DEFAULT_FIELD_MAP), "other5"))
    assert wanted.fields["inactive"] is True and wanted.fields["client_id"] == 3
    assert wanted.fields["other5"] == str(GUID) and "third_party_guid" not in wanted.fields


def test_entry_without_guid_is_skipped_with_a_note():
    wanted, notes = m.map_users([(STAFF, [entry(guid=None, **ADA)])], FieldMap(dict(m.DEFAULT_FIELD_MAP)))
    assert wanted == [] and "no objectGUID" in notes[0]


def test_pages_are_mapped_as_they_come_and_counted_per_mapping():
    labs = MappingScope("Labs", "OU=Labs,DC=corp,DC=example,DC=com", site_id=8)
    mapper = m.UserMapper(FieldMap(dict(m.DEFAULT_FIELD_MAP)))
    mapper.add(STAFF, [entry(**ADA), entry("CN=NoGuid,OU=Staff,DC=corp,DC=example,DC=com", guid=None)])
    mapper.add(STAFF, iter([entry("CN=Bob,OU=Staff,DC=corp,DC=example,DC=com", guid=uuid.uuid4(), sn="Bob")]))
    mapper.add(labs, [entry(**ADA)])  # already taken by Staff
    assert [w.label.split()[0] for w in mapper.wanted] == ["Ada", "Bob"]
    assert mapper.read == {STAFF.dn: 3, labs.dn: 1}
    assert len(mapper.notes) == 1 and "CN=NoGuid" in mapper.notes[0]


def test_user_under_two_mappings_goes_to_the_first_once():
    sub = MappingScope("Sub", "OU=Sub,OU=Staff,DC=corp,DC=example,DC=com", site_id=9)
    person = entry("CN=Ada,OU=Sub,OU=Staff,DC=corp,DC=example,DC=com", **ADA)
    other = entry("CN=Bob,OU=Sub,OU=Staff,DC=corp,DC=example,DC=com", guid=uuid.uuid4(), sn="Bob")
    wanted, _ = m.map_users([(sub, [person, other]), (STAFF, [person])], FieldMap(dict(m.DEFAULT_FIELD_MAP)))
    assert [(w.label.split()[0], w.fields["site_id"]) for w in wanted] == [("Ada", 9), ("Bob", 9)]


@pytest.mark.parametrize("rows, expected_fields, note", [
    ([{"ldap_field": "userPrincipalName", "nhd_field": "emailaddress"}], {"emailaddress": "userprincipalname"}, None),
    ([{"ldap_field": "employeeID", "nhd_field": "other1"}], {"other1": "employeeid"}, None),
    ([{"ldap_field": "memberOf", "nhd_field": "memberof"}], {"memberof": "memberof"}, None),
    ([{"ldap_field": "mail", "nhd_field": "no_such_field"}], {}, "not a Halo user text field"),
    ([{"ldap_field": "mail", "nhd_field": "new_password"}], {}, "not a Halo user text field"),
    ([{"ldap_field": "mail", "nhd_field": "site_id"}], {}, "sets site_id itself"),
    ([{"ldap_field": "cn", "nhd_field": "activedirectory_dn"}], {}, "sets activedirectory_dn itself"),
    ([{"ldap_field": "cn", "nhd_field": "third_party_guid"}], {}, "sets third_party_guid itself"),
    ([{"ldap_field": "x)(y", "nhd_field": "other2"}], {}, "not an LDAP attribute name"),
    ([{"ldap_field": "", "nhd_field": "other2"}, {"ldap_field": "mail"}], {}, None),
])
def test_field_mappings_override_and_extend(rows, expected_fields, note):
    field_map, notes = m.build_field_map(rows, "third_party_guid")
    assert field_map.fields == {**m.DEFAULT_FIELD_MAP, **expected_fields}
    assert (note in notes[0]) if note else notes == []


def test_overridden_field_is_filled_from_the_new_attribute():
    field_map, _ = m.build_field_map([{"ldap_field": "userPrincipalName", "nhd_field": "emailaddress"},
                                      {"ldap_field": "memberOf", "nhd_field": "memberof"}], "third_party_guid")
    person = entry(**ADA | {"userPrincipalName": "ada.l@corp.example.com",
                            "memberOf": ["CN=VPN Users,OU=Groups,DC=corp", "CN=Help\\, desk,OU=Groups,DC=corp"]})
    fields = m.to_wanted(person, STAFF, field_map).fields
    assert fields["emailaddress"] == "ada.l@corp.example.com"
    assert fields["memberof"] == "VPN Users; Help, desk"
    assert "memberof" in field_map.attributes() and "userprincipalname" in field_map.attributes()


def test_absent_attribute_clears_the_field():
    fields = m.to_wanted(entry(sn="Lovelace"), STAFF, FieldMap(dict(m.DEFAULT_FIELD_MAP))).fields
    assert fields["mobilenumber"] == "" and fields["emailaddress"] == ""


@pytest.mark.parametrize("value, field, problem", [
    (None, "third_party_guid", ""), ("", "third_party_guid", ""), ("Other3", "other3", ""),
    ("emailaddress", "", "cannot hold the GUID"), ("inactive", "", "cannot hold the GUID"),
    ("azureoid", "", "cannot hold the GUID"), ("nonsense", "", "cannot hold the GUID"),
])
def test_identity_field(value, field, problem):
    found, text = m.identity_field_of({"uactguidmappingfield": value})
    assert found == field and (problem in text if problem else text == "")


def test_mappings_parsed_in_order_and_bad_ones_noted():
    scopes, notes = m.parse_mappings({"ldap_strings": [
        {"name": "Staff", "dn": "OU=Staff,DC=x", "site_id": 7, "isrecursive": False, "filter": "(title=*)"},
        {"name": "Agents", "dn": "OU=IT,DC=x", "site_id": 7, "agentmapping": True},
        {"name": "NoSite", "dn": "OU=Y,DC=x"},
        {"name": "NoDn", "site_id": 3},
        {"name": "Labs", "dn": "OU=Labs,DC=x", "site_id": 8.0, "client_id": 2},
    ]})
    assert scopes == [MappingScope("Staff", "OU=Staff,DC=x", "(title=*)", False, 7, None),
                      MappingScope("Labs", "OU=Labs,DC=x", "", True, 8, 2)]
    assert [note.split(":")[0] for note in notes] == ["Mapping Agents skipped", "Mapping NoSite skipped",
                                                      "Mapping NoDn skipped"]


@pytest.mark.parametrize("text, fields, noted", [
    ("", ("emailaddress",), 0), (None, ("emailaddress",), 0), ("samaccountname; emailaddress", ("samaccountname", "emailaddress"), 0),
    ("login,bogus", ("login",), 1), ("bogus", ("emailaddress",), 1),
])
def test_match_fields(text, fields, noted):
    assert m.parse_match_fields(text)[0] == fields and len(m.parse_match_fields(text)[1]) == noted


@pytest.mark.parametrize("mapping_filter, expected", [
    ("", "(&(objectCategory=person)(objectClass=user))"),
    ("(department=IT)", "(&(&(objectCategory=person)(objectClass=user))(department=IT))"),
    ("department=IT", "(&(&(objectCategory=person)(objectClass=user))(department=IT))"),
    ("  (|(a=1)(b=2)) ", "(&(&(objectCategory=person)(objectClass=user))(|(a=1)(b=2)))"),
])
def test_search_filter(mapping_filter, expected):
    assert m.search_filter(mapping_filter) == expected


@pytest.mark.parametrize("value, escaped", [
    ("*)(uid=*", r"\2a\29\28uid=\2a"), ("a\\b", r"a\5cb"), ("nul\x00", r"nul\00"), ("plain", "plain"),
])
def test_equality_filter_escapes_values(value, escaped):
    assert m.equality_filter("sAMAccountName", value) == f"(&{m.BASE_FILTER}(sAMAccountName={escaped}))"


def test_equality_filter_refuses_a_bad_attribute_name():
    with pytest.raises(ValueError):
        m.equality_filter("cn)(x", "v")


@pytest.mark.parametrize("dn, base, inside", [
    ("CN=A,OU=Staff,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", True),
    ("cn=a,ou=staff,dc=corp,dc=com", "OU=Staff, DC=Corp, DC=com", True),
    ("OU=Staff,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", True),
    ("CN=A,OU=Sub,OU=Staff,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", True),
    ("CN=A,OU=NotStaff,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", False),
    ("CN=A,OU=Staff2,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", False),
    ("CN=A\\,OU=Staff,OU=X,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", False),
    ("CN=A\\,OU\\=Staff,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com", False),  # one RDN: "A,OU=Staff" is its name
    ("CN=A\\,B,OU=Staff,DC=corp,DC=com", "ou=staff,dc=corp,dc=com", True),
    # "CN=A+SN=B" is one (multi-valued) RDN: the entry's parent is OU=Staff, and SN=B,OU=Staff is a sibling
    ("CN=A+SN=B,OU=Staff,DC=corp,DC=com", "SN=B,OU=Staff,DC=corp,DC=com", False),
    ("SN=B+CN=A,OU=Staff,DC=corp,DC=com", "cn=a+sn=b,ou=staff,dc=corp,dc=com", True),
    (None, "OU=Staff,DC=corp,DC=com", False), ("", "OU=Staff,DC=corp,DC=com", False),
])
def test_dn_within(dn, base, inside):
    assert bool(m.scope_finder([MappingScope("Base", base)])(dn)) is inside


@pytest.mark.parametrize("dn, key", [
    ("CN=Ada Lovelace,OU=Staff, DC=Corp ,DC=com", ("cn=ada lovelace", "ou=staff", "dc=corp", "dc=com")),
    ("CN=Lovelace\\, Ada,OU=Staff", ("cn=lovelace\\, ada", "ou=staff")),
    ("CN=A+SN=B,OU=Staff", ("cn=a+sn=b", "ou=staff")),
    ("not a dn\\, at all", ("not a dn\\, at all",)),  # not a DN: one opaque component, within nothing
    ("  ", ()), (None, ()),
])
def test_dn_key(dn, key):
    assert m.dn_key(dn) == key and m.normalize_dn(dn) == ",".join(key)


def test_the_quick_dn_split_is_what_parse_dn_gives():
    from ldap3.utils.dn import parse_dn
    for dn in ("CN=Ada Lovelace 0001,OU=Staff,DC=corp,DC=example,DC=com", "cn=a, ou=b", "OU=Staff, DC=Corp, DC=com",
               "CN=Ädä Ünïcode,OU=Løndon,DC=x", "CN=spaced  out,OU=y", "CN=O'Brien (London),OU=z"):
        assert m.dn_key(dn) == tuple(f"{t.lower()}={v.lower()}" for t, v, _ in parse_dn(dn.replace(", ", ",")))


def test_scope_finder_normalises_each_dn_once(monkeypatch):
    sub = MappingScope("Sub", "OU=Sub,OU=Staff,DC=corp,DC=example,DC=com", site_id=9)
    find = m.scope_finder([STAFF, sub])
    keyed = []
    real_key = m.dn_key
    monkeypatch.setattr(m, "dn_key", lambda dn: keyed.append(dn) or real_key(dn))
    dn = "CN=A,OU=Sub,OU=STAFF,DC=corp,DC=example,DC=com"
    assert [find(dn), find(dn), find("CN=B,OU=Else,DC=corp,DC=example,DC=com"), find(None)] == [sub.dn, sub.dn, "", ""]
    assert keyed == [dn, "CN=B,OU=Else,DC=corp,DC=example,DC=com", ""]


def test_equal_mappings_the_first_wins():
    twin = MappingScope("Twin", STAFF.dn.upper(), site_id=8)
    assert m.scope_finder([twin, STAFF])("CN=A,OU=Staff,DC=corp,DC=example,DC=com") == twin.dn


def test_scope_is_the_most_specific_mapping():
    sub = MappingScope("Sub", "OU=Sub,OU=Staff,DC=corp,DC=example,DC=com", site_id=9)
    scopes = [STAFF, sub]
    scope_of = m.scope_finder(scopes)
    assert scope_of("CN=A,OU=Sub,OU=Staff,DC=corp,DC=example,DC=com") == sub.dn
    assert scope_of("CN=A,OU=Staff,DC=corp,DC=example,DC=com") == STAFF.dn
    assert scope_of("CN=A,OU=Else,DC=corp,DC=example,DC=com") == ""


def test_every_field_the_mapping_writes_is_in_halos_users_schema():
    with SUBSET.open() as handle:
        users = json.load(handle)["schemas"]["Users"]
    for name in m.HALO_USER_TEXT_FIELDS:
        assert users[name]["type"] == "string", name
    written = set(m.DEFAULT_FIELD_MAP) | {"inactive", "site_id", "client_id", m.DEFAULT_IDENTITY_FIELD}
    assert written <= set(users)
