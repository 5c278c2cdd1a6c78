"""One run, the same for Start Processing, Preview and AUTO: discover, sync each connection, write back.

1. Ask Halo which connections of each registered integration are enabled for the Integrator and allow
   our client id. 2. Sync each one (the integration reads its source completely, plans and applies).
   3. Write Last Sync / Last Error back on the connection record. One connection failing never stops
   the others; the exit code says what happened.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from halointegrator import __version__
from halointegrator.engine.context import RunContext
from halointegrator.errors import (
    EXIT_CONFIG,
    EXIT_INTEGRATION_FAILED,
    EXIT_OK,
    Cancelled,
    ConfigError,
    IntegratorError,
)
from halointegrator.engine.model import Integration, Report

LAST_ERROR_LIMIT = 2000  # Halo shows Last Error in a form field; keep it readable


@dataclass
class RunOptions:
    dry_run: bool = False
    only: str | None = None  # an integration name, e.g. "active_directory"
    allow_mass_deactivation: bool = False


@dataclass
class ConnectionStatus:
    """A connection as its integration tab shows it."""

    integration: Integration
    record: dict[str, Any]
    enabled: bool
    reason: str  # why it will not run, when not enabled

    @property
    def name(self) -> str:
        return str(self.record.get("name") or f"connection {self.record.get('id')}")


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


def split_client_ids(connection: dict[str, Any]) -> set[str]:
    """The client ids allowed to run a connection; an empty set means any Integrator may."""
    text = connection.get("halointegrator_allowedclientids") or ""
    ids = {part.strip() for part in re.split(r"[,;\s]+", str(text)) if part.strip()}
    for pair in connection.get("halointegrator_allowedclientidslist") or []:
        if isinstance(pair, dict) and pair.get("value"):
            ids.add(str(pair["value"]).strip())
    return ids


def enabled_for(connection: dict[str, Any], client_id: str) -> tuple[bool, str]:
    if not connection.get("halointegratorenabled"):
        return False, "not enabled for the Halo Integrator in Halo"
    allowed = split_client_ids(connection)
    if allowed and client_id not in allowed:
        return False, f"Halo allows only other Integrator client ids to run it (ours is {client_id})"
    return True, ""


def discover(halo, client_id: str, registry: dict[str, Integration], only: str | None = None) -> list[ConnectionStatus]:
    """Every connection of every registered integration, with whether this Integrator may run it."""
    if only and only not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise ConfigError(f"Unknown integration '{only}' for --only; known integrations: {known}.")
    statuses = []
    for name, integration in registry.items():
        if only and name != only:
            continue
        for record in integration.list_connections(halo):
            enabled, reason = enabled_for(record, client_id)
            statuses.append(ConnectionStatus(integration, record, enabled, reason))
    return statuses


def now_for_halo() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_error_text(report: Report) -> str:
    """What Halo's Last Error field shows for one connection's run ("" clears it)."""
    problems = [report.failure] if report.failure else []
    problems += report.refused
    if report.errors:
        first = report.errors[0]
        problems.append(f"{len(report.errors)} record(s) refused by Halo; first: {first.description}: {first.message}")
    return " | ".join(problems)[:LAST_ERROR_LIMIT]


def write_back(halo, status: ConnectionStatus, report: Report, log: logging.Logger) -> None:
    """Record Last Sync (only after success) and Last Error on the connection in Halo."""
    payload: dict[str, Any] = {"id": status.record.get("id"), "halointegrator_lasterror": last_error_text(report)}
    if not report.failure:
        payload["halointegrator_lastsync"] = now_for_halo()
    try:
        halo.post(status.integration.connection_path, [payload], idempotent=True)
    except IntegratorError as error:
        log.warning("Could not write Last Sync / Last Error back to Halo for %s: %s", status.name, error)


def sync_connection(status: ConnectionStatus, make_context: Callable[[], RunContext]) -> tuple[Report, RunContext]:
    """Run one connection; an expected failure becomes the report's failure, never an exception."""
    integration, context = status.integration, make_context()
    context.log.info("%s: %s starting%s", integration.title, status.name, " (dry run)" if context.dry_run else "")
    try:
        report = integration.sync(context, status.record)
    except Cancelled:
        raise
    except IntegratorError as error:
        report = Report(integration.name, status.name, dry_run=context.dry_run, failure=str(error))
        context.log.error("%s: %s failed: %s", integration.title, status.name, error)
    except Exception as error:  # noqa: BLE001 - a bug in one integration must not stop the others
        context.log.exception("%s: %s failed with an internal error", integration.title, status.name)
        report = Report(
            integration.name, status.name, dry_run=context.dry_run,
            failure=f"Internal error ({type(error).__name__}); the Integrator's log file has the details.",
        )
    return report, context


