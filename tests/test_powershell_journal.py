"""The PowerShell journal: each step on disk before the next, damage never papered over."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone

import pytest

from integrations.powershell.journal import (
    FINISHED,
    KEEP_POSTED_DAYS,
    POSTED,
    STARTED,
    Journal,
    JournalError,
    journal_path_for,
)
from integrations.powershell.records import outcome_record


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def path(tmp_path):
    return journal_path_for(tmp_path / "HaloIntegrator.config")


def start(journal: Journal, entry_id: int, **fields) -> None:
    journal.start(entry_id, script_id=fields.get("script_id", 3), ticket_id=fields.get("ticket_id", 40),
                  requeued=fields.get("requeued", False), attempt=fields.get("attempt", 1))


def test_the_journal_lives_beside_the_config(tmp_path):
    assert journal_path_for(tmp_path / "HaloIntegrator.config") == tmp_path / "HaloIntegrator.powershell-journal"


def test_each_step_is_on_disk_before_the_next(path):
    journal = Journal.load(path)
    start(journal, 12)
    assert Journal.load(path).get(12).state == STARTED
    journal.finish(outcome_record(12, True, "ok"))
    reread = Journal.load(path).get(12)
    assert reread.state == FINISHED and reread.outcome == outcome_record(12, True, "ok")
    journal.record_posted(outcome_record(12, True, "ok"))
    assert Journal.load(path).get(12).state == POSTED
    assert Journal.load(path).unposted() == []


def test_the_file_is_private_and_holds_no_parameter_values(path):
    journal = Journal.load(path)
    start(journal, 1)
    journal.finish(outcome_record(1, False, "Failed: exit code 1"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert data["format"] == 1 and set(data["entries"][0]) == {
        "entry_id", "script_id", "ticket_id", "attempt", "requeued", "started", "finished", "outcome", "posted"}


def test_a_missing_journal_is_empty_and_nothing_is_written_until_a_step(path):
    journal = Journal.load(path)
    assert journal.entries() == [] and not path.exists()


@pytest.mark.parametrize("content, fragment", [
    (b"{not json", "is damaged (it is not valid JSON)"),
    (b"\xff\xfe", "is damaged (it is not valid JSON)"),
    (b'{"format": 1}', "does not hold a list of entries"),
    (b'{"format": 1, "entries": [{"entry_id": "12"}]}', "an entry has no id"),
    (b'{"format": 1, "entries": [{"entry_id": 1, "outcome": "x"}]}', "a field of the wrong type"),
    (b'{"format": 1, "entries": [{"entry_id": 1, "started": 5}]}', "a field of the wrong type"),
    (b'{"format": 9, "entries": []}', "written by a newer Halo Integrator"),
    (b"[" * 100_000, "is damaged"),
])
def test_a_damaged_journal_stops_the_queue_and_is_left_as_it_is(path, content, fragment):
    path.write_bytes(content)
    with pytest.raises(JournalError, match=re.escape(fragment)) as raised:
        Journal.load(path)
    assert "No queued script runs" in str(raised.value) or "newer" in str(raised.value)
    assert path.read_bytes() == content


def test_unknown_fields_of_a_newer_entry_are_ignored(path):
    path.write_text(json.dumps({"format": 1, "entries": [{"entry_id": 5, "started": "x", "colour": "red"}]}))
    assert Journal.load(path).get(5).state == STARTED


def test_a_start_that_cannot_be_written_raises_and_leaves_nothing_recorded(path):
    journal = Journal.load(path)
    path.mkdir()  # a folder where the file must go: the atomic replace fails
    (path / "keep").write_text("")
    with pytest.raises(JournalError, match="No further queued script was started"):
        start(journal, 7)
    assert journal.get(7) is None
    assert sorted(item.name for item in path.parent.iterdir()) == [path.name]  # no temp file left behind


def test_posted_entries_are_kept_30_days_then_dropped(path):
    clock = Clock()
    journal = Journal.load(path, clock)
    start(journal, 1)
    journal.record_posted(outcome_record(1, True, "ok"))
    start(journal, 2)  # never finished: kept however old
    clock.now += timedelta(days=KEEP_POSTED_DAYS + 1)
    start(journal, 3)
    assert [entry.entry_id for entry in Journal.load(path).entries()] == [2, 3]


def test_forget_and_a_refused_rerun_of_a_posted_entry(path):
    journal = Journal.load(path)
    start(journal, 1, attempt=1)
    journal.record_posted(outcome_record(1, True, "ok"))
    journal.finish(outcome_record(1, False, "Not run: gone"), script_id=3, ticket_id=40)
    entry = Journal.load(path).get(1)
    assert entry.state == FINISHED and entry.attempt == 2 and entry.outcome["result_message"] == "Not run: gone"
    journal.forget(1)
    assert Journal.load(path).get(1) is None
