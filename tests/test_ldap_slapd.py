"""The LDAP source against a real OpenLDAP slapd: paging past the size limit, TLS refusals, escaping."""

from __future__ import annotations

import logging

import ldap3
import pytest

from halointegrator.engine.context import RunContext
from halointegrator.errors import SourceError
from integrations import active_directory
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import BASE_FILTER, equality_filter, guid_text, is_disabled, search_filter
from sandbox.directory import connection_record
from sandbox.directory_tls import make_ca
from tests.fake_halo import FakeHalo
from tests.fixtures_directory import SLAPD_USERS, search_all

pytestmark = pytest.mark.slapd


def settings_for(handle, *, ldaps: bool = True, host: str | None = None, password: str | None = None,
                 page_size: int = 1000, **local) -> ldap_source.LdapSettings:
    record = connection_record(handle, [1, 2, 3], use_ssl=ldaps, page_size=page_size)
    if host:
        record["hostname"] = host
    if password is not None:
        record["integrator_password"] = password
    return ldap_source.settings_from(record, {"ca_file": handle.ca_file, **local})


def read_all(handle, settings, base_dn=None, **options):
    conn = ldap_source.open_bound(settings)
    try:
        return search_all(conn, base_dn or handle.base_dn, BASE_FILTER,
                                      attributes=["objectGUID", "userAccountControl", "sAMAccountName"], **options)
    finally:
        ldap_source.close(conn)


def test_unpaged_search_stops_at_the_size_limit(slapd):
    conn = ldap_source.open_bound(settings_for(slapd))
    conn.search(slapd.base_dn, BASE_FILTER, attributes=["sAMAccountName"])
    assert conn.result["description"] == "sizeLimitExceeded" and len(conn.response) == 500
    ldap_source.close(conn)


@pytest.mark.parametrize("ldaps, page_size", [(True, 1000), (False, 300), (True, 5000)])
def test_paged_read_returns_every_person_past_the_limit(slapd, ldaps, page_size):
    settings = settings_for(slapd, ldaps=ldaps, page_size=page_size)
    assert settings.page_size == min(page_size, 1000)  # capped like AD's MaxPageSize
    entries = read_all(slapd, settings, page_size=settings.page_size)
    # the computer (objectCategory=computer) and the service account (not a user) are left out
    assert len(entries) == SLAPD_USERS
    by_guid = {guid_text(entry.first("objectGUID")): entry for entry in entries}
    assert len(by_guid) == SLAPD_USERS
    expected = {guid_text(user.guid): user for user in slapd.users}
    assert by_guid.keys() == expected.keys()
    assert all(is_disabled(by_guid[key].first("userAccountControl")) == user.disabled for key, user in expected.items())


def test_one_level_and_mapping_filter(slapd):
    conn = ldap_source.open_bound(settings_for(slapd))
    try:
        staff = search_all(conn, slapd.ous[0], search_filter("(title=Analyst)"), recursive=False,
                                       attributes=["title"])
        below_base = search_all(conn, slapd.base_dn, BASE_FILTER, recursive=False)
    finally:
        ldap_source.close(conn)
    expected = [user for user in slapd.users if user.ou_dn == slapd.ous[0] and user.title == "Analyst"]
    assert len(staff) == len(expected) > 0
    assert below_base == []  # people live in OUs, not directly under the base


@pytest.mark.parametrize("value", ["*)(uid=*", "*", "a*", ")(objectClass=*"])
def test_values_in_filters_are_literal(slapd, value):
    conn = ldap_source.open_bound(settings_for(slapd))
    try:
        assert search_all(conn, slapd.base_dn, equality_filter("sAMAccountName", value)) == []
        first = slapd.users[0]
        found = search_all(conn, slapd.base_dn, equality_filter("sAMAccountName", first.sam),
                                       attributes=["mail"])
    finally:
        ldap_source.close(conn)
    assert [entry.first("mail") for entry in found] == [first.mail.encode()]


def test_unknown_ca_is_refused_naming_the_ca_file_setting(slapd, tmp_path):
    stranger = make_ca(tmp_path, "Somebody Else's CA")
    for ldaps in (True, False):
        settings = settings_for(slapd, ldaps=ldaps, ca_file=str(stranger.cert_file))
        with pytest.raises(SourceError, match="not signed by a CA in the CA file .* or this computer's trusted CAs: set the local setting ca_file"):
            ldap_source.open_bound(settings)
    with pytest.raises(SourceError, match="not signed by a CA in this computer's trusted CAs"):
        ldap_source.open_bound(settings_for(slapd, ca_file=""))
    with pytest.raises(SourceError, match="cannot be read as PEM"):
        ldap_source.open_bound(settings_for(slapd, ca_file=str(tmp_path / "missing.pem")))


@pytest.mark.parametrize("ldaps", [True, False])
def test_host_name_the_certificate_does_not_name_is_refused(slapd, ldaps):
    settings = settings_for(slapd, ldaps=ldaps, host=slapd.other_host)
    with pytest.raises(SourceError, match=f"does not name {slapd.other_host}"):
        ldap_source.open_bound(settings)


def test_localhost_is_named_by_the_certificate(slapd):
    assert len(read_all(slapd, settings_for(slapd, host="localhost"), slapd.ous[0])) > 0


def test_wrong_password_is_explained_without_the_password(slapd):
    with pytest.raises(SourceError) as caught:
        ldap_source.open_bound(settings_for(slapd, password="Wrong.Password.42"))
    assert "invalidCredentials" in str(caught.value) and "Wrong.Password.42" not in str(caught.value)


