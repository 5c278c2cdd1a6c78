"""Bad input, generated: whatever a directory, Graph or Halo sends, the Integrator maps it, skips it with a
reason, or fails with a clear IntegratorError; never another exception (which AUTO logs as a traceback).

Mapping functions get any Unicode, missing and repeated attributes, huge values and odd GUID bytes;
Halo's paged lists and Graph's pages get random JSON shapes (and bytes that are not JSON) through
`responses`.
"""

from __future__ import annotations

import json
import random
import re
import types
import uuid

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halointegrator.errors import IntegratorError
from halointegrator.halo.client import HaloClient
from halointegrator.http import RetryPolicy
from halointegrator.local.settings import HaloSettings
from integrations import active_directory
from integrations.active_directory import mapping as ad_mapping
from integrations.active_directory import source as ad_source
from integrations.entra.imports import imports_of
from integrations import entra as azure_ad
from integrations.entra import mapping as azure_mapping
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import FieldMap, MappingScope, SourceEntry
from integrations.entra.graph import DeltaResult, GraphClient, cloud_urls

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)


# ---- Active Directory mapping -------------------------------------------------------------------------

AD_NAMES = sorted({*ad_mapping.ALWAYS_READ, *ad_mapping.DEFAULT_FIELD_MAP.values(), "memberof", "manager",
                   "objectguid", "useraccountcontrol"})
attribute_values = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"CN=Ada\\, L.,OU=Staff,DC=example,DC=com", b"CN=,DC=", b"=,=,", b"514", b"-1", b"\xff\xfe",
                     b"x" * 100_000]),
)
guids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
entries = st.builds(
    lambda dn, attributes, guid: SourceEntry(dn, {**attributes, **({"objectguid": guid} if guid else {})}),
    st.text(max_size=60),
    st.dictionaries(st.sampled_from(AD_NAMES) | st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
                    st.lists(attribute_values, max_size=3), max_size=8),
    st.one_of(st.none(), guids.map(lambda raw: [raw]), st.lists(guids, min_size=2, max_size=3)),
)
mapping_rows = st.lists(st.one_of(json_values, st.fixed_dictionaries(
    {"ldap_field": st.text(max_size=12) | json_leaves, "nhd_field": st.sampled_from(sorted(ad_mapping.HALO_USER_TEXT_FIELDS)) | st.text(max_size=12)})),
    max_size=5)


@SETTINGS
@given(st.lists(entries, max_size=8), mapping_rows)
def test_ad_people_are_mapped_or_skipped_with_a_reason(people, rows):
    field_map, _notes = ad_mapping.build_field_map(rows, ad_mapping.DEFAULT_IDENTITY_FIELD)
    scope = MappingScope("Staff", "OU=Staff,DC=example,DC=com", site_id=2)
    wanted, notes = ad_mapping.map_users([(scope, people)], field_map)
    guids_seen = {ad_mapping.guid_text(person.first("objectguid")) for person in people} - {""}
    assert {record.key for record in wanted} == guids_seen
    assert len(notes) == sum(1 for person in people if not ad_mapping.guid_text(person.first("objectguid")))
    for record in wanted:
        assert uuid.UUID(record.key)
        assert record.fields["site_id"] == 2 and isinstance(record.fields["inactive"], bool)
        assert all(isinstance(value, str) for name, value in record.fields.items()
                   if name not in ("site_id", "client_id", "inactive"))
        json.dumps(record.fields)  # what is posted to Halo must be JSON


LDAP_RECORD_KEYS = ["ldap_strings", "mappings_user", "user_matching_fields", "uactguidmappingfield", "hostname",
                    "port", "use_ssl", "username", "integrator_password", "pagesize", "halointegrator_batch"]


@SETTINGS
@given(st.dictionaries(st.sampled_from(LDAP_RECORD_KEYS), json_values | st.sampled_from([1e999, "1e999", -1])),
       st.dictionaries(st.sampled_from(["starttls", "allow_plain_ldap", "ca_file", "bind_password"]), json_values))
def test_an_odd_ldap_connection_record_is_read_or_refused_in_words(record, local):
    try:
        ldap_source.settings_from(record, local)
        ad_source.configuration(record)
    except IntegratorError as error:
        assert str(error)


ENTRA_RECORD_KEYS = ["halo_integrator_import_list", "halo_integrator_import_types", "intune_enabled", "graph_host",
                     "graphendpoint", "mappings_user", "mappings_site", "mappings_device", "user_matching_fields",
                     "user_matching_list", "directoryid", "applicationid", "default_assettype", "defaultsite"]


