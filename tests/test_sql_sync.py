"""The SQL integrations through the core (read, bind, plan, apply, remember) against a real PostgreSQL and
an in-memory Halo that answers with lean lists: identity, updates, what is kept, what is deactivated."""

from __future__ import annotations

import pytest

from halointegrator.engine.status import ConnectionState
from integrations.sql.declarations import LANSWEEPER_INTEGRATION, SQL_IMPORT_INTEGRATION
from tests.core_helpers import run_connection
from tests.fake_halo import FakeHalo
from tests.sql_helpers import (
    ASSET_TYPES, SITES, USERS, DeviceTable, asset_import, connection_fields, devices, user_import,
)

pytestmark = pytest.mark.postgres
WINDOWS, PRINTER, LAPTOP = 3, 4, 1
LONDON, PARIS, HEAD_OFFICE = 2, 5, 1


@pytest.fixture
def table(postgres):
    made = DeviceTable.create(postgres, devices(30))
    yield made
    made.drop()


def halo(*assets: dict) -> FakeHalo:
    return FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES, "Users": USERS, "Asset": list(assets)})


def sync(record, fake, state, **options):
    return run_connection(SQL_IMPORT_INTEGRATION, record, fake, state=state, **options)


def assets_by_serial(fake: FakeHalo) -> dict[str, dict]:
    return {asset["key_field"]: asset for asset in fake.records("Asset")}


