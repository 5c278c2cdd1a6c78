"""Applying: write a plan to Halo in batches, or, in a dry run, only say what would be written.

One loop serves both modes (the ldap2pg way): each change is logged at the CHANGE level as
"Create user ..." or "Would create user ...", and only a real run posts. A record Halo refuses is
found by splitting its batch, so its good neighbours still land; errors that are not about one
record (Halo down, credentials refused, rate limit exhausted) stop the apply and propagate.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from halointegrator.engine.model import CREATE, Change, EntityKind, Plan, RecordError, Report
from halointegrator.errors import Cancelled, HaloError, RetriableError
from halointegrator.redaction import redact
from halointegrator.values import as_id, identity_key

CHANGE = logging.INFO + 5  # the logs module names this level "CHANGE"
MAX_RECORD_ERRORS = 20  # past this many refused records the apply stops: the mapping, not the data, is wrong
_NOT_RECORD_SPECIFIC = {401, 403, 429}


class _TooManyRecordErrors(Exception):
    """Internal: the record error cap was reached inside a batch."""


@dataclass
class Applied:
    """What an apply did: the report, and each change Halo confirmed with the id of its record.

    A create's id comes from Halo's answer; when Halo does not give it, the id is None and the next
    run finds the record again through the kind's identity rules.
    """

    report: Report
    landed: list[tuple[Change, int | None]] = field(default_factory=list)


def apply(
    plan: Plan,
    halo: Any,
    *,
    dry_run: bool = True,
    batch_size: int = 100,
    log: logging.Logger,
    cancel: threading.Event | None = None,
    integration: str = "",
    connection: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    max_errors: int = MAX_RECORD_ERRORS,
) -> Applied:
    """Write ``plan`` to ``halo`` (or only log it when ``dry_run``) and report what was done.

    An error that is not about one record propagates; what landed before it is in ``error.applied``.
    """
    report = Report(integration, connection, dry_run=dry_run, refused=list(plan.refused), notes=list(plan.notes))
    applied = Applied(report)
    writer = _Writer(halo, applied, log, max_errors)
    total, done = len(plan.changes), 0
    stage = "Checking what would change" if dry_run else "Writing to Halo"
    for kind, batch in _batches(plan.changes, batch_size):
        if cancel is not None and cancel.is_set():
            log.warning("Stopped by the user: %s; %d change(s) were not written.", report.summary(), total - done)
            raise _carrying(Cancelled(f"Stopped by the user after {done} of {total} changes; the next run writes "
                                      "the rest."), applied)
        if not _write_batch(writer, kind, batch, dry_run, total - done):
            break
        done += len(batch)
        if progress is not None:
            progress(stage, done, total)
    return applied


def _write_batch(writer: "_Writer", kind: EntityKind, batch: list[Change], dry_run: bool, left: int) -> bool:
    """Log and post (or, dry, count) one batch; False when the apply must stop (too many refusals)."""
    report, log = writer.report, writer.log
    for change in batch:
        log.log(CHANGE, _wording(change.description, dry_run))
    try:
        if dry_run:
            _count(report, batch)
        else:
            writer.post(kind, batch)
    except _TooManyRecordErrors:
        report.failure = _too_many_errors(report, left)
        log.error(report.failure)
        return False
    except Exception as error:
        log.warning("Stopped after an error; written before it: %s.", report.summary())
        raise _carrying(error, writer.applied)
    return True


def _carrying(error: BaseException, applied: Applied) -> BaseException:
    """``error`` with what landed before it, for the pipeline to remember."""
    error.applied = applied  # type: ignore[attr-defined]
    return error


def _wording(description: str, dry_run: bool) -> str:
    return f"Would {description[:1].lower()}{description[1:]}" if dry_run else description


def _batches(changes: list[Change], batch_size: int) -> Iterator[tuple[EntityKind, list[Change]]]:
    """Changes grouped by Halo resource, creates apart so every other batch may safely be retried."""
    size = max(1, batch_size)
    by_path: dict[str, list[Change]] = {}
    for change in changes:
        by_path.setdefault(change.kind.path, []).append(change)
    for group in by_path.values():
        for part in ([c for c in group if c.action == CREATE], [c for c in group if c.action != CREATE]):
            for start in range(0, len(part), size):
                yield part[start].kind, part[start : start + size]


def _count(report: Report, changes: list[Change]) -> None:
    for change in changes:
        report.counts[change.action] = report.counts.get(change.action, 0) + 1
        per_kind = report.by_kind.setdefault(change.kind.name, {})
        per_kind[change.action] = per_kind.get(change.action, 0) + 1


def _too_many_errors(report: Report, not_written: int) -> str:
    return (
        f"Halo refused {len(report.errors)} records, so the remaining changes (up to {not_written}) were not "
        f"sent. The errors above say what Halo objects to; fix the mapping or the records and run again."
    )


def is_record_error(error: BaseException) -> bool:
    """Whether Halo refused the records in the request rather than the request itself."""
    if not isinstance(error, HaloError) or isinstance(error, RetriableError):
        return False
    status = error.status
    return isinstance(status, int) and 400 <= status < 500 and status not in _NOT_RECORD_SPECIFIC


class _Writer:
    """Posts batches; splits a refused batch in halves until the refused records are alone."""

    def __init__(self, halo: Any, applied: Applied, log: logging.Logger, max_errors: int) -> None:
        self.halo, self.applied, self.report, self.log = halo, applied, applied.report, log
        self.max_errors = max_errors

    def post(self, kind: EntityKind, changes: list[Change]) -> None:
        if len(self.report.errors) >= self.max_errors:
            raise _TooManyRecordErrors()
        payloads = [change.payload for change in changes]
        try:
            answer = self.halo.post(kind.path, payloads, idempotent=all(c.action != CREATE for c in changes))
        except HaloError as error:
            if not is_record_error(error):
                raise
            if len(changes) == 1:
                self._refused(changes[0], error)
                return
            self.log.debug("Halo refused a batch of %d %s(s); splitting it.", len(changes), kind.name)
            middle = len(changes) // 2
            self.post(kind, changes[:middle])
            self.post(kind, changes[middle:])
            return
        _count(self.report, changes)
        self.applied.landed += zip(changes, confirmed_ids(kind, changes, answer))

    def _refused(self, change: Change, error: HaloError) -> None:
        self.report.errors.append(RecordError(change.description, str(error)))
        # Logged now, as the apply may yet stop; the runner lists every refused record again at the end.
        self.log.warning("Halo refused: %s: %s", change.description, error)
        record = {
            "entity_type": change.kind.name,
            "entity_name": _entity_name(change),
            "endpoint": f"/api/{change.kind.path}",
            "error": self._error_text(change, error),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if isinstance(change.halo_id, int) and not isinstance(change.halo_id, bool):
            record["entity_id"] = change.halo_id
        try:
            self.halo.post("IntegrationError", [record], idempotent=False)
        except Exception as failure:  # the record error is in the report already; this is only a copy
            self.log.warning("Could not record the error in Halo's integration errors: %s", failure)

    def _error_text(self, change: Change, error: HaloError) -> str:
        where = " ".join(part for part in (self.report.integration, self.report.connection) if part)
        return redact(f"Halo Integrator{' ' + where if where else ''}: {change.description}: {error}")


def confirmed_ids(kind: EntityKind, changes: list[Change], answer: Any) -> list[int | None]:
    """The Halo id of each change's record: known for updates, from Halo's answer for creates.

    Halo answers a POST with the saved record, or the saved records in the order they were sent; a
    saved record is matched to its create by the identity field where the answer carries it.
    """
    saved = [answer] if isinstance(answer, dict) else [item for item in answer or () if isinstance(item, dict)] \
        if isinstance(answer, list) else []
    by_identity = {identity_key(record.get(kind.identity_field)): as_id(record.get("id")) for record in saved
                   if identity_key(record.get(kind.identity_field))}
    in_order = [as_id(record.get("id")) for record in saved] if len(saved) == len(changes) else [None] * len(changes)
    ids = []
    for change, positional in zip(changes, in_order):
        if change.action != CREATE:
            ids.append(change.halo_id)
        else:
            ids.append(by_identity.get(change.key) or positional)
    return ids


def _entity_name(change: Change) -> str:
    """The record's name within its description: "Update user Ada Lovelace: ..." gives "Ada Lovelace"."""
    marker = f" {change.kind.name} "
    description = change.description
    if marker not in description:
        return change.key
    name = description.split(marker, 1)[1]
    for tail in (" (matched on ", " (no longer in the source)", ": "):
        name = name.split(tail, 1)[0]
    return name.strip() or change.key