@SETTINGS
@given(st.dictionaries(st.sampled_from(ENTRA_RECORD_KEYS), json_values | st.sampled_from([1e999, "1e999", -1])),
       st.dictionaries(st.sampled_from(["login_url", "graph_url", "app_secret"]), st.text(max_size=20)))
def test_an_odd_entra_connection_record_is_read_or_refused_in_words(record, local):
    record = {**record, "id": 1}
    imports_of(record)
    azure_mapping.user_mapping_from(record)
    azure_mapping.device_mapping_from(record)
    azure_mapping.matching_fields(record)
    cloud_urls(record, local)


@SETTINGS
@given(st.text(max_size=60), st.text(max_size=60))
def test_dn_helpers_take_any_text(dn, base):
    ad_mapping.first_rdn_value(dn)
    ad_mapping.scope_finder([MappingScope("x", base)])(dn)
    if ad_mapping.normalize_dn(dn):
        assert ad_mapping.scope_finder([MappingScope("x", dn)])(dn) == dn


@SETTINGS
@given(st.text(max_size=40))
def test_an_ldap_filter_value_is_escaped_back_to_itself(value):
    text = ad_mapping.equality_filter("sAMAccountName", value)
    escaped = text.split("(sAMAccountName=", 1)[1][:-2]
    assert re.fullmatch(r"(?:[^*()\\\x00]|\\[0-9a-f]{2})*", escaped)
    assert re.sub(r"\\([0-9a-f]{2})", lambda match: chr(int(match.group(1), 16)), escaped) == value


# ---- Entra ID mapping ---------------------------------------------------------------------------------

GRAPH_USER_KEYS = sorted(azure_mapping.GRAPH_USER_PROPERTIES | {"onPremisesExtensionAttributes"})
# The Graph client hands on only items with an id (it refuses a page holding one without: see below).
user_ids = st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=10))
graph_users = st.builds(
    lambda user_id, props: props | {"id": user_id},
    user_ids,
    st.dictionaries(st.sampled_from(GRAPH_USER_KEYS), json_values | st.sampled_from(["x" * 6000, "\u00e9\U0001f600" * 3000]),
                    max_size=8),
)
entra_connections = st.fixed_dictionaries({"id": st.integers(1, 5)}, optional={
    "mappings_user": st.lists(st.fixed_dictionaries({"thirdpartyname": st.sampled_from(GRAPH_USER_KEYS) | st.text(max_size=10),
                                                     "name": st.sampled_from(sorted(azure_mapping.HALO_USER_FIELDS))})
                              | json_values, max_size=4),
    "mappings_site": json_values, "mappings_device": json_values, "createunmatchedusers": json_values,
    "unmatchedusersite": json_values, "deactivate_users": json_values, "defaultsite": json_values,
    "default_assettype": json_values, "directoryid": json_values, "user_matching_fields": json_values,
})


@SETTINGS
@given(entra_connections, st.lists(graph_users, max_size=6))
def test_graph_users_are_mapped_or_skipped(connection, users):
    connection = {**connection, "createunmatchedusers": True, "unmatchedusersite": 4}
    mapping = azure_mapping.user_mapping_from(connection)
    wanted, skipped = azure_mapping.map_users(users, azure_mapping.Memberships(), mapping)
    assert len(wanted) + skipped == len(users)
    for record in wanted:
        assert isinstance(record.key, str) and record.key and record.fields["azureoid"] == record.key
        json.dumps(record.fields)
    azure_mapping.matching_fields(connection)


graph_devices = st.builds(
    lambda device_id, props: props | {"id": device_id},
    user_ids,
    st.dictionaries(st.sampled_from(sorted(azure_mapping.GRAPH_DEVICE_PROPERTIES)), json_values, max_size=6),
)


@SETTINGS
@given(entra_connections, st.lists(graph_devices, max_size=6))
def test_intune_devices_are_mapped_or_skipped(connection, devices):
    mapping = azure_mapping.device_mapping_from({**connection, "defaultsite": 1})
    wanted, skipped = azure_mapping.map_devices(devices, {}, mapping)
    assert len(wanted) + skipped == len(devices)
    for record in wanted:
        assert isinstance(record.key, str) and record.key
        json.dumps(record.fields)


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(["id", "@removed", "displayName"]), json_values), max_size=6))
def test_delta_items_are_taken_or_refused_in_words(items):
    result = DeltaResult()
    try:
        for item in items:
            result.add(item)
    except IntegratorError:
        return
    assert all(isinstance(key, str) for key in [*result.changed, *result.removed])


# ---- Halo's answers -------------------------------------------------------------------------------------