def test_first_sync_creates_every_row_and_an_unchanged_one_posts_nothing(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    first = sync(asset_import(postgres, table.name), fake, state)
    assert first.ok and first.counts["create"] == 30, first.failure
    made = assets_by_serial(fake)["SN-0007"]
    assert (made["inventory_number"], made["site_id"], made["assettype_id"]) == ("PC-0007", LONDON, WINDOWS)
    assert made["fields"] == [{"id": 144, "value": 8192}] and made["users"] == []
    assert any(note.startswith("Read 30 row(s) from the database in") for note in first.notes)
    fake.calls.clear()
    again = sync(asset_import(postgres, table.name), fake, state)
    assert again.ok and again.summary() == "nothing to change"
    assert fake.posts == [] and fake.reads_by_id == []


def test_a_changed_row_updates_only_what_changed(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    sync(asset_import(postgres, table.name), fake, state)
    table.sql("UPDATE {table} SET name = 'Renamed', site = 'Paris', owner = 'user003@example.com' "
              "WHERE serial = 'SN-0004'")
    fake.calls.clear()
    report = sync(asset_import(postgres, table.name), fake, state)
    (post,) = fake.posts
    target = assets_by_serial(fake)["SN-0004"]
    assert post.payloads == ({"id": target["id"], "inventory_number": "Renamed", "site_id": PARIS,
                              "users": [{"id": 103}]},)
    assert report.counts["update"] == 1


def test_a_row_gone_stays_active_unless_the_connection_asks_for_deactivation(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    sync(asset_import(postgres, table.name), fake, state)
    table.sql("DELETE FROM {table} WHERE serial IN ('SN-0002', 'SN-0003')")
    kept = sync(asset_import(postgres, table.name), fake, state)
    assert kept.counts["deactivate"] == 0 and assets_by_serial(fake)["SN-0002"]["inactive"] is False
    asked = sync(asset_import(postgres, table.name), fake, state, local={"deactivate_missing": True})
    assert asked.counts["deactivate"] == 2
    gone = assets_by_serial(fake)
    assert gone["SN-0002"]["inactive"] is True and gone["SN-0003"]["inactive"] is True
    assert gone["SN-0004"]["inactive"] is False
    table.insert(devices(1, start=2))  # it comes back: reactivated
    back = sync(asset_import(postgres, table.name), fake, state, local={"deactivate_missing": True})
    assert back.counts["update"] == 1 and assets_by_serial(fake)["SN-0002"]["inactive"] is False


def test_many_rows_gone_at_once_are_held_back_by_the_guard(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    local = {"deactivate_missing": True}
    sync(asset_import(postgres, table.name), fake, state, local=local)
    table.sql("DELETE FROM {table} WHERE serial > 'SN-0012'")
    report = sync(asset_import(postgres, table.name), fake, state, local=local)
    assert report.counts["deactivate"] == 0 and "Refused to deactivate 18 of the 30" in report.refused[0]
    table.sql("DELETE FROM {table}")  # the query returns nobody: an empty read is rarely the truth
    empty = sync(asset_import(postgres, table.name), fake, state, local={**local, "allow_mass_deactivation": True})
    assert empty.counts["deactivate"] == 0 and "returned nobody for Devices 21" in " ".join(empty.refused)


def test_skipped_rows_keep_their_halo_records_as_they_are(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    local = {"deactivate_missing": True}
    sync(asset_import(postgres, table.name), fake, state, local=local)
    table.sql("UPDATE {table} SET kind = 'Toaster' WHERE serial = 'SN-0005'")  # no such type, no default type
    table.insert([("SN-0006", "PC-0006 twin", "London", "Windows", 1, None)])  # SN-0006 now on two rows
    report = sync(asset_import(postgres, table.name), fake, state, local=local)
    assert report.ok and report.counts["deactivate"] == 0
    assert any("no Halo asset type is called 'Toaster'" in note for note in report.notes)
    assert any("serial 'SN-0006' is on 2 rows" in note for note in report.notes)
    assert "2 asset(s) whose rows were skipped keep their Halo records as they are." in report.notes
    assert assets_by_serial(fake)["SN-0005"]["inactive"] is False and report.skipped == 3


def test_null_and_duplicate_keys_are_skipped_with_a_sentence_each(postgres, table) -> None:
    table.insert([(None, "No serial", "London", "Windows", 1, None), ("  ", "Blank", "London", "Windows", 1, None),
                  ("SN-0001", "Twin", "London", "Windows", 1, None)])
    fake = halo()
    report = sync(asset_import(postgres, table.name), fake, ConnectionState())
    assert report.counts["create"] == 29 and report.skipped == 4
    skipped = [note for note in report.notes if "skipped" in note or "is on" in note]
    assert skipped == ["Row 31: the key column 'serial' is empty: skipped.",
                       "Row 32: the key column 'serial' is empty: skipped.",
                       "serial 'SN-0001' is on 2 rows (1, 33): none of them is imported, as the Integrator cannot "
                       "tell which is right; make the query return one row per key."]


def test_update_only_creates_nothing_and_updates_what_halo_has(postgres, table) -> None:
    existing = {"id": 7, "key_field": "sn-0003", "inventory_number": "old name", "site_id": LONDON,
                "assettype_id": LAPTOP, "inactive": False}
    fake = halo(existing)
    report = sync(asset_import(postgres, table.name, updateonly=True), fake, ConnectionState())
    assert report.counts["create"] == 0 and report.counts["update"] == 1
    assert "29 asset(s) not in Halo were not created: the import is set to update only." in report.notes
    assert len(fake.records("Asset")) == 1
    updated = fake.record("Asset", 7)
    assert (updated["inventory_number"], updated["assettype_id"]) == ("PC-0003", WINDOWS)


def test_dont_update_site_sets_the_site_on_create_only(postgres, table) -> None:
    fake, state = halo(), ConnectionState()
    record = asset_import(postgres, table.name, dontupdatesite=True)
    sync(record, fake, state)
    assert assets_by_serial(fake)["SN-0001"]["site_id"] == LONDON
    table.sql("UPDATE {table} SET site = 'Paris', name = 'Moved' WHERE serial = 'SN-0001'")
    sync(record, fake, state)
    moved = assets_by_serial(fake)["SN-0001"]
    assert (moved["site_id"], moved["inventory_number"]) == (LONDON, "Moved")


def test_a_lost_state_finds_every_asset_again_without_a_duplicate(postgres, table) -> None:
    fake = halo()
    sync(asset_import(postgres, table.name), fake, ConnectionState())
    fake.calls.clear()
    again = sync(asset_import(postgres, table.name), fake, ConnectionState())
    assert again.counts["create"] == 0 and len(fake.records("Asset")) == 30
    # What the list cannot show (the asset's users) is written once, since nothing says what Halo holds.
    assert again.counts["update"] == 30 and all(set(p) == {"id", "users"} for c in fake.posts for p in c.payloads
                                                if c.path == "Asset")


def test_an_identifier_that_is_an_asset_field_finds_the_asset_by_that_field(postgres, table) -> None:
    record = asset_import(postgres, table.name, assetimportidentifier=150)  # no asset type's key field
    fake, state = halo(), ConnectionState()
    first = sync(record, fake, state)
    assert first.counts["create"] == 30
    made = fake.records("Asset")[0]
    assert "key_field" not in made and {"id": 150, "value": "SN-0001"} in made["fields"]
    assert sync(record, fake, state).summary() == "nothing to change"
    lost = sync(record, fake, ConnectionState())  # found again by the field's value: no duplicate
    assert lost.counts["create"] == 0 and len(fake.records("Asset")) == 30


def test_a_users_import_takes_over_the_halo_user_with_the_same_email(postgres) -> None:
    fake, state = FakeHalo({"Site": SITES, "Users": [
        {"id": 5, "name": "Typed by hand", "emailaddress": "PERSON0003@example.com", "site_id": LONDON}]}), ConnectionState()
    first = sync(user_import(postgres), fake, state)
    people = [p for p in postgres.people if p.email]
    assert first.counts["create"] == len({p.email for p in people}) - 2  # person0002 twice; person0003 exists
    assert fake.record("Users", 5)["name"] == "Person 0003"
    zoe = next(user for user in fake.records("Users") if user.get("emailaddress") == "person0007@example.com")
    assert (zoe["name"], zoe["site_id"]) == ("Zoë Ødegård", 6)
    fake.calls.clear()
    assert sync(user_import(postgres), fake, state).summary().startswith("nothing to change")
    assert fake.posts == []


def test_lansweeper_with_its_default_query(postgres) -> None:
    control = {"id": 1, "halointegrator_lansweeper": True, "lansweeper_sqlserver": postgres.host,
               "lansweeper_sql_port": str(postgres.port), "lansweeper_sqldatabase": postgres.database,
               "lansweeper_sqlusername": postgres.user, "lansweeper_new_sql_password": postgres.password,
               "lansweeper_sqldriver": postgres.driver, "lansweeper_defaultsite": HEAD_OFFICE,
               "lansweeper_default_assettype": LAPTOP}
    fake, state = halo(), ConnectionState()
    first = run_connection(LANSWEEPER_INTEGRATION, control, fake, state=state)
    active = [a for a in postgres.assets if a.state == 1]
    serials = [a.serial.strip() for a in active if a.serial and a.serial.strip()]
    assert first.ok and first.counts["create"] == len({s for s in serials if serials.count(s) == 1})
    user_one = next(a for a in active if a.username == "user001" and a.serial and serials.count(a.serial) == 1)
    assert assets_by_serial(fake)[user_one.serial]["users"] == [{"id": 101}]
    fake.calls.clear()
    assert run_connection(LANSWEEPER_INTEGRATION, control, fake, state=state).summary().startswith("nothing")
    assert fake.posts == []


def test_stop_ends_a_long_read_between_chunks_and_progress_counts_the_rows(postgres) -> None:
    from halointegrator.errors import Cancelled
    from tests.core_helpers import context_for

    record = {"id": 30, "name": "Numbers", "table": "Device", "integrator_enabled": True,
              **connection_fields(postgres), "keyfield": "n", "defaultsite": 1,
              "sql": "SELECT n FROM generate_series(1, 5000) AS n"}
    seen = []
    ctx = context_for(halo(), local={"default_asset_type": "Laptop"})
    ctx.progress = lambda stage, done, total: seen.append(stage)
    read = SQL_IMPORT_INTEGRATION.read(ctx, record)
    assert len(read.kinds[0].wanted) == 5000 and seen[-1] == "Reading Numbers: 5,000 rows"
    ctx.cancel.set()
    with pytest.raises(Cancelled, match="while reading Numbers from the database; nothing was written"):
        SQL_IMPORT_INTEGRATION.read(ctx, record)


PADDING = ("SELECT 'PAD-' || g AS serial, 'pad' AS name, 'London' AS site, 'Windows' AS kind, 1 AS ram, "
           "NULL::text AS owner FROM generate_series(1, 300) AS g")


def test_records_created_in_the_window_do_not_widen_the_share_that_may_be_deactivated(postgres) -> None:
    """Someone who can edit the query adds 300 throw-away rows for a run, then returns only those: the 30 real
    assets are all of what was there before this week, so deactivating them all is refused."""
    table = DeviceTable.create(postgres, devices(30))
    try:
        fake, state, local = halo(), ConnectionState(), {"deactivate_missing": True}
        real = f"SELECT serial, name, site, kind, ram, owner FROM {table.name}"
        first = sync(asset_import(postgres, table.name, sql=real), fake, state, local=local)
        assert first.counts["create"] == 30, first.failure
        padded = sync(asset_import(postgres, table.name, sql=f"{real} UNION ALL {PADDING}"), fake, state, local=local)
        assert padded.counts["create"] == 300, padded.failure
        only_padding = sync(asset_import(postgres, table.name, sql=PADDING), fake, state, local=local)
        gone = [serial for serial, asset in assets_by_serial(fake).items() if asset["inactive"] and serial.startswith("SN-")]
        assert only_padding.counts["deactivate"] == 0, f"all {len(gone)} real assets were deactivated in one run"
        assert any("were here before the last 7 days" in text for text in only_padding.refused), only_padding.refused
    finally:
        table.drop()
