"""The in-memory Halo (tests/fake_halo.py) answers as the Halo sandbox does, so tests that use it test
what the sandbox, and Halo's document, would answer: lean list items, whole records by id, upserts."""

from __future__ import annotations

import pytest

from halointegrator.halo.client import HaloClient
from halointegrator.halo.resources import EVERY_USER
from halointegrator.local.settings import HaloSettings
from sandbox.halo_server import HaloSandbox
from tests.fake_halo import FakeHalo

USERS = [
    {"id": 5, "name": "Ada", "site_id": 2, "emailaddress": "ada@example.com", "third_party_guid": "g-1",
     "department": "Research", "activedirectory_dn": "CN=Ada,OU=Staff,DC=corp,DC=com", "inactive": False},
    {"id": 6, "name": "Bob", "site_id": 2, "azure_id": "oid-6", "azureoid": "oid-6", "azure_connectionid": 1,
     "inactive": True},
]
ASSETS = [{"id": 7, "inventory_number": "PC-7", "site_id": 2, "assettype_id": 1, "intune_id": "dev-7",
           "intune_connectionid": 1, "key_field": "SER7", "inactive": False}]
DERIVED = {"site_name", "client_id", "client_name", "assettype_name"}  # names the sandbox derives from ids


@pytest.fixture
def both():
    with HaloSandbox(seed={}) as sandbox:
        sandbox.add("sites", {"id": 2, "name": "London", "client_id": 1})
        sandbox.add("clients", {"id": 1, "name": "Acme"})
        sandbox.add("assettypes", {"id": 1, "name": "Laptop"})
        sandbox.add_many("users", USERS)
        sandbox.add_many("assets", ASSETS)
        client = HaloClient(HaloSettings(web_app_url=sandbox.url, client_id=sandbox.client_id,
                                         client_secret="sandbox-secret", tenant="sandbox", request_budget=0))
        yield client, FakeHalo({"Users": USERS, "Asset": ASSETS})
        client.close()


def without_derived(records):
    return [{name: value for name, value in record.items() if name not in DERIVED} for record in records]


def test_list_items_are_the_same_lean_records(both):
    client, fake = both
    params = dict(EVERY_USER)
    assert without_derived(client.list("Users", "users", params)) == without_derived(fake.list("Users", "users", params))
    assert without_derived(client.list("Asset", "assets")) == without_derived(fake.list("Asset", "assets"))
    assert "third_party_guid" not in fake.list("Users", "users", params)[0]


def test_a_read_by_id_is_the_same_whole_record(both):
    client, fake = both
    assert without_derived([client.get("Users/5")]) == without_derived([fake.get("Users/5")])
    assert fake.get("Users/5")["department"] == "Research"


def test_an_unknown_id_is_a_404_in_both(both):
    client, fake = both
    for halo in (client, fake):
        with pytest.raises(Exception) as raised:
            halo.get("Users/999")
        assert getattr(raised.value, "status", None) == 404


def test_upserts_leave_the_same_records(both):
    client, fake = both
    batch = [{"id": 5, "title": "Lead"}, {"name": "New", "site_id": 2, "third_party_guid": "g-new"}]
    answers = [halo.post("Users", [dict(record) for record in batch], idempotent=False) for halo in (client, fake)]
    created = [next(record for record in answer if record.get("third_party_guid") == "g-new") for answer in answers]
    assert all(isinstance(record["id"], int) for record in created)  # the id a create got comes back
    sandbox_users = without_derived(client.list("Users", "users", dict(EVERY_USER)))
    fake_users = without_derived(fake.list("Users", "users", dict(EVERY_USER)))
    strip = lambda users: sorted(({k: v for k, v in user.items() if k != "id"} for user in users), key=str)  # noqa: E731
    assert strip(sandbox_users) == strip(fake_users)
