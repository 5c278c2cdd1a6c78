"""What the window's buttons run on the worker thread. No tkinter here: plain functions over the engine.

Each function takes everything it needs as arguments and returns a value the tab shows; the logger
they write to feeds the Processes tab's live log (and the log file).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from halointegrator.engine.context import RunContext
from halointegrator.errors import IntegratorError
from halointegrator.engine.model import Check, Integration
from halointegrator.engine.runner import ConnectionStatus, RunOptions, RunResult, discover

ENABLED_LABEL = "Enabled for the Halo Integrator in Halo"


def is_enabled_check(check: Check) -> bool:
    """The check saying whether Halo lets this Integrator run the connection (integrations may give their own)."""
    return check.label.casefold().startswith("enabled for the halo integrator")


@dataclass
class ConnectionCheck:
    """One Halo connection and the ticks and crosses of its prerequisites."""

    status: ConnectionStatus
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def test_halo(settings: Any) -> list[Check]:
    """Test Configuration: the steps of checks.test_configuration, each a tick or a cross."""
    from halointegrator.halo.setup_check import test_configuration

    return test_configuration(settings)


test_halo.__test__ = False  # not a pytest test


def load_connections(config: Any, integration: Integration) -> list[ConnectionStatus]:
    """Halo's connections of one integration, each with whether this Integrator may run it."""
    from halointegrator.app.services import make_halo_client

    halo = make_halo_client(config)
    try:
        return discover(halo, config.halo.client_id, {integration.name: integration})
    finally:
        halo.close()


def check_connections(config: Any, integration: Integration, log: logging.Logger) -> list[ConnectionCheck]:
    """Check Configuration: every connection's prerequisites; each failed one is logged with its reason."""
    from halointegrator.app.services import make_halo_client

    halo = make_halo_client(config)
    try:
        statuses = discover(halo, config.halo.client_id, {integration.name: integration})
        if not statuses:
            log.warning("%s: Halo has no connection of this kind; add one in Halo and enable it for the "
                        "Halo Integrator.", integration.title)
        results = [_check_one(halo, config, status, log) for status in statuses]
    finally:
        halo.close()
    for result in results:
        for check in result.checks:
            if not check.ok and not check.detail.startswith("not run"):  # the step that failed says why
                log.warning("%s: %s: %s: %s", integration.title, result.status.name, check.label,
                            check.detail or "failed")
    return results


def _check_one(halo: Any, config: Any, status: ConnectionStatus, log: logging.Logger) -> ConnectionCheck:
    """The integration's checks, led by whether Halo lets us run it (unless the integration says so itself)."""
    context = RunContext(halo=halo, log=log, connections=config.connections, client_id=config.halo.client_id)
    try:
        checks = list(status.integration.check(context, status.record))
    except IntegratorError as error:
        checks = [Check("Prerequisite checks", False, str(error))]
    except Exception:  # noqa: BLE001 - a bug in one integration's checks must not hide the others
        log.exception("%s: %s: the prerequisite checks failed with an internal error",
                      status.integration.title, status.name)
        checks = [Check("Prerequisite checks", False, "internal error; the log file has the details")]
    if not any(is_enabled_check(check) for check in checks):
        checks.insert(0, Check(ENABLED_LABEL, status.enabled, status.reason if not status.enabled else "yes"))
    return ConnectionCheck(status, checks)


def run_processing(
    config: Any,
    config_path: Path,
    options: RunOptions,
    log: logging.Logger,
    *,
    cancel: threading.Event,
    progress: Callable[[str, int, int], None],
    registry: dict | None = None,
) -> RunResult:
    """Start Processing / Preview: one full run under the run lock, so a scheduled AUTO is refused meanwhile."""
    from halointegrator.app.services import run_with_config

    return run_with_config(config, config_path, options, log, cancel=cancel, progress=progress, registry=registry)
