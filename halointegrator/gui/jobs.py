"""What the window's buttons run on the worker thread. No tkinter here: plain functions over the core.

Each function takes everything it needs as arguments and returns a value the tab shows; the logger
they write to feeds the Processes tab's live log (and the log file). Check Configuration is the
command line's CHECK (engine.checking), so both say the same.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from halointegrator.engine.checking import ConnectionCheck, check_all
from halointegrator.engine.model import Check, Integration
from halointegrator.engine.runner import Connection, RunOptions, RunResult, discover

__all__ = ["ConnectionCheck", "check_connections", "load_connections", "run_processing", "test_halo"]


def test_halo(settings: Any) -> list[Check]:
    """Test Configuration: the steps of halo.setup_check.test_configuration, each a tick or a cross."""
    from halointegrator.halo.setup_check import test_configuration

    return test_configuration(settings)


test_halo.__test__ = False  # not a pytest test


def load_connections(config: Any, integration: Integration) -> list[Connection]:
    """Halo's connections of one integration, each with whether this Integrator may run it."""
    from halointegrator.app.services import make_halo_client

    halo = make_halo_client(config)
    try:
        return discover(halo, config.halo.client_id, {integration.name: integration})
    finally:
        halo.close()


def check_connections(config: Any, integration: Integration, log: logging.Logger,
                      config_path: Path | None = None) -> list[ConnectionCheck]:
    """Check Configuration: every connection's prerequisites, each result also in the log (the same as CHECK,
    with the files beside ``config_path`` an integration keeps, such as the PowerShell journal)."""
    from halointegrator.app.services import make_halo_client

    halo = make_halo_client(config)
    try:
        results = check_all(halo, {integration.name: integration}, client_id=config.halo.client_id,
                            local_settings=config.connections, log=log, config_path=config_path)
    finally:
        halo.close()
    if not results:
        log.warning("%s: Halo has no connection of this kind; add one in Halo and enable it for the "
                    "Halo Integrator.", integration.title)
    return results


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
