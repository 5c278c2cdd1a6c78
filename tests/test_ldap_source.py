"""The LDAP source without a server: connection settings, complete paging, and what failures say."""

from __future__ import annotations

import threading

import pytest
from ldap3.core.exceptions import LDAPSessionTerminatedByServerError

from halointegrator.errors import Cancelled, SourceError
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.directory import LdapSettings
from tests.fixtures_directory import search_all

COOKIE = "1.2.840.113556.1.4.319"


@pytest.mark.parametrize("connection, local, expected", [
    ({"port": "", "use_ssl": False}, {}, (389, False, True)),
    ({"port": "", "use_ssl": True}, {}, (636, True, False)),
    ({"port": "636", "use_ssl": False}, {}, (636, True, False)),
    ({"port": "3269"}, {}, (3269, True, False)),
    ({"port": "3268"}, {}, (3268, False, True)),
    ({"port": " 10389 ", "use_ssl": True}, {}, (10389, True, False)),
    ({"port": None}, {"starttls": "false", "allow_plain_ldap": "yes"}, (389, False, False)),
    ({"port": "389"}, {"starttls": True, "allow_plain_ldap": True}, (389, False, True)),
])
def test_transport_from_port_and_settings(connection, local, expected):
    settings = ldap_source.settings_from({"hostname": "dc1", **connection}, local)
    assert (settings.port, settings.ldaps, settings.starttls) == expected


@pytest.mark.parametrize("connection, local, message", [
    ({"hostname": " "}, {}, "no host name"),
    ({"hostname": "dc1", "port": "ldaps"}, {}, "is not a number"),
    ({"hostname": "dc1"}, {"starttls": False}, "plain LDAP is not allowed"),
])
def test_settings_refused(connection, local, message):
    with pytest.raises(SourceError, match=message):
        ldap_source.settings_from(connection, local)


@pytest.mark.parametrize("pagesize, expected", [(None, 1000), (0, 1000), (250, 250), (5000, 1000), ("300", 300)])
def test_page_size_defaults_and_caps_at_1000(pagesize, expected):
    assert ldap_source.settings_from({"hostname": "dc1", "pagesize": pagesize}, {}).page_size == expected


def test_password_from_halo_else_local_and_never_shown():
    halo = ldap_source.settings_from({"hostname": "dc1", "integrator_password": "From.Halo.1"}, {"bind_password": "L"})
    local = ldap_source.settings_from({"hostname": "dc1", "integrator_password": ""}, {"bind_password": "Local.2"})
    assert (halo.password, local.password) == ("From.Halo.1", "Local.2")
    assert "From.Halo.1" not in repr(halo) and "Local.2" not in repr(local)


class PagedConnection:
    """Answers searches page by page like ldap3's sync strategy (result, response), or fails."""

    def __init__(self, pages: list[tuple[dict, list[dict]]], fail_at: int | None = None):
        self.pages, self.fail_at, self.calls = pages, fail_at, []

    def search(self, base, search_filter, scope, *, attributes, paged_size, paged_cookie):
        self.calls.append((paged_size, paged_cookie))
        if self.fail_at == len(self.calls):
            raise LDAPSessionTerminatedByServerError("session terminated by server")
        self.result, self.response = self.pages[len(self.calls) - 1]
        return True


def page(entries: int, cookie: bytes | None, start: int = 0, result: int = 0, description: str = "success",
         references: int = 0) -> tuple[dict, list[dict]]:
    response = [{"type": "searchResEntry", "dn": f"CN=P{n},OU=S", "raw_attributes": {"sAMAccountName": [b"p%d" % n]}}
                for n in range(start, start + entries)]
    response += [{"type": "searchResRef", "uri": ["ldaps://other/DC=x"]}] * references
    controls = {COOKIE: {"value": {"size": 0, "cookie": cookie}}} if cookie is not None else {}
    return {"result": result, "description": description, "controls": controls, "message": ""}, response


def test_every_page_is_read_and_references_skipped():
    conn = PagedConnection([page(3, b"c1", 0, references=1), page(3, b"c2", 3), page(2, b"", 6, references=2)])
    entries = search_all(conn, "OU=S", "(objectClass=user)", page_size=3)
    assert [entry.dn for entry in entries] == [f"CN=P{n},OU=S" for n in range(8)]
    assert entries[0].attributes == {"samaccountname": [b"p0"]}
    assert conn.calls == [(3, None), (3, b"c1"), (3, b"c2")]


@pytest.mark.parametrize("failing_page, message", [
    (page(0, None, result=4, description="sizeLimitExceeded"), "size limit after 3 entries"),
    (page(0, None, result=32, description="noSuchObject"), "does not exist"),
    (page(0, None, result=10, description="referral"), "referred the read"),
    (page(0, None, result=51, description="busy"), "failed: busy"),
])
def test_a_failed_page_fails_the_whole_read(failing_page, message):
    conn = PagedConnection([page(3, b"c1"), failing_page])
    with pytest.raises(SourceError, match=message):
        search_all(conn, "OU=S", "(objectClass=user)", page_size=3)


