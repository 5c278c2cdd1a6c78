"""CHECK: Test Configuration and every connection's prerequisites, printed with ticks and crosses.

The same checks as the window's Test Configuration and Check Configuration buttons (engine.checking);
every result also goes into the day's log. Exit code 0 when everything this Integrator runs is ready.
"""

from __future__ import annotations

from argparse import Namespace

from halointegrator.app.services import config_path, default_registry, load_config, make_halo_client, start_logging
from halointegrator.engine.checking import check_all
from halointegrator.errors import EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_OK, ConfigError

TICK, CROSS, SKIP = "\u2714", "\u2718", "-"


def run_check(args: Namespace) -> int:
    """Test Configuration plus every connection's prerequisite checks, printed with ticks and crosses."""
    from halointegrator.halo.setup_check import test_configuration

    log, _log_dir = start_logging(args)
    config = load_config(config_path(args))
    registry = default_registry()
    if args.only and args.only not in registry:
        raise ConfigError(f"Unknown integration '{args.only}' for --only; known integrations: "
                          f"{', '.join(sorted(registry))}.")
    checks = test_configuration(config.halo)
    _print_checks("Halo", checks)
    for check in checks:
        (log.info if check.ok else log.warning)("Check Halo: %s: %s%s", check.label, "ok" if check.ok else "FAILED",
                                                f" ({check.detail})" if check.detail else "")
    if not all(check.ok for check in checks):
        return EXIT_CONFIG
    halo = make_halo_client(config)
    try:
        results = check_all(halo, registry, client_id=config.halo.client_id, local_settings=config.connections,
                            log=log, only=args.only, config_path=config_path(args))
    finally:
        halo.close()
    for result in results:
        title = result.integration.title if result.integration else ""
        _print_checks(f"{title}: {result.connection.name}" if result.connection else title, result.checks)
    return EXIT_INTEGRATION_FAILED if any(result.runs and not result.ok for result in results) else EXIT_OK


def _print_checks(heading: str, checks) -> None:
    _out(heading)
    for check in checks:
        mark = TICK if check.ok else (SKIP if check.not_run else CROSS)
        _out(f"  {mark} {check.label}" + (f": {check.detail}" if check.detail else ""))


def _out(text: str) -> None:
    try:
        print(text)
    except UnicodeEncodeError:
        print(text.encode("ascii", "replace").decode("ascii"))
