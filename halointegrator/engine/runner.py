"""One run, the same for Start Processing, Preview and AUTO: discover, sync each connection, write back.

1. Ask Halo for every registered integration's connections and decide, by one rule, which this
   Integrator may run. 2. Run each through the pipeline. 3. Write Last Sync / Last Error back where the
   integration says Halo keeps them. One connection failing never stops the others; the exit code says
   what happened.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from halointegrator import __version__
from halointegrator.engine import jobs, pipeline
from halointegrator.engine.context import ReadOnlyHalo, RunContext, StatusView
from halointegrator.engine.model import Integration, Report
from halointegrator.engine.status import ConnectionState
from halointegrator.errors import EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_OK, Cancelled, ConfigError, IntegratorError
from halointegrator.local.settings import settings_for
from halointegrator.redaction import learn_secrets, shorten
from halointegrator.values import flag, rows_of

LAST_ERROR_LIMIT = 2000  # Halo shows Last Error in a form field; keep it readable


@dataclass
class RunOptions:
    dry_run: bool = False
    only: str | None = None  # an integration name, e.g. "active_directory"
    allow_mass_deactivation: bool = False


@dataclass
class Connection:
    """One Halo connection of one integration, and whether this Integrator may run it."""

    integration: Integration
    record: dict[str, Any]
    enabled: bool
    reason: str  # why it will not run, when not enabled

    @property
    def name(self) -> str:
        return self.integration.connections.name_of(self.record)

    @property
    def key(self) -> str:
        """Where its local settings and sync status are kept: "active_directory:1"."""
        return f"{self.integration.name}:{self.record.get('id')}"

    def local_settings(self, kept: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Its settings kept on this computer (Config.connections): its own, and its integration's shared ones."""
        return settings_for(self.integration.name, self.record.get("id"),
                            (setting.key for setting in self.integration.shared_settings), kept)


@dataclass
class RunResult:
    reports: list[Report] = field(default_factory=list)
    exit_code: int = EXIT_OK
    halo_version: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "halo_version": self.halo_version,
            "exit_code": self.exit_code,
            "message": self.message,
            "integrations": [report.as_dict() for report in self.reports],
        }


def allowed_client_ids(integration: Integration, record: dict[str, Any]) -> set[str]:
    """The client ids Halo lets run a connection; an empty set means any Integrator may."""
    ids: set[str] = set()
    for field_name in integration.connections.allowed_fields:
        value = record.get(field_name)
        if isinstance(value, str):
            ids |= {part.strip() for part in re.split(r"[,;\s]+", value) if part.strip()}
        for pair in rows_of(value):
            if pair.get("value"):
                ids.add(str(pair["value"]).strip())
    return ids


def enabled_for(integration: Integration, record: dict[str, Any], client_id: str) -> tuple[bool, str]:
    """The one rule: enabled for the Integrator in Halo, and allowed for this Integrator's client id."""
    source = integration.connections
    if source.enabled_field and not flag(record.get(source.enabled_field)):
        return False, "not enabled for the Halo Integrator in Halo"
    allowed = allowed_client_ids(integration, record)
    if not allowed and source.explicit_allow:
        return False, (f"Halo names no Integrator client id that may run it, and it runs only where Halo names one "
                       f"(run twice, it would act twice): add ours ({client_id}) in Halo")
    if allowed and client_id not in allowed:
        return False, f"Halo allows only other Integrator client ids to run it (ours is {client_id})"
    return True, ""


def discover(halo: Any, client_id: str, registry: dict[str, Integration], only: str | None = None) -> list[Connection]:
    """Every connection of every registered integration, with whether this Integrator may run it."""
    if only and only not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise ConfigError(f"Unknown integration '{only}' for --only; known integrations: {known}.")
    reader = halo if isinstance(halo, SharedReads) else SharedReads(halo)
    found = []
    for name, integration in registry.items():
        if only and name != only:
            continue
        found += [_connection(reader, integration, record, client_id)
                  for record in integration.connections.list(reader)]
    return found