def test_a_dropped_connection_fails_the_whole_read():
    conn = PagedConnection([page(3, b"c1"), page(3, b"c2")], fail_at=2)
    with pytest.raises(SourceError, match="failed after 3 entries .*nothing was written"):
        search_all(conn, "OU=S", "(objectClass=user)", page_size=3)


def test_stop_between_pages():
    cancel = threading.Event()
    conn = PagedConnection([page(3, b"c1"), page(3, b"")])
    real_search = conn.search

    def search_then_cancel(*args, **kwargs):
        cancel.set()
        return real_search(*args, **kwargs)

    conn.search = search_then_cancel
    with pytest.raises(Cancelled, match="nothing was written"):
        search_all(conn, "OU=S", "(objectClass=user)", page_size=3, cancel=cancel)
    assert len(conn.calls) == 1


SETTINGS = LdapSettings("dc1.corp.com", 636, True, False, None, "svc@corp.com", "Secret.Value.9")


@pytest.mark.parametrize("result, expected", [
    ({"result": 8, "description": "strongerAuthRequired"}, "The server requires signing or TLS; enable LDAPS or StartTLS"),
    ({"result": 13, "description": "confidentialityRequired"}, "requires signing or TLS"),
    ({"result": 49, "description": "invalidCredentials", "message": "80090308: LdapErr: DSID-0C09044E, data 52e"},
     "refused the user name or password for svc@corp.com"),
    ({"result": 53, "description": "unwillingToPerform", "message": "no anonymous"}, "failed: unwillingToPerform"),
])
def test_bind_refusals_are_explained(result, expected):
    message = ldap_source.explain_bind_result(result, SETTINGS)
    assert expected in message and "Secret.Value.9" not in message


def test_missing_credentials_are_refused_before_binding():
    empty = LdapSettings("dc1", 636, True, False, None, "", "")
    with pytest.raises(SourceError, match="no user name or password"):
        ldap_source.bind(object(), empty)


def test_pages_come_one_at_a_time_and_the_response_is_let_go():
    conn = PagedConnection([page(3, b"c1", 0), page(2, b"", 3)])
    pages = ldap_source.search_pages(conn, "OU=S", "(objectClass=user)", page_size=3)
    first = next(pages)
    assert [entry.dn for entry in first] == ["CN=P0,OU=S", "CN=P1,OU=S", "CN=P2,OU=S"]
    assert len(conn.calls) == 1 and conn.response is None
    assert [entry.dn for entry in next(pages)] == ["CN=P3,OU=S", "CN=P4,OU=S"]
    assert next(pages, None) is None and len(conn.calls) == 2


def ber(value) -> tuple:
    """An element as ldap3's fast decoder leaves it: (class, constructed, tag, value)."""
    return (0, isinstance(value, list), 4, value)


def entry_message(dn: bytes, attributes: dict[bytes, list[bytes]], **extra) -> dict:
    payload = [ber(dn), ber([ber([ber(name), ber([ber(value) for value in values])])
                             for name, values in attributes.items()])]
    return {"protocolOp": 4, "payload": payload, "controls": None, **extra}


def test_lean_decoding_keeps_the_dn_and_raw_values_only():
    full = []
    message = entry_message(b"CN=Ada,OU=S", {b"sAMAccountName": [b"ada"], b"memberOf": [b"CN=G1", b"CN=G2"]})
    assert ldap_source._decode_lean(full.append, message) == {
        "type": "searchResEntry", "dn": "CN=Ada,OU=S",
        "raw_attributes": {"sAMAccountName": [b"ada"], "memberOf": [b"CN=G1", b"CN=G2"]}}
    assert full == []


@pytest.mark.parametrize("message", [
    {"protocolOp": 5, "payload": [], "controls": None},  # searchResDone
    entry_message(b"CN=A", {b"cn": [b"a"]}, controls=[b"control"]),
    {"protocolOp": 4, "payload": [ber(b"CN=A")], "controls": None},  # a shape not known here
    entry_message(b"CN=A", {b"\xff": [b"a"]}),
])
def test_lean_decoding_leaves_the_rest_to_ldap3(message):
    assert ldap_source._decode_lean(lambda given: ("ldap3", given), message) == ("ldap3", message)


def test_lean_decoding_lasts_for_the_read_only():
    class Strategy:
        def decode_response_fast(self, message):
            return "ldap3"

    conn = PagedConnection([page(1, b"")])
    conn.strategy, conn.fast_decoder = Strategy(), True
    seen = []
    real_search = conn.search

    def search(*args, **kwargs):
        seen.append(conn.strategy.decode_response_fast({"protocolOp": 5}))
        seen.append(conn.strategy.decode_response_fast(entry_message(b"CN=A", {})))
        return real_search(*args, **kwargs)

    conn.search = search
    assert len(search_all(conn, "OU=S", "(objectClass=user)")) == 1
    assert seen == ["ldap3", {"type": "searchResEntry", "dn": "CN=A", "raw_attributes": {}}]
    assert "decode_response_fast" not in vars(conn.strategy)
