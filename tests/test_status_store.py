"""The state file (engine/status.py): the sync status and the sources' state, read and written whole."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from halointegrator.engine.status import ConnectionState, Entry, KindStatus, StatusStore


@pytest.fixture
def store(tmp_path: Path) -> StatusStore:
    return StatusStore(tmp_path / "HaloIntegrator.state")


def test_round_trip_keeps_entries_gone_flags_checks_foreign_ids_and_the_source_state(store):
    state = ConnectionState({"user": KindStatus({"guid-1": Entry(5, {"department": "ab12"}),
                                                 "guid-2": Entry(6, {}, gone=True, checked=1700000000.5)},
                                                foreign={9, 10})},
                            source={"users_delta": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc"})
    store.save({"azure_ad:1": state})
    loaded = StatusStore(store.path).load()["azure_ad:1"]
    assert loaded.kinds["user"].entries == state.kinds["user"].entries
    assert loaded.kinds["user"].foreign == {9, 10} and loaded.source == state.source


def test_a_missing_file_is_no_status(store):
    assert store.load() == {}


def test_the_1_0_0_file_is_read_as_the_source_state_without_a_status(store):
    store.path.write_text(json.dumps({"azure_ad:1": {"users_delta": "https://graph/delta?t=1"}}), encoding="utf-8")
    loaded = store.load()["azure_ad:1"]
    assert loaded.source == {"users_delta": "https://graph/delta?t=1"} and loaded.kinds == {}


@pytest.mark.parametrize("content", [b"{truncated", b"[1, 2]", b'{"schema": 99, "connections": {}}', b"\xff\xfe"])
def test_a_damaged_or_newer_file_is_set_aside_and_reads_as_no_status(store, content, caplog):
    store.path.write_bytes(content)
    assert store.load() == {}
    [kept] = store.path.parent.glob("HaloIntegrator.state.damaged-*")
    assert kept.read_bytes() == content and not store.path.exists()
    assert "no duplicates" in caplog.text


def test_odd_entries_inside_a_valid_file_are_dropped_not_fatal(store):
    store.path.write_text(json.dumps({"schema": 2, "connections": {"a:1": {"kinds": {"user": {"records": {
        "good": [5, {"x": "ab"}], "no-id": [None], "text-id": ["seven"], "not-a-list": 3, "bad-fields": [6, {"x": 1}]},
        "foreign": [1, "x", -2]}}}}}), encoding="utf-8")
    entries = store.load()["a:1"].kinds["user"]
    assert set(entries.entries) == {"good", "bad-fields"} and entries.entries["bad-fields"].fields == {}
    assert entries.foreign == {1}


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_the_file_is_private(store):
    store.save({"a:1": ConnectionState()})
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


MAC_KEY = b"k" * 32


def signed_state() -> dict[str, ConnectionState]:
    return {"active_directory:1": ConnectionState({"user": KindStatus({"guid-1": Entry(5, {"department": "ab12"})},
                                                                      deactivated=[(1700000000.0, 3, 40)])})}


def test_a_signed_status_reads_back_whole_including_its_deactivation_history(tmp_path):
    path = tmp_path / "HaloIntegrator.state"
    StatusStore(path, mac_key=MAC_KEY).save(signed_state())
    assert "mac" in json.loads(path.read_text())
    loaded = StatusStore(path, mac_key=MAC_KEY).load()["active_directory:1"].kinds["user"]
    assert loaded.entries == {"guid-1": Entry(5, {"department": "ab12"})}
    assert loaded.deactivated == [(1700000000.0, 3, 40)]


@pytest.mark.parametrize("edit", ["add an entry", "change an id", "drop the history", "another key"])
def test_a_status_changed_outside_the_integrator_is_set_aside_and_reads_as_lost(tmp_path, edit, caplog):
    """Ownership comes from the status: an entry someone wrote into the file would let them choose what is
    deactivated. A MAC that does not verify makes the file lost (rebuilt from Halo), with a warning."""
    path = tmp_path / "HaloIntegrator.state"
    StatusStore(path, mac_key=MAC_KEY).save(signed_state())
    document = json.loads(path.read_text())
    kind = document["connections"]["active_directory:1"]["kinds"]["user"]
    key = MAC_KEY
    if edit == "add an entry":
        kind["records"]["forged"] = [99, {}]
    elif edit == "change an id":
        kind["records"]["guid-1"][0] = 99
    elif edit == "drop the history":
        del kind["deactivated"]
    else:
        key = b"x" * 32  # the key file was replaced: the same as a changed file, and as harmless
    if key == MAC_KEY:
        path.write_text(json.dumps(document))
    assert StatusStore(path, mac_key=key).load() == {}
    assert "changed outside the Integrator" in caplog.text
    assert list(tmp_path.glob("HaloIntegrator.state.changed-*")) and not path.exists()


def test_an_unsigned_status_of_an_earlier_version_is_accepted_once_and_signed_on_save(tmp_path, caplog):
    path = tmp_path / "HaloIntegrator.state"
    earlier = {"active_directory:1": ConnectionState({"user": KindStatus({"guid-1": Entry(5, {"department": "ab"})})})}
    StatusStore(path).save(earlier)  # as the version before the MAC wrote it: no marks, no history
    store = StatusStore(path, mac_key=MAC_KEY)
    loaded = store.load()
    assert loaded["active_directory:1"].kinds["user"].entries == {"guid-1": Entry(5, {"department": "ab"})}
    assert "not signed" in caplog.text
    store.save(loaded)
    assert "mac" in json.loads(path.read_text()) and StatusStore(path, mac_key=MAC_KEY).load() != {}


def test_the_state_mac_key_comes_from_the_key_file_and_follows_it(tmp_path):
    from halointegrator.local import keystore

    key_path = tmp_path / "HaloIntegrator.key"
    first = keystore.state_mac_key(key_path, keystore.PlainProtector())
    assert first == keystore.state_mac_key(key_path, keystore.PlainProtector()) and len(first) == 32
    assert first != keystore.load_key(key_path, create=False, protector=keystore.PlainProtector())
    key_path.unlink()
    assert keystore.state_mac_key(key_path, keystore.PlainProtector()) != first


def test_a_status_of_this_version_with_its_mac_stripped_is_not_taken_for_an_earlier_versions(tmp_path, caplog):
    path = tmp_path / "HaloIntegrator.state"
    StatusStore(path, mac_key=MAC_KEY).save(signed_state())  # it has a deactivation history: this version's
    document = json.loads(path.read_text())
    del document["mac"]
    document["connections"]["active_directory:1"]["kinds"]["user"]["records"]["forged"] = [99, {}]
    path.write_text(json.dumps(document))
    assert StatusStore(path, mac_key=MAC_KEY).load() == {}
    assert "changed outside the Integrator" in caplog.text
