"""The local journal of queued runs: what was started, how it ended, and whether Halo was told.

A crash between running a script and posting its outcome must never run the script a second time, so
every step is written down before the next one happens, whole-file atomic and fsync'd:

    started   written before the process starts (if it cannot be written, nothing starts)
    finished  written with the outcome record as soon as the process has ended
    posted    written after Halo accepted the outcome record

On the next run: a *finished* outcome not yet posted is posted again (never run again); an entry that
was *started* but never *finished* (the Integrator, the computer or the power stopped mid-run) is
reported failed as "interrupted" and never run again automatically, because the script may already
have made its changes; a person checks and requeues it in Halo. A *posted* entry that Halo lists as
outstanding again runs again only if Halo marks it requeued and it was not requeued when it last
started; otherwise its outcome is posted again and the log warns.

The file (``HaloIntegrator.powershell-journal`` beside the config) holds no secrets and no parameter
values (an outcome's result_message holds what the script printed). Posted entries are kept 30 days
(the tab's "last outcome"), then dropped. A damaged journal stops the PowerShell queue with a message
rather than being replaced: without it, interrupted runs could run twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from halointegrator.errors import ConfigError
from halointegrator.local.fileio import write_atomic

JOURNAL_SUFFIX = ".powershell-journal"
FORMAT = 1
KEEP_POSTED_DAYS = 30
MAX_POSTED = 2000
MAX_JOURNAL_BYTES = 16 * 1024 * 1024
STARTED, FINISHED, POSTED = "started", "finished", "posted"


class JournalError(ConfigError):
    """The journal cannot be read or written; no script runs until it can."""


def journal_path_for(config_path: Path) -> Path:
    """HaloIntegrator.powershell-journal beside HaloIntegrator.config (named after the config, as the state
    file is: two configurations in one folder, for two Halo instances, must never share queue entry ids)."""
    return Path(config_path).with_suffix(JOURNAL_SUFFIX)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class JournalEntry:
    """One queued run as the journal holds it."""

    entry_id: int
    script_id: int | None = None
    ticket_id: int | None = None
    attempt: int = 1
    requeued: bool = False  # Halo's "requeued" flag when this attempt started
    started: str | None = None
    finished: str | None = None
    outcome: dict[str, Any] | None = None  # {"id", "processed", "success", "result_message"}
    posted: str | None = None

    @property
    def state(self) -> str:
        return POSTED if self.posted else FINISHED if self.finished else STARTED


@dataclass
class Journal:
    path: Path
    clock: Callable[[], datetime] = utc_now
    _entries: dict[int, JournalEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, clock: Callable[[], datetime] = utc_now) -> "Journal":
        journal = cls(Path(path), clock)
        data = journal._read()
        if data is not None:
            journal._entries = _entries_from(data, journal.path)
        return journal

    def get(self, entry_id: int) -> JournalEntry | None:
        return self._entries.get(int(entry_id))

    def entries(self) -> list[JournalEntry]:
        return sorted(self._entries.values(), key=lambda entry: entry.entry_id)

    def unposted(self) -> list[JournalEntry]:
        return [entry for entry in self.entries() if entry.state != POSTED]

    # ---- the three steps -------------------------------------------------------------------------
    def start(self, entry_id: int, *, script_id: int | None, ticket_id: int | None, requeued: bool,
              attempt: int) -> JournalEntry:
        """Write down that a run starts; raises JournalError (and nothing may start) if it cannot."""
        record = JournalEntry(int(entry_id), script_id, ticket_id, attempt, requeued, started=iso(self.clock()))
        previous = self._entries.get(record.entry_id)
        self._entries[record.entry_id] = record
        try:
            self._save()
        except JournalError:
            self._restore(record.entry_id, previous)
            raise
        return record

    def finish(self, outcome: dict[str, Any], *, script_id: int | None = None, ticket_id: int | None = None) -> None:
        """Write down how a run ended (also for an entry refused without starting)."""
        entry_id = int(outcome["id"])
        record = self._entries.get(entry_id) or JournalEntry(entry_id, script_id, ticket_id)
        if record.state == POSTED:  # a refused re-run of a posted entry: a new attempt
            record = JournalEntry(entry_id, script_id, ticket_id, record.attempt + 1)
        record.finished, record.outcome = iso(self.clock()), dict(outcome)
        self._entries[entry_id] = record
        self._save()

    def record_posted(self, outcome: dict[str, Any]) -> None:
        """Write down that Halo accepted ``outcome`` (an outcome record as posted)."""
        entry_id = int(outcome["id"])
        record = self._entries.get(entry_id) or JournalEntry(entry_id)
        record.outcome = dict(outcome)
        record.finished = record.finished or iso(self.clock())
        record.posted = iso(self.clock())
        self._entries[entry_id] = record
        self._save()

    def forget(self, entry_id: int) -> None:
        """Drop an entry Halo no longer has (its outcome can never be posted)."""
        if self._entries.pop(int(entry_id), None) is not None:
            self._save()

    # ---- the file --------------------------------------------------------------------------------
    def _restore(self, entry_id: int, previous: JournalEntry | None) -> None:
        if previous is None:
            self._entries.pop(entry_id, None)
        else:
            self._entries[entry_id] = previous

    def _read(self) -> Any:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(MAX_JOURNAL_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise JournalError(f"Cannot read the PowerShell journal {self.path}: {error.strerror or error}. "
                               "No queued script runs until it can be read (check the file's permissions).") from None
        if len(raw) > MAX_JOURNAL_BYTES:
            raise _damaged(self.path, "it is larger than a journal ever grows")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _damaged(self.path, "it is not valid JSON") from None

    def _save(self) -> None:
        self._prune()
        data = {"format": FORMAT, "entries": [asdict(entry) for entry in self.entries()]}
        payload = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
        try:
            write_atomic(self.path, payload)
        except OSError as error:
            raise JournalError(f"Cannot write the PowerShell journal {self.path}: {error.strerror or error}. "
                               "No further queued script was started; free disk space or fix the folder's "
                               "permissions, then run again.") from None

    def _prune(self) -> None:
        cutoff = iso(self.clock() - timedelta(days=KEEP_POSTED_DAYS))
        posted = sorted((entry for entry in self._entries.values() if entry.state == POSTED),
                        key=lambda entry: entry.posted or "")
        old = [entry for entry in posted if (entry.posted or "") < cutoff]
        excess = posted[:max(0, len(posted) - MAX_POSTED)]
        for entry in {id(entry): entry for entry in old + excess}.values():
            self._entries.pop(entry.entry_id, None)


def _damaged(path: Path, why: str) -> JournalError:
    return JournalError(
        f"The PowerShell journal {path} is damaged ({why}). No queued script runs until it is fixed: it "
        "records which runs already started, so replacing it could run a script twice. Check the queued "
        "runs in Halo, then move the file aside to let the Integrator start a new journal."
    )


def _entries_from(data: Any, path: Path) -> dict[int, JournalEntry]:
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise _damaged(path, "it does not hold a list of entries")
    if not isinstance(data.get("format"), int) or data["format"] > FORMAT:
        raise JournalError(f"The PowerShell journal {path} was written by a newer Halo Integrator "
                           f"(format {data.get('format')!r}). Run that version, or move the file aside.")
    entries: dict[int, JournalEntry] = {}
    for row in data["entries"]:
        entry = _entry_from(row)
        if entry is None:
            raise _damaged(path, "an entry has no id or a field of the wrong type")
        entries[entry.entry_id] = entry
    return entries


def _entry_from(row: Any) -> JournalEntry | None:
    if not isinstance(row, dict) or not isinstance(row.get("entry_id"), int) or isinstance(row["entry_id"], bool):
        return None
    known = {name: row[name] for name in JournalEntry.__dataclass_fields__ if name in row}
    texts = ("started", "finished", "posted")
    if any(known.get(name) is not None and not isinstance(known[name], str) for name in texts):
        return None
    if known.get("outcome") is not None and not isinstance(known["outcome"], dict):
        return None
    if not isinstance(known.get("attempt", 1), int):
        return None
    return JournalEntry(**known)