API = "https://acme.halopsa.com/api"
HALO_SETTINGS = HaloSettings(web_app_url="https://acme.halopsa.com", client_id="id", client_secret="s3cret",
                                      api_url=API, auth_url="https://acme.halopsa.com/auth", tenant="acme",
                                      page_size=2, request_budget=0, budget_window_seconds=0, timeout_seconds=5.0)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"record_count": json_values, "users": json_values}).map(lambda v: json.dumps(v).encode()),
    st.lists(st.dictionaries(st.sampled_from(["id", "name"]), json_values), max_size=3).map(
        lambda page: json.dumps({"record_count": 3, "users": page}).encode()),
    st.binary(max_size=30),
    st.just(b"[" * 50_000 + b"]" * 50_000),
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 404, 429, 500, 502])


def no_wait_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=2, max_throttled_attempts=2, sleep=lambda seconds: None,
                       rng=random.Random(1))


@SETTINGS
@given(st.lists(st.tuples(statuses, bodies, st.sampled_from(["application/json", "text/html", ""])),
                min_size=1, max_size=4))
def test_any_answer_to_a_halo_list_is_records_or_a_halo_error(pages):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post("https://acme.halopsa.com/auth/token", json={"access_token": "t0ken-value", "expires_in": 3600})
        for status, body, content_type in pages:
            mock.get(f"{API}/Users", status=status, body=body, content_type=content_type or None)
        client = HaloClient(HALO_SETTINGS, session=requests.Session(), retry=no_wait_retry())
        try:
            records = client.list("Users", "users")
        except IntegratorError as error:
            assert str(error) and "t0ken-value" not in str(error)
            return
    assert all(isinstance(record, dict) for record in records)


@SETTINGS
@given(st.tuples(statuses, bodies))
def test_any_answer_to_halos_token_request_is_a_token_or_a_clear_error(answer):
    status, body = answer
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post("https://acme.halopsa.com/auth/token", status=status, body=body)
        client = HaloClient(HALO_SETTINGS, session=requests.Session(), retry=no_wait_retry())
        try:
            assert isinstance(client.token(), str)
        except IntegratorError as error:
            assert "s3cret" not in str(error)


# ---- Graph's answers -------------------------------------------------------------------------------------

GRAPH = "https://graph.example.com"
LOGIN = "https://login.example.com"
graph_pages = st.one_of(
    bodies,
    st.fixed_dictionaries({"value": json_values}, optional={
        "@odata.nextLink": st.just(f"{GRAPH}/v1.0/users?$skiptoken=2") | json_values,
        "@odata.deltaLink": json_values}).map(lambda v: json.dumps(v).encode()),
)


def graph_client() -> GraphClient:
    return GraphClient(tenant="t", client_id="app", client_secret="Gr4ph-Secret", login_url=LOGIN, graph_url=GRAPH,
                       session=requests.Session(), retry=no_wait_retry())


@SETTINGS
@given(st.lists(st.tuples(statuses, graph_pages), min_size=1, max_size=3), st.booleans())
def test_any_graph_page_is_read_or_refused_in_words(pages, as_delta):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{LOGIN}/t/oauth2/v2.0/token", json={"access_token": "gr4ph-t0ken", "expires_in": 3600})
        for status, body in pages:
            mock.get(f"{GRAPH}/v1.0/users", status=status, body=body, content_type="application/json")
        client = graph_client()
        try:
            if as_delta:
                result = client.delta(f"{GRAPH}/v1.0/users")
                assert isinstance(result.delta_link, str) and result.delta_link
            else:
                items = client.list_all("/v1.0/users", {}, "users")
                assert all(isinstance(item, dict) for item in items)
        except IntegratorError as error:
            assert "gr4ph-t0ken" not in str(error)


@SETTINGS
@given(st.tuples(statuses, bodies))
def test_any_answer_to_the_microsoft_token_request_is_a_token_or_a_clear_error(answer):
    status, body = answer
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{LOGIN}/t/oauth2/v2.0/token", status=status, body=body)
        try:
            assert isinstance(graph_client().token(), str)
        except IntegratorError as error:
            assert "Gr4ph-Secret" not in str(error)


@pytest.mark.parametrize("body", [b"<html>Sign in</html>", b'{"value": [', b"[]", b'{"value": {"id": 1}}'])
def test_examples_of_graph_pages_that_are_not_pages(body):
    """The shapes the properties above found, kept as plain examples."""
    with responses.RequestsMock() as mock:
        mock.post(f"{LOGIN}/t/oauth2/v2.0/token", json={"access_token": "tok", "expires_in": 3600})
        mock.get(f"{GRAPH}/v1.0/users", body=body, content_type="application/json")
        with pytest.raises(IntegratorError, match="users"):
            graph_client().list_all("/v1.0/users", {}, "users")
