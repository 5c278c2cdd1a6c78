"""The LDAP source and the mapping against a real Samba AD DC: what only Active Directory does."""

from __future__ import annotations

import logging
import uuid

import ldap3
import pytest

from halointegrator.engine.context import RunContext
from halointegrator.errors import SourceError
from integrations import active_directory
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import BASE_FILTER, build_field_map, guid_text, is_disabled, map_users, parse_mappings
from sandbox.directory import connection_record
from tests.fake_halo import FakeHalo
from tests.fixtures_directory import search_all

pytestmark = pytest.mark.samba


def record_for(handle, *, use_ssl: bool = True, **fields) -> dict:
    return {**connection_record(handle, [1, 2], use_ssl=use_ssl), **fields}


def open_bound(handle, *, use_ssl: bool = True, **local) -> ldap3.Connection:
    settings = ldap_source.settings_from(record_for(handle, use_ssl=use_ssl), {"ca_file": handle.ca_file, **local})
    return ldap_source.open_bound(settings)


def read_people(handle, attributes=("objectGUID", "userAccountControl", "memberOf", "sAMAccountName")):
    conn = open_bound(handle)
    try:
        return search_all(conn, handle.base_dn, BASE_FILTER, attributes=list(attributes), page_size=7)
    finally:
        ldap_source.close(conn)


def test_objectguid_becomes_the_guid_ad_itself_names(samba):
    people = {entry.dn.lower(): entry for entry in read_people(samba)}
    conn = open_bound(samba)
    try:
        for user in samba.users[:5]:
            text = guid_text(people[user.dn.lower()].first("objectGUID"))
            assert text == str(uuid.UUID(bytes_le=user.guid))
            # AD finds an object by <GUID=...> in exactly this text form
            conn.search(f"<GUID={text}>", "(objectClass=*)", ldap3.BASE, attributes=["sAMAccountName"])
            assert conn.response[0]["dn"].lower() == user.dn.lower()
    finally:
        ldap_source.close(conn)


def test_disabled_accounts_and_all_people_are_read(samba):
    people = {entry.dn.lower(): entry for entry in read_people(samba)}
    # our 30 plus the service account and Administrator; continuation references are skipped, not fatal
    assert {user.dn.lower() for user in samba.users} <= people.keys()
    for user in samba.users:
        assert is_disabled(people[user.dn.lower()].first("userAccountControl")) is user.disabled
    assert any(user.disabled for user in samba.users) and not all(user.disabled for user in samba.users)


def test_member_of_maps_to_group_names(samba):
    record = record_for(samba, mappings_user=[{"ldap_field": "memberOf", "nhd_field": "memberof"}])
    scopes, _ = parse_mappings(record)
    field_map, _ = build_field_map(record["mappings_user"], "third_party_guid")
    conn = open_bound(samba)
    try:
        reads = [(scope, search_all(conn, scope.dn, BASE_FILTER, attributes=field_map.attributes()))
                 for scope in scopes]
    finally:
        ldap_source.close(conn)
    wanted, _ = map_users(reads, field_map)
    by_login = {record.fields["samaccountname"]: record.fields for record in wanted}
    assert len(by_login) == len(samba.users)
    for user in samba.users:
        fields = by_login[user.sam]
        assert sorted(filter(None, fields["memberof"].split("; "))) == sorted(user.groups)
        assert fields["inactive"] is user.disabled and fields["emailaddress"] == user.mail
    assert any(user.groups for user in samba.users)


@pytest.mark.parametrize("use_ssl", [True, False], ids=["ldaps", "starttls"])
def test_tls_binds_work(samba, use_ssl):
    conn = open_bound(samba, use_ssl=use_ssl)
    assert conn.bound and conn.tls_started == (not use_ssl)
    ldap_source.close(conn)


def test_simple_bind_on_plain_389_is_refused_and_explained(samba):
    with pytest.raises(SourceError) as caught:
        open_bound(samba, use_ssl=False, starttls=False, allow_plain_ldap=True)
    message = str(caught.value)
    assert "The server requires signing or TLS; enable LDAPS or StartTLS" in message
    assert "strongerAuthRequired" in message and samba.password not in message


def test_check_explains_the_refused_plain_bind(samba):
    ctx = RunContext(halo=FakeHalo(), log=logging.getLogger("test"), client_id="halo-integrator",
                     local_settings={"starttls": False, "allow_plain_ldap": True})
    ctx.halo.get = lambda path, params=None: {"id": int(path.split("/")[1]), "name": "Site"}
    checks = {check.label: check for check in active_directory.INTEGRATION.check(ctx, record_for(samba, use_ssl=False))}
    assert checks["TLS certificate is trusted and names the host"].detail.startswith("not used: plain LDAP")
    bind = checks["Bind with the connection's account"]
    assert not bind.ok and "requires signing or TLS" in bind.detail
    assert checks["Each mapped OU exists"].detail == "not run: the bind failed"


def test_check_passes_over_ldaps(samba):
    ctx = RunContext(halo=FakeHalo(), log=logging.getLogger("test"), client_id="halo-integrator",
                     local_settings={"ca_file": samba.ca_file})
    ctx.halo.get = lambda path, params=None: {"id": int(path.split("/")[1]), "name": "Site"}
    checks = active_directory.INTEGRATION.check(ctx, record_for(samba))
    assert all(check.ok for check in checks), [check for check in checks if not check.ok]
