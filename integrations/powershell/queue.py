"""One run's work on the queue: outcomes Halo has not been told yet, then one action per queued run.

``prepare_script`` (one script's queued runs) and ``prepare_orphans`` (runs whose script Halo no longer
has) only read: Halo and the journal. They return a ``QueueWork``; connection.as_work turns those into
the core's ``Work`` (prepare = tidy_journal, pending, jobs = the actions), and the core (engine/jobs.py),
in a real run, does

    work.prepare()                          local bookkeeping only (QueueWork.tidy_journal, see Tidy)
    for _, record in work.pending:          POST record to PowerShellScriptProcessing; work.posted(record)
    for job in work.jobs:                   record = job.run(cancel); POST record; work.posted(record)
    if work.problem:                        report the connection failed with work.problem (the runs wait)

and in a dry run logs the descriptions and does none of it: nothing runs, nothing is written.
``action.run()`` journals "started" before the process starts and "finished" with the outcome after,
so the record it returns is already safe in the journal when the core posts it.

Decisions (see also journal.py): bad input -- a missing or unreadable script file, a location that
is not a full .ps1 path, a parameter the script's mappings do not declare, a value no command line can
carry, an entry whose script Halo no longer has -- is answered processed and failed with a
result_message that says what to fix: left queued it would wait forever, and nothing ran, so
requeueing after the fix is safe. PowerShell missing on this server is not the entry's fault: the
runs stay queued (another Integrator, or this one once PowerShell is installed, runs them) and the
connection fails with ``work.problem``. Whether this Integrator may run a script at all is the core's
rule (runner.enabled_for); the core asks for the work of the scripts it may run only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

from halointegrator import deadline as run_deadline
from integrations.powershell.checks import not_found_message
from integrations.powershell.location import folder_problem, resolve_script
from integrations.powershell.command import (
    Interpreter,
    argument_problem,
    command_line_problem,
    find_interpreter,
    script_argv,
)
from integrations.powershell.journal import FINISHED, POSTED, Journal, JournalEntry, JournalError
from integrations.powershell.outcome import interrupted_outcome, refused_outcome, run_outcome
from integrations.powershell.process import run_process
from integrations.powershell.reading import read_entry, read_queue, read_script_record
from integrations.powershell.records import EntryRefused, QueueEntry, Script, script_arguments
from integrations.powershell.settings import RunSettings

DEFAULT_LOG = logging.getLogger("halointegrator.powershell")


@dataclass(frozen=True)
class PendingOutcome:
    """An outcome the journal holds and Halo has not been told: post it before anything new runs."""

    record: dict[str, Any]
    description: str


@dataclass
class ScriptAction:
    """One queued run to answer now; ``run`` returns the outcome record to post."""

    entry: QueueEntry
    description: str
    runner: Callable[[threading.Event | None], dict[str, Any]] = field(repr=False)
    reason: str = ""  # why it is answered failed without running (its outcome's result_message says it too)

    def run(self, cancel: threading.Event | None = None) -> dict[str, Any]:
        return self.runner(cancel)

    @property
    def preview(self) -> str:
        """What a dry run says it would do: the description, and the reason when it would not run."""
        return f"{self.description}: {self.reason}" if self.reason else self.description


@dataclass(frozen=True)
class Tidy:
    """A journal entry Halo no longer needs told: it already has the outcome, or no longer has the run."""

    entry_id: int
    outcome: dict[str, Any] | None  # recorded as posted; None: forgotten
    note: str


@dataclass
class QueueWork:
    journal: Journal
    pending: list[PendingOutcome] = field(default_factory=list)
    actions: list[ScriptAction] = field(default_factory=list)
    tidy: list[Tidy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str = ""  # set: this script cannot run here now; its runs stay queued

    def posted(self, record: dict[str, Any]) -> None:
        """Call after Halo accepted an outcome record (pending or from an action)."""
        self.journal.record_posted(record)

    def tidy_journal(self) -> None:
        for item in self.tidy:
            if item.outcome is None:
                self.journal.forget(item.entry_id)
            else:
                self.journal.record_posted(item.outcome)


def prepare_script(halo: Any, script: Script, journal: Journal, *, settings: RunSettings,
                   log: logging.Logger | None = None) -> QueueWork:
    """The work for one script's queued runs (a script this Integrator may run: the core decided)."""
    entries = read_queue(halo, script.id)
    work = QueueWork(journal)
    unposted = [record for record in journal.unposted() if record.script_id == script.id]
    _reconcile(halo, unposted, {entry.id: entry for entry in entries}, work)
    runnable = _to_run(entries, journal, work)
    if not runnable:
        return work
    # This computer's setup, not the queued run's fault: the runs stay queued (as when PowerShell is missing)
    # until the folder is set, or for another Integrator that has it.
    problem = folder_problem(settings.script_folder)
    if problem:
        work.problem = f"{problem} {len(runnable)} queued run(s) wait for it."
        return work
    interpreter = find_interpreter(script.use_seven, settings.powershell_path)
    if interpreter is None:
        work.problem = f"{not_found_message(script, settings)} {len(runnable)} queued run(s) wait for it."
        return work
    work.actions = [build_action(script, entry, attempt, interpreter, journal, settings, log or DEFAULT_LOG)
                    for entry, attempt in runnable]
    return work