def test_ldaps_on_the_plain_port_is_explained(slapd):
    record = connection_record(slapd, [1], use_ssl=True)
    record["port"] = str(slapd.port)
    with pytest.raises(SourceError, match="does not seem to speak LDAPS"):
        ldap_source.open_bound(ldap_source.settings_from(record, {"ca_file": slapd.ca_file}))
    record = connection_record(slapd, [1], use_ssl=False)
    record["port"] = str(slapd.ldaps_port)
    with pytest.raises(SourceError, match="closed the connection before StartTLS: if the port is LDAPS"):
        ldap_source.open_bound(ldap_source.settings_from(record, {"ca_file": slapd.ca_file}))


def test_unresolvable_host_is_explained(slapd):
    record = connection_record(slapd, [1])
    record["hostname"] = "dc.nonexistent.invalid"
    settings = ldap_source.settings_from(record, {})
    with pytest.raises(SourceError, match="does not resolve"):
        ldap_source.resolve(settings)
    with pytest.raises(SourceError, match="does not resolve"):
        ldap_source.open_bound(settings)


def test_missing_mapping_dn(slapd):
    conn = ldap_source.open_bound(settings_for(slapd))
    try:
        assert ldap_source.dn_exists(conn, slapd.ous[0]) is True
        assert ldap_source.dn_exists(conn, f"OU=Nowhere,{slapd.base_dn}") is False
        with pytest.raises(SourceError, match="does not exist"):
            search_all(conn, f"OU=Nowhere,{slapd.base_dn}", BASE_FILTER)
    finally:
        ldap_source.close(conn)


def test_server_stopping_mid_read_fails_the_whole_read(fresh_slapd):
    conn = ldap_source.open_bound(settings_for(fresh_slapd))
    real_search, pages = conn.search, []

    def search_then_stop(*args, **kwargs):
        if pages:
            fresh_slapd.stop()
        pages.append(kwargs.get("paged_cookie"))
        return real_search(*args, **kwargs)

    conn.search = search_then_stop
    with pytest.raises(SourceError, match="failed after 10 entries.*nothing was written"):
        search_all(conn, fresh_slapd.base_dn, BASE_FILTER, page_size=10)
    assert len(pages) == 2


def test_check_passes_every_step(slapd):
    halo = FakeHalo({"Site": [{"id": 1, "name": "Head Office"}, {"id": 2, "name": "London"}, {"id": 3, "name": "NY"}]})
    halo.get = lambda path, params=None: halo.record("Site", int(path.split("/")[1]))
    ctx = RunContext(halo=halo, log=logging.getLogger("test"), client_id="halo-integrator",
                     local_settings={"ca_file": slapd.ca_file})
    checks = active_directory.INTEGRATION.check(ctx, connection_record(slapd, [1, 2, 3], use_ssl=False))
    assert [check.ok for check in checks] == [True] * len(checks), checks
    assert len(checks) == 5 + 3 + 3  # settings, host, port, TLS, bind; 3 OUs; 3 sites
    assert checks[3].detail == "StartTLS" and {check.prerequisite for check in checks} == {
        prerequisite.key for prerequisite in active_directory.INTEGRATION.prerequisites}


def test_check_stops_at_an_untrusted_certificate(slapd, tmp_path):
    stranger = make_ca(tmp_path, "Somebody Else's CA")
    ctx = RunContext(halo=FakeHalo(), log=logging.getLogger("test"), client_id="halo-integrator",
                     local_settings={"ca_file": str(stranger.cert_file)})
    ctx.halo.get = lambda path, params=None: {"id": 1, "name": "Head Office"}
    record = connection_record(slapd, [1], use_ssl=True)
    checks = {check.label: check for check in active_directory.INTEGRATION.check(ctx, record)}
    tls = checks["TLS certificate is trusted and names the host"]
    assert not tls.ok and "ca_file" in tls.detail
    assert checks["Bind with the connection's account"].detail.startswith("not run")
    assert checks["Each mapped OU exists"].detail.startswith("not run")


def test_plain_ldap_needs_the_local_setting(slapd):
    record = connection_record(slapd, [1], use_ssl=False)
    with pytest.raises(SourceError, match="allow_plain_ldap"):
        ldap_source.settings_from(record, {"starttls": "false"})
    settings = ldap_source.settings_from(record, {"starttls": False, "allow_plain_ldap": "true"})
    assert settings.plain
    conn = ldap_source.open_bound(settings)  # slapd allows simple binds in clear; AD would not
    assert isinstance(conn, ldap3.Connection) and conn.bound
    ldap_source.close(conn)


def test_entries_decoded_lean_are_what_ldap3_decodes(slapd):
    """search_pages decodes entries itself (DN and raw values only); ldap3's own decoder agrees, and is back after."""
    attributes = ["objectGUID", "userAccountControl", "displayName", "sAMAccountName", "mail", "memberOf", "title"]
    conn = ldap_source.open_bound(settings_for(slapd))
    try:
        lean = search_all(conn, slapd.base_dn, BASE_FILTER, attributes=attributes)
        full = conn.extend.standard.paged_search(slapd.base_dn, BASE_FILTER, attributes=attributes, paged_size=1000,
                                                 generator=False)
    finally:
        ldap_source.close(conn)
    assert all("attributes" in item for item in full)  # ldap3's own decoder again
    expected = {item["dn"]: {name.lower(): values for name, values in item["raw_attributes"].items()}
                for item in full if item["type"] == "searchResEntry"}
    assert {entry.dn: entry.attributes for entry in lean} == expected
    assert len(expected) == SLAPD_USERS and any("memberof" in values for values in expected.values())
