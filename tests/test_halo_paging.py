"""HaloClient.list: every record or an error, never a short list."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from halointegrator.errors import HaloError
from tests.fixtures_halo import API, api_calls, make_client


def users(*ids: int) -> list[dict]:
    return [{"id": user_id, "name": f"User {user_id}"} for user_id in ids]


def pages_asked(halo_api) -> list[dict[str, str]]:
    return [{k: v[-1] for k, v in parse_qs(urlsplit(call.request.url).query).items()} for call in api_calls(halo_api)]


def test_pages_until_record_count(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(1, 2)})
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(3, 4)})
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(5)})
    records = make_client(time).list("Users", "users", params={"includeinactive": "true"})
    assert [record["id"] for record in records] == [1, 2, 3, 4, 5]
    asked = pages_asked(halo_api)
    assert [page["page_no"] for page in asked] == ["1", "2", "3"]
    assert asked[0] == {"includeinactive": "true", "pageinate": "true", "page_size": "2", "page_no": "1"}


def test_page_size_argument_wins(halo_api, time):
    halo_api.get(API + "/Site", json={"record_count": 1, "sites": users(1)})
    make_client(time).list("Site", "sites", page_size=500)
    assert pages_asked(halo_api)[0]["page_size"] == "500"


def test_bare_array_pages_stop_at_a_short_page(halo_api, time):
    halo_api.get(API + "/Agent", json=users(1, 2))
    halo_api.get(API + "/Agent", json=users(3))
    assert [agent["id"] for agent in make_client(time).list("Agent", None)] == [1, 2, 3]
    assert len(api_calls(halo_api)) == 2


def test_bare_array_pages_stop_at_an_empty_page(halo_api, time):
    halo_api.get(API + "/Agent", json=users(1, 2))
    halo_api.get(API + "/Agent", json=[])
    assert len(make_client(time).list("Agent", None)) == 2


def test_an_answer_that_ignores_paging_is_taken_whole(halo_api, time):
    halo_api.get(API + "/Agent", json=users(1, 2, 3, 4, 5))
    assert len(make_client(time).list("Agent", None)) == 5
    assert len(api_calls(halo_api)) == 1


def test_zero_records(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 0})
    assert make_client(time).list("Users", "users") == []


def test_empty_page_before_record_count_is_a_short_read(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(1, 2)})
    halo_api.get(API + "/Users", json={"record_count": 5, "users": []})
    with pytest.raises(HaloError, match="counted 5 records but the pages held 2"):
        make_client(time).list("Users", "users")


def test_repeated_page_raises(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 9, "users": users(1, 2)})
    with pytest.raises(HaloError, match="page 2 repeats an earlier page"):
        make_client(time).list("Users", "users")


def test_shifted_pages_that_lose_a_record_raise(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 4, "users": users(1, 2)})
    halo_api.get(API + "/Users", json={"record_count": 4, "users": users(2, 3)})  # a record was inserted before 2
    halo_api.get(API + "/Users", json={"record_count": 4, "users": []})
    with pytest.raises(HaloError, match="records may have changed"):
        make_client(time).list("Users", "users")


def test_failed_middle_page_raises_and_nothing_is_returned(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(1, 2)})
    halo_api.get(API + "/Users", status=500, json={"Message": "Timeout expired"})
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(5)})
    with pytest.raises(HaloError, match="Timeout expired"):
        make_client(time).list("Users", "users")


def test_retried_middle_page_still_completes(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 3, "users": users(1, 2)})
    halo_api.get(API + "/Users", status=503)
    halo_api.get(API + "/Users", json={"record_count": 3, "users": users(3)})
    assert len(make_client(time).list("Users", "users")) == 3


def test_missing_envelope_key_raises(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 3, "clients": users(1)})
    with pytest.raises(HaloError, match="no 'users' list .*clients"):
        make_client(time).list("Users", "users")


def test_page_of_non_records_raises(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 2, "users": [1, 2]})
    with pytest.raises(HaloError, match="something other than records"):
        make_client(time).list("Users", "users")


def test_record_count_that_drops_during_the_read_is_followed(halo_api, time):
    halo_api.get(API + "/Users", json={"record_count": 5, "users": users(1, 2)})
    halo_api.get(API + "/Users", json={"record_count": 3, "users": users(3)})
    assert len(make_client(time).list("Users", "users")) == 3