def prepare_orphans(halo: Any, known_script_ids: Iterable[int], journal: Journal) -> QueueWork:
    """The work for queued runs whose script Halo no longer has: each is answered failed, never run."""
    known = set(known_script_ids)
    entries = [entry for entry in read_queue(halo, parameters=False) if entry.script_id not in known]
    work = QueueWork(journal)
    unposted = [record for record in journal.unposted() if record.script_id not in known]
    _reconcile(halo, unposted, {entry.id: entry for entry in entries}, work)
    gone = _confirmed_gone({entry.script_id for entry in entries}, halo, work)
    orphans = [entry for entry in entries if entry.script_id in gone]
    for entry, _attempt in _to_run(orphans, journal, work):
        reason = (f"Halo no longer has script {entry.script_id} (it was deleted after this run was queued)."
                  if entry.script_id is not None else "the queued run names no script.")
        work.actions.append(_refusal(journal, None, entry, reason))
    return work


def _confirmed_gone(script_ids: set[int | None], halo: Any, work: QueueWork) -> set[int | None]:
    """The script ids Halo answers 404 for (None, a run naming no script, counts as gone)."""
    gone: set[int | None] = set()
    for script_id in sorted(script_ids, key=lambda value: (value is not None, value or 0)):
        if script_id is None or read_script_record(halo, script_id) is None:
            gone.add(script_id)
        else:
            work.notes.append(f"Script {script_id} was not in Halo's script list but exists; its queued runs "
                              "are left for its own connection.")
    return gone


def _reconcile(halo: Any, records: list[JournalEntry], listed: dict[int, QueueEntry], work: QueueWork) -> None:
    """Journal entries not yet posted: post them, or tidy them when Halo no longer needs telling."""
    for record in records:
        outcome = record.outcome if record.state == FINISHED and record.outcome else interrupted_outcome(record)
        if record.entry_id not in listed:
            current = read_entry(halo, record.entry_id)
            if current is None:
                work.tidy.append(Tidy(record.entry_id, None, f"Halo no longer has queued run {record.entry_id}; "
                                      "its outcome could not be posted and is dropped from the journal."))
                continue
            if current.processed:
                work.tidy.append(Tidy(record.entry_id, outcome, f"Halo already has queued run {record.entry_id} "
                                      "as processed; its outcome is not posted again."))
                continue
        work.pending.append(PendingOutcome(outcome, _pending_description(record, outcome)))


def _pending_description(record: JournalEntry, outcome: dict[str, Any]) -> str:
    """A noun phrase: the core logs "Post <it>" (or "Would post <it>")."""
    ticket = f" (ticket {record.ticket_id})" if record.ticket_id is not None else ""
    how = "succeeded" if outcome.get("success") else "failed"
    if record.state == POSTED:
        how += ", posted before; Halo still lists the run as outstanding"
    elif record.state != FINISHED:
        how = "interrupted, answered failed and not run again"
    return f"The outcome of queued run {record.entry_id}{ticket} kept from an earlier run: {how}"


def _to_run(entries: list[QueueEntry], journal: Journal, work: QueueWork) -> list[tuple[QueueEntry, int]]:
    """(entry, attempt) for each entry to answer now; posted entries listed again follow the requeue rule."""
    runnable = []
    for entry in entries:
        record = journal.get(entry.id)
        if record is None:
            runnable.append((entry, 1))
        elif record.state != POSTED:
            continue  # its outcome is pending (see _reconcile)
        elif entry.requeued and not record.requeued:
            work.notes.append(f"Queued run {entry.id} was requeued in Halo: it runs again "
                              f"(attempt {record.attempt + 1}).")
            runnable.append((entry, record.attempt + 1))
        elif record.outcome:
            work.notes.append(f"Halo still lists queued run {entry.id} as outstanding although its outcome was posted "
                              f"on {record.posted}; it is not run again, its outcome is posted again. To run the "
                              "script again, queue it anew from the ticket.")
            work.pending.append(PendingOutcome(record.outcome, _pending_description(record, record.outcome)))
    return runnable


