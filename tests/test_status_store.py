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