def _connection(reader: Any, integration: Integration, record: dict, client_id: str) -> Connection:
    """A listed connection, with its details read only when this Integrator may run it (or the list
    item cannot say: it lacks the fields the rule reads)."""
    source = integration.connections
    learn_secrets(record)  # Halo hands the Integrator secrets in connection records (integrator_password)
    switched_off = bool(source.enabled_field) and source.enabled_field in record \
        and not flag(record[source.enabled_field])
    decided = switched_off or ((not source.enabled_field or source.enabled_field in record)
                               and any(name in record for name in source.allowed_fields))
    enabled, reason = enabled_for(integration, record, client_id)
    if source.detail is not None and (enabled or not decided):
        record = source.detail(reader, record)
        learn_secrets(record)
        enabled, reason = enabled_for(integration, record, client_id)
    return Connection(integration, record, enabled, reason)


class SharedReads(ReadOnlyHalo):
    """Reads while connections are discovered, each asked of Halo once (Lansweeper and SCCM share /Control)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._answers: dict[tuple, Any] = {}

    def get(self, path: str, params: dict | None = None) -> Any:
        key = (path, tuple(sorted((params or {}).items())))
        if key not in self._answers:
            self._answers[key] = super().get(path, params)
        return copy.deepcopy(self._answers[key])


def now_for_halo() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_error_text(report: Report) -> str:
    """What Halo's Last Error field shows for one connection's run ("" clears it)."""
    problems = [report.failure] if report.failure else []
    problems += report.refused + report.warnings
    if report.errors:
        first = report.errors[0]
        problems.append(f"{len(report.errors)} record(s) refused by Halo; first: {first.description}: {first.message}")
    if report.failed:
        first = report.failed[0]
        problems.append(f"{len(report.failed)} failed; first: {first.description}: {first.message}")
    return shorten(" | ".join(problems), LAST_ERROR_LIMIT)  # redacted before it is cut, never after


def write_back(halo: Any, connection: Connection, report: Report, log: logging.Logger) -> None:
    """Record Last Sync (only after success) and Last Error where the integration says Halo keeps them."""
    source = connection.integration.connections
    payload: dict[str, Any] = {"id": connection.record.get("id"), source.lasterror_field: last_error_text(report)}
    if not report.failure:
        payload[source.lastsync_field] = now_for_halo()
    try:
        halo.post(source.path, [payload], idempotent=True)
    except IntegratorError as error:
        log.warning("Could not write Last Sync / Last Error back to Halo for %s: %s", connection.name, error)


def log_report(report: Report, title: str, log: logging.Logger) -> None:
    for note in report.notes:
        log.info("%s: %s: %s", title, report.connection, note)
    for reason in report.refused + report.warnings:
        log.warning("%s: %s: %s", title, report.connection, reason)
    for error in report.errors:
        log.error("%s: %s: Halo refused %s: %s", title, report.connection, error.description, error.message)
    for failure in report.failed:
        log.error("%s: %s: %s: %s", title, report.connection, failure.description, failure.message)
    if report.failure:  # "finished: nothing to change" right after "failed" read as a contradiction
        log.error("%s: %s failed: %s", title, report.connection, report.failure)
        done = report.summary().replace("nothing to change", "nothing")
        log.info("%s: %s stopped by that failure; done before it: %s", title, report.connection, done)
    else:
        log.info("%s: %s finished: %s", title, report.connection, report.summary())


@dataclass
class RunSetup:
    """What every connection of one run shares: the switches, local settings, state and limits."""

    client_id: str
    log: logging.Logger
    options: RunOptions = field(default_factory=RunOptions)
    local_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # Config.connections
    states: dict[str, ConnectionState] = field(default_factory=dict)  # updated in place
    limits: pipeline.Limits = field(default_factory=pipeline.Limits)
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int, int], None] | None = None
    deadline: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None  # handed to every RunContext (files an integration keeps beside it)

    def context(self, halo: Any, connection: Connection, state: ConnectionState) -> RunContext:
        ctx = RunContext(halo=ReadOnlyHalo(halo), log=self.log, local_settings=connection.local_settings(
            self.local_settings), state=dict(state.source), dry_run=self.options.dry_run,
            client_id=self.client_id, cancel=self.cancel, progress=self.progress or (lambda stage, done, total: None),
            deadline=self.deadline, services=self.services, config_path=self.config_path,
            connection_key=connection.key)
        ctx.status = StatusView(state, ctx.existing)
        return ctx


def run_all(halo: Any, registry: dict[str, Integration], setup: RunSetup) -> RunResult:
    """Run every enabled connection once; ``setup.states`` is updated with what each run wrote."""
    result, log = RunResult(), setup.log
    try:
        result.halo_version = str((halo.get("InstanceInfo") or {}).get("app_version") or "unknown")
        log.info("Halo version %s", result.halo_version)
        runnable, unlisted = _runnable(halo, setup.client_id, registry, setup.options.only, log)
    except ConfigError as error:  # --only names no integration
        return _stop(result, EXIT_CONFIG, str(error), log)
    except IntegratorError as error:  # unreachable, refused credentials, wrong URL: all fixed in Configuration
        code = EXIT_CONFIG if not result.halo_version else EXIT_INTEGRATION_FAILED
        prefix = "" if code == EXIT_CONFIG else "Could not read the integrations from Halo: "
        return _stop(result, code, f"{prefix}{error}", log)
    result.reports += unlisted
    if not runnable and not unlisted:
        result.message = "No integration is enabled for the Halo Integrator (enable one in Halo, in its Halo Integrator section)."
        log.info(result.message)
        return result
    for number, connection in enumerate(runnable, start=1):
        result.reports.append(_run_one(halo, connection, setup, number, len(runnable)))
    failed = [report for report in result.reports if not report.ok]
    result.exit_code = EXIT_INTEGRATION_FAILED if failed else EXIT_OK
    result.message = f"{len(result.reports) - len(failed)} of {len(result.reports)} integration run(s) succeeded."
    result.message += "".join(f" {report.failure}" for report in unlisted)  # no connection shows these
    log.info(result.message)
    return result


def _runnable(halo: Any, client_id: str, registry: dict[str, Integration], only: str | None,
              log: logging.Logger) -> tuple[list[Connection], list[Report]]:
    """The connections to run, and a failed report for each integration whose connections Halo did not
    list (one integration Halo refuses, e.g. not licensed, must not stop the others)."""
    if only and only not in registry:
        discover(halo, client_id, registry, only)  # raises the ConfigError that names the known ones
    connections, unlisted, reader = [], [], SharedReads(halo)
    for name, integration in registry.items():
        if only and name != only:
            continue
        try:
            connections += discover(reader, client_id, {name: integration})
        except Cancelled:
            raise
        except IntegratorError as error:
            message = f"Could not read the {integration.title} connections from Halo: {error}"
            log.error(message)
            unlisted.append(Report(name, integration.title, failure=message))
    for connection in connections:
        if not connection.enabled:
            log.info("%s: %s skipped: %s", connection.integration.title, connection.name, connection.reason)
    return [connection for connection in connections if connection.enabled], unlisted


def _run_one(halo: Any, connection: Connection, setup: RunSetup, number: int, total: int) -> Report:
    if setup.cancel.is_set():
        raise Cancelled("Stopped before all integrations ran.")
    if setup.progress:
        setup.progress(f"{connection.integration.title}: {connection.name}", number - 1, total)
    report = _sync(halo, connection, setup)
    log_report(report, connection.integration.title, setup.log)
    if not setup.options.dry_run:
        write_back(halo, connection, report, setup.log)
    return report


def _sync(halo: Any, connection: Connection, setup: RunSetup) -> Report:
    """One connection through the pipeline; an expected failure becomes the report's failure, never an
    exception. Its state is changed only by a real run (a dry run works on a copy)."""
    integration, log = connection.integration, setup.log
    stored = setup.states.get(connection.key) or ConnectionState()
    state = ConnectionState.decode(stored.encode()) if setup.options.dry_run else stored
    log.info("%s: %s starting%s", integration.title, connection.name, " (dry run)" if setup.options.dry_run else "")
    try:
        ctx = setup.context(halo, connection, state)
        if integration.work is not None:
            return jobs.perform(integration, connection.record, ctx, halo)
        return pipeline.sync(integration, connection.record, ctx, state, halo,
                             limits=setup.limits, allow_mass_deactivation=setup.options.allow_mass_deactivation)
    except Cancelled:
        raise
    except IntegratorError as error:  # logged with the report, as a failure while writing is
        return Report(integration.name, connection.name, dry_run=setup.options.dry_run, failure=str(error))
    except Exception as error:  # noqa: BLE001 - a bug in one integration must not stop the others
        log.exception("%s: %s failed with an internal error", integration.title, connection.name)
        return Report(integration.name, connection.name, dry_run=setup.options.dry_run,
                      failure=f"Internal error ({type(error).__name__}); the Integrator's log file has the details.")
    finally:
        if not setup.options.dry_run:
            setup.states[connection.key] = state


def _stop(result: RunResult, code: int, message: str, log: logging.Logger) -> RunResult:
    result.exit_code, result.message = code, message
    log.error(message)
    return result