def log_report(report: Report, title: str, log: logging.Logger) -> None:
    if report.failure:  # "finished: nothing to change" right after "failed" read as a contradiction
        done = report.summary().replace("nothing to change", "nothing")
        log.info("%s: %s stopped by that failure; done before it: %s", title, report.connection, done)
    else:
        log.info("%s: %s finished: %s", title, report.connection, report.summary())
    for reason in report.refused:
        log.warning("%s: %s: %s", title, report.connection, reason)
    for note in report.notes:
        log.info("%s: %s: %s", title, report.connection, note)
    for error in report.errors:
        log.error("%s: %s: Halo refused %s: %s", title, report.connection, error.description, error.message)


def run_all(
    halo,
    *,
    registry: dict[str, Integration],
    client_id: str,
    log: logging.Logger,
    options: RunOptions = RunOptions(),
    connections: dict[str, dict[str, Any]] | None = None,
    state: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Run every enabled connection once. ``state`` is updated in place for connections that succeeded."""
    result = RunResult()
    try:
        result.halo_version = str((halo.get("InstanceInfo") or {}).get("app_version") or "unknown")
        log.info("Halo Integrator %s; Halo version %s", __version__, result.halo_version)
        runnable, unlisted = _runnable(halo, client_id, registry, options.only, log)
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
    runner = _ConnectionRunner(halo, client_id, log, options, connections or {}, state if state is not None else {},
                               cancel or threading.Event(), progress)
    for number, status in enumerate(runnable, start=1):
        result.reports.append(runner.run(status, number, len(runnable)))
    failed = [report for report in result.reports if not report.ok]
    result.exit_code = EXIT_INTEGRATION_FAILED if failed else EXIT_OK
    result.message = f"{len(result.reports) - len(failed)} of {len(result.reports)} integration run(s) succeeded."
    result.message += "".join(f" {report.failure}" for report in unlisted)  # no connection shows these
    log.info(result.message)
    return result


def _runnable(halo, client_id: str, registry: dict[str, Integration], only: str | None,
              log: logging.Logger) -> tuple[list[ConnectionStatus], list[Report]]:
    """The connections to run, and a failed report for each integration whose connections Halo did not
    list (one integration Halo refuses, e.g. not licensed, must not stop the others)."""
    if only and only not in registry:
        discover(halo, client_id, registry, only)  # raises the ConfigError that names the known ones
    statuses, unlisted = [], []
    for name, integration in registry.items():
        if only and name != only:
            continue
        try:
            statuses += discover(halo, client_id, {name: integration})
        except Cancelled:
            raise
        except IntegratorError as error:
            message = f"Could not read the {integration.title} connections from Halo: {error}"
            log.error(message)
            unlisted.append(Report(name, integration.title, failure=message))
    for status in statuses:
        if not status.enabled:
            log.info("%s: %s skipped: %s", status.integration.title, status.name, status.reason)
    return [status for status in statuses if status.enabled], unlisted


@dataclass
class _ConnectionRunner:
    """Runs one connection after another with what they share: Halo, options, local settings and state."""

    halo: Any
    client_id: str
    log: logging.Logger
    options: RunOptions
    connections: dict[str, dict[str, Any]]
    state: dict[str, Any]
    cancel: threading.Event
    progress: Callable[[str, int, int], None] | None

    def run(self, status: ConnectionStatus, number: int, total: int) -> Report:
        if self.cancel.is_set():
            raise Cancelled("Stopped before all integrations ran.")
        if self.progress:
            self.progress(f"{status.integration.title}: {status.name}", number - 1, total)
        key = f"{status.integration.name}:{status.record.get('id')}"
        report, context = sync_connection(status, lambda: self._context(key))
        log_report(report, status.integration.title, self.log)
        if not self.options.dry_run:
            if not report.failure:
                self.state[key] = context.state[key]  # delta links move on only after a good run
            write_back(self.halo, status, report, self.log)
        return report

    def _context(self, key: str) -> RunContext:
        return RunContext(
            halo=self.halo, log=self.log, connections=self.connections,
            state={key: copy.deepcopy(self.state.get(key, {}))},
            dry_run=self.options.dry_run, allow_mass_deactivation=self.options.allow_mass_deactivation,
            client_id=self.client_id, cancel=self.cancel,
            progress=self.progress or (lambda stage, done, total: None),
        )


def _stop(result: RunResult, code: int, message: str, log: logging.Logger) -> RunResult:
    result.exit_code, result.message = code, message
    log.error(message)
    return result
