"""The PowerShell queue through the core's job contract: one connection per ``PowerShellScript``.

``work(ctx, record)`` reads everything (the script, its queued runs, the journal) and returns the
core's ``Work``: the outcomes the journal holds that Halo was not told, then one job per queued run;
the core posts each outcome to ``PowerShellScriptProcessing`` and never runs anything in a dry run.
``check(ctx, record)`` gives the tab's and CHECK's ticks and crosses (no writes; it starts PowerShell
once to read its version).

Runs of scripts Halo no longer has have no connection of their own. The run of the lowest-id script
this Integrator may run also answers them (failed, never run): one connection, always the same one, so
two connections never race for them. When this Integrator may run no script, they stay queued: with
no script naming this Integrator, it has no claim on Halo's queue.

The journal lives beside the configuration (``ctx.config_path``); without it nothing runs.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from halointegrator.engine.model import Check, Job, Work
from halointegrator.errors import ConfigError, HaloError
from halointegrator.values import as_id
from integrations.powershell.checks import QUEUE, SETTINGS, checks_for, queue_summary
from integrations.powershell.journal import Journal, JournalError, journal_path_for
from integrations.powershell.queue import QueueWork, prepare_orphans, prepare_script
from integrations.powershell.reading import QUEUE_PATH, listed_scripts, load_script, read_queue, read_script_record
from integrations.powershell.records import Script
from integrations.powershell.settings import RunSettings, describe_settings, settings_from

FAILURE_LIMIT = 300  # characters of a failed outcome's first sentence in the report and Last Error


def work(ctx: Any, record: Mapping[str, Any]) -> Work:
    """One script's queued runs (and, for the orphan answerer, the runs of scripts Halo no longer has)."""
    settings = settings_from(ctx.local_settings)
    journal = journal_of(ctx)
    script = load_script(ctx.halo, record)
    parts = [prepare_script(ctx.halo, script, journal, settings=settings, log=ctx.log)]
    listed = listed_scripts(ctx.halo)
    if orphan_answerer(ctx.halo, listed, ctx.client_id) == script.id:
        parts.append(prepare_orphans(ctx.halo, [as_id(row.get("id")) for row in listed], journal))
    return as_work(parts, journal, preview=ctx.dry_run)


def as_work(parts: list[QueueWork], journal: Journal, *, preview: bool = False) -> Work:
    """The core's Work from QueueWorks that share one journal (pending outcomes first, as the core posts).

    A run that is answered failed without running says why in its outcome (Last Error shows it after its
    description); a dry run has no outcome, so its job descriptions carry the reason (``preview``).
    """
    def tidy() -> None:
        for part in parts:
            part.tidy_journal()

    return Work(
        path=QUEUE_PATH,
        pending=[(item.description, item.record) for part in parts for item in part.pending],
        jobs=[Job(action.preview if preview else action.description, action.run)
              for part in parts for action in part.actions],
        posted=journal.record_posted,
        prepare=tidy,
        failed=failure_of,
        problem=" ".join(part.problem for part in parts if part.problem),
        notes=[note for part in parts for note in [*part.notes, *(item.note for item in part.tidy)]],
    )


def failure_of(outcome: Mapping[str, Any]) -> str | None:
    """A posted outcome's failure, as the report and Last Error show it: its result_message's first part."""
    if outcome.get("success"):
        return None
    headline = str(outcome.get("result_message") or "failed").split("\n\n", 1)[0].strip()
    return headline if len(headline) <= FAILURE_LIMIT else headline[:FAILURE_LIMIT - 3] + "..."


def journal_of(ctx: Any, *, required: bool = True) -> Journal | None:
    """The journal beside this run's configuration; None (checks only) when the run names no configuration."""
    if getattr(ctx, "config_path", None) is None:
        if not required:
            return None
        raise ConfigError("The PowerShell queue keeps its journal beside the configuration file, and this run "
                          "was given none; no queued script was run.")
    return Journal.load(journal_path_for(ctx.config_path))


def orphan_answerer(halo: Any, listed: Iterable[Mapping[str, Any]], client_id: str) -> int | None:
    """The id of the lowest-id script this Integrator may run (by the core's rule), or None.

    A list item that carries neither allowed-client-ids field is read whole (Halo's list answer may be
    lean); that costs reads only for scripts below the first one this Integrator may run.
    """
    from halointegrator.engine.runner import enabled_for
    from integrations.powershell import INTEGRATION  # the declaration names the fields the rule reads

    fields = INTEGRATION.connections.allowed_fields
    for row in sorted(listed, key=lambda item: as_id(item.get("id")) or 0):
        script_id = as_id(row.get("id")) or 0
        record = row if any(name in row for name in fields) else read_script_record(halo, script_id)
        if record is not None and enabled_for(INTEGRATION, dict(record), client_id)[0]:
            return script_id
    return None


# ---- the tab and CHECK ---------------------------------------------------------------------------

def check(ctx: Any, record: Mapping[str, Any]) -> list[Check]:
    """The local settings, PowerShell (found, version), the script file, parameter names, the queue."""
    settings, settings_check = _settings_check(ctx.local_settings)
    script = load_script(ctx.halo, record)
    return [settings_check, *checks_for(script, settings), _queue_check(ctx, script)]


def _settings_check(local: Mapping[str, Any]) -> tuple[RunSettings, Check]:
    try:
        settings = settings_from(local)
    except ConfigError as error:  # the other checks go on with the default time limit
        fallback = settings_from({key: value for key, value in local.items() if key != "timeout_minutes"})
        return fallback, Check(SETTINGS.label, False, str(error), SETTINGS.key)
    return settings, Check(SETTINGS.label, True, describe_settings(settings), SETTINGS.key)


def _queue_check(ctx: Any, script: Script) -> Check:
    """How many runs wait and the last outcome here; for the orphan answerer, the orphans too."""
    try:
        journal = journal_of(ctx, required=False)
        waiting = read_queue(ctx.halo, parameters=False)
        listed = listed_scripts(ctx.halo)
        answers = orphan_answerer(ctx.halo, listed, ctx.client_id) == script.id
    except (JournalError, HaloError) as error:
        return Check(QUEUE.label, False, str(error), QUEUE.key)
    detail = queue_summary(script, waiting, journal)
    if answers:
        known = {as_id(row.get("id")) for row in listed}
        orphans = sum(1 for entry in waiting if entry.script_id not in known)
        detail += (f"; this script's run also answers the runs of scripts Halo no longer has ({orphans} "
                   "queued now)")
    return Check(QUEUE.label, True, detail, QUEUE.key)