# ---- actions -------------------------------------------------------------------------------------

def build_action(script: Script, entry: QueueEntry, attempt: int, interpreter: Interpreter, journal: Journal,
                 settings: RunSettings, log: logging.Logger) -> ScriptAction:
    try:
        argv = prepared_argv(script, entry, interpreter, settings)
    except EntryRefused as refusal:
        return _refusal(journal, script, entry, str(refusal))
    names = [name for name, _value in script_arguments(script, entry)]
    with_what = f"{len(names)} parameter(s) ({', '.join(names)})" if names else "no parameters"
    ticket = f" for ticket {entry.ticket_id}" if entry.ticket_id is not None else ""
    description = f"Run script {script.label}{ticket} with {with_what} (queued run {entry.id})"
    runner = partial(_run_entry, script, entry, attempt, argv, journal, settings, log)
    return ScriptAction(entry, description, runner)


def prepared_argv(script: Script, entry: QueueEntry, interpreter: Interpreter, settings: RunSettings) -> list[str]:
    """The exact argv of this run; EntryRefused says why it cannot be run as queued."""
    real_path, problem = resolve_script(script.location, settings.script_folder)
    if problem:
        raise EntryRefused(problem)
    arguments = script_arguments(script, entry)
    for name, value in arguments:
        problem = argument_problem(name, value)
        if problem:
            raise EntryRefused(problem)
    argv = script_argv(interpreter, real_path, arguments)  # the file checked, however Halo spells it
    problem = command_line_problem(argv)
    if problem:
        raise EntryRefused(problem)
    return argv


def _run_entry(script: Script, entry: QueueEntry, attempt: int, argv: list[str], journal: Journal,
               settings: RunSettings, log: logging.Logger, cancel: threading.Event | None) -> dict[str, Any]:
    real_path, problem = resolve_script(script.location, settings.script_folder)  # it may have changed since
    if problem:
        return _refuse(journal, script, entry, problem, log)
    where = argv.index("-File") + 1
    argv = [*argv[:where], real_path, *argv[where + 1:]]  # the file just checked
    deadline = run_deadline.current()
    deadline.check(f"queued run {entry.id} of script {script.label} waited to start")  # it stays queued
    timeout = deadline.limit(settings.timeout_seconds)
    run_limit = deadline.minutes if timeout < settings.timeout_seconds else None
    journal.start(entry.id, script_id=script.id, ticket_id=entry.ticket_id, requeued=entry.requeued,
                  attempt=attempt)  # JournalError: nothing starts
    result = run_process(argv, timeout=timeout, cancel=cancel, cwd=str(Path(real_path).parent),
                         output_limit=settings.output_limit)
    outcome = run_outcome(script, entry.id, result, run_limit)
    try:
        journal.finish(outcome, script_id=script.id, ticket_id=entry.ticket_id)
    except JournalError as error:
        log.warning("%s The outcome of queued run %d is still posted to Halo.", error, entry.id)
    return outcome


def _refusal(journal: Journal, script: Script | None, entry: QueueEntry, reason: str) -> ScriptAction:
    which = f" of script {script.label}" if script else ""
    description = f"Answer {entry.label}{which} as failed without running it"
    return ScriptAction(entry, description, partial(_refuse_cancellable, journal, script, entry, reason),
                        reason=reason)


def _refuse_cancellable(journal: Journal, script: Script | None, entry: QueueEntry, reason: str,
                        _cancel: threading.Event | None) -> dict[str, Any]:
    return _refuse(journal, script, entry, reason, DEFAULT_LOG)


def _refuse(journal: Journal, script: Script | None, entry: QueueEntry, reason: str,
            log: logging.Logger) -> dict[str, Any]:
    outcome = refused_outcome(entry.id, reason)
    try:
        journal.finish(outcome, script_id=script.id if script else entry.script_id, ticket_id=entry.ticket_id)
    except JournalError as error:
        log.warning("%s The outcome of queued run %d is still posted to Halo.", error, entry.id)
    return outcome
