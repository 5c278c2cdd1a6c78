"""Running a job integration's work (queued scripts): outcomes Halo was not told first, then each job.

The integration has done every read (``Integration.work``). In a real run the core posts each pending
outcome, then runs the jobs one at a time and posts each outcome as soon as it is known, so a crash
loses at most the outcome of the job that was running (the integration's journal keeps it for the
next run). When Halo will not take an outcome, no further job runs: a job whose outcome cannot be
recorded must not be followed by more. A dry run only says what it would do.
"""

from __future__ import annotations

import logging
from typing import Any

from halointegrator.engine.applying import CHANGE
from halointegrator.engine.context import RunContext
from halointegrator.engine.model import POST, RUN, Integration, RecordError, Report, Work
from halointegrator.errors import Cancelled, IntegratorError
from halointegrator.redaction import redact_strings

OUTCOME, JOB = "outcome", "script"  # what the report counts: "post 2 outcome(s)", "run 3 script(s)"


def perform(integration: Integration, connection: dict, ctx: RunContext, writer: Any) -> Report:
    """One connection's work; a failure to post is the report's failure (the journal keeps the outcome)."""
    name = integration.connections.name_of(connection)
    work = integration.work(ctx, connection)
    report = Report(integration.name, name, dry_run=ctx.dry_run, notes=list(work.notes))
    if ctx.dry_run:
        _preview(work, report, ctx.log)
    else:
        try:
            _run(work, report, ctx, writer)
        except Cancelled:
            raise
        except _NotTaken as refusal:
            report.failure = (f"Halo did not take an outcome ({refusal.error}); nothing more was run. The outcome "
                              "is kept on this computer and posted before anything new runs next time.")
            return report
        except IntegratorError as error:  # the integration's own failure (its journal, say): nothing was posted
            report.failure = f"{error} Nothing more was run."
            return report
    report.failure = report.failure or work.problem
    return report


class _NotTaken(Exception):
    """Internal: Halo refused or failed an outcome's POST."""

    def __init__(self, error: IntegratorError) -> None:
        super().__init__(str(error))
        self.error = error


def _preview(work: Work, report: Report, log: logging.Logger) -> None:
    for description, _record in work.pending:
        log.log(CHANGE, "Would post %s", _lower_first(description))
        _count(report, OUTCOME, POST)
    for job in work.jobs:
        log.log(CHANGE, "Would %s", _lower_first(job.description))
        _count(report, JOB, RUN)


def _run(work: Work, report: Report, ctx: RunContext, writer: Any) -> None:
    work.prepare()
    for description, record in work.pending:
        ctx.log.log(CHANGE, "Post %s", _lower_first(description))
        _post(writer, work, record)
        _count(report, OUTCOME, POST)
        _note_failure(work, report, description, record)
    for number, job in enumerate(work.jobs, start=1):
        if ctx.cancel.is_set():
            raise Cancelled(f"Stopped by the user before {job.description}; {len(work.jobs) - number + 1} "
                            "queued job(s) wait for the next run.")
        ctx.progress(job.description, number - 1, len(work.jobs))
        ctx.log.log(CHANGE, job.description)
        record = job.run(ctx.cancel)
        _post(writer, work, record)
        _count(report, JOB, RUN)
        _note_failure(work, report, job.description, record)


def _note_failure(work: Work, report: Report, description: str, record: dict) -> None:
    """A posted outcome that says the job failed (or was interrupted) goes into Last Error and the exit code."""
    message = work.failed(record)
    if message:
        report.failed.append(RecordError(description, message))


def _post(writer: Any, work: Work, record: dict) -> None:
    try:  # an outcome quotes a job's output: no secret this run knows goes into Halo with it
        writer.post(work.path, [redact_strings(record)], idempotent=True)  # the same however often it lands
    except IntegratorError as error:
        raise _NotTaken(error) from None
    work.posted(record)


def _count(report: Report, kind: str, action: str) -> None:
    report.counts[action] = report.counts.get(action, 0) + 1
    per_kind = report.by_kind.setdefault(kind, {})
    per_kind[action] = per_kind.get(action, 0) + 1


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
