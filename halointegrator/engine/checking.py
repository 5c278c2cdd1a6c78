"""CHECK, one for the command line and the window: each connection's prerequisites, ticks and crosses.

Whether this Integrator may run a connection is decided once, by the runner's rule, and shown as the
first two prerequisites of every integration. A connection it may not run (disabled in Halo, or
allowed only for other client ids) is never contacted: its other prerequisites say "skipped". Every
result also goes into the day's log, so a cross seen in the window (or missed at a prompt) is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halointegrator.engine.context import ReadOnlyHalo, RunContext
from halointegrator.engine.model import Check, Integration, Prerequisite
from halointegrator.engine.runner import Connection, SharedReads, allowed_client_ids, discover
from halointegrator.errors import Cancelled, IntegratorError
from halointegrator.values import flag

ENABLED = Prerequisite("enabled", "Enabled for the Halo Integrator in Halo")
ALLOWED = Prerequisite("allowed", "Allows this Integrator's client id")
CORE_PREREQUISITES = (ENABLED, ALLOWED)
LISTING = Prerequisite("listing", "Halo lists the connections")


def prerequisites_of(integration: Integration) -> tuple[Prerequisite, ...]:
    """Every row of an integration's prerequisite list, the core's first (no "enabled" row where Halo's
    record has no such switch)."""
    core = CORE_PREREQUISITES if integration.connections.enabled_field else (ALLOWED,)
    return core + integration.prerequisites


@dataclass
class ConnectionCheck:
    """One Halo connection and the ticks and crosses of its prerequisites."""

    connection: Connection | None  # None: Halo did not list the integration's connections
    checks: list[Check] = field(default_factory=list)
    integration: Integration | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def runs(self) -> bool:
        """Whether AUTO would run it (only those count for CHECK's exit code)."""
        return self.connection is None or self.connection.enabled


def check_all(halo: Any, registry: dict[str, Integration], *, client_id: str, local_settings: dict[str, dict],
              log: logging.Logger, only: str | None = None, config_path: Path | None = None) -> list[ConnectionCheck]:
    """Every connection of every integration (or ``only`` one), checked and logged; ``config_path`` as a
    run's RunContext has it (an integration's own files beside the configuration)."""
    results, reader = [], SharedReads(halo)
    for name, integration in registry.items():
        if only and name != only:
            continue
        try:
            connections = discover(reader, client_id, {name: integration})
        except Cancelled:
            raise
        except IntegratorError as error:
            check = Check(LISTING.label, False, f"Could not read the {integration.title} connections: {error}",
                          LISTING.key)
            results.append(ConnectionCheck(None, [check], integration))
            continue
        if not connections:
            log.info("%s: Halo has no connection of this kind.", integration.title)
        results += [check_connection(halo, connection, client_id, local_settings, log, config_path)
                    for connection in connections]
    for result in results:
        _log(result, log)
    return results


def check_connection(halo: Any, connection: Connection, client_id: str, local_settings: dict[str, dict],
                     log: logging.Logger, config_path: Path | None = None) -> ConnectionCheck:
    integration = connection.integration
    checks = _core_checks(connection, client_id)
    if not connection.enabled:
        skipped = f"skipped: {connection.reason}; this Integrator does not contact it"
        return ConnectionCheck(connection, checks + [Check(item.label, False, skipped, item.key)
                                                     for item in integration.prerequisites], integration)
    ctx = RunContext(halo=ReadOnlyHalo(halo), log=log, local_settings=connection.local_settings(local_settings),
                     client_id=client_id, config_path=config_path, connection_key=connection.key)
    try:
        checks += list(integration.check(ctx, connection.record))
    except Cancelled:
        raise
    except IntegratorError as error:
        checks.append(Check("Prerequisite checks", False, str(error)))
    except Exception:  # noqa: BLE001 - a bug in one integration's checks must not hide the others
        log.exception("%s: %s: the prerequisite checks failed with an internal error", integration.title,
                      connection.name)
        checks.append(Check("Prerequisite checks", False, "internal error; the log file has the details"))
    return ConnectionCheck(connection, checks, integration)


def _core_checks(connection: Connection, client_id: str) -> list[Check]:
    source, record = connection.integration.connections, connection.record
    enabled = not source.enabled_field or flag(record.get(source.enabled_field))
    allowed = allowed_client_ids(connection.integration, record)
    permitted = client_id in allowed or (not allowed and not source.explicit_allow)
    if not allowed:
        detail = connection.reason if source.explicit_allow else "any Integrator may run it"
    else:
        detail = f"ours ({client_id}) is allowed" if permitted else \
            f"Halo allows only {', '.join(sorted(allowed))}; ours is {client_id}"
    allowed_check = Check(ALLOWED.label, permitted, detail, ALLOWED.key)
    if not source.enabled_field:
        return [allowed_check]
    return [Check(ENABLED.label, enabled, "yes" if enabled else "not enabled for the Halo Integrator in Halo: switch it on "
                  "in its Halo Integrator section in Halo", ENABLED.key), allowed_check]


def _log(result: ConnectionCheck, log: logging.Logger) -> None:
    title = result.integration.title if result.integration else "?"
    where = f"{title}: {result.connection.name}" if result.connection else title
    for check in result.checks:
        mark = "ok" if check.ok else ("not run" if check.not_run else "FAILED")
        line = f"Check {where}: {check.label}: {mark}" + (f" ({check.detail})" if check.detail else "")
        if check.ok or check.not_run:
            log.info(line)
        else:
            log.warning(line)
