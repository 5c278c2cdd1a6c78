"""CHECK: Test Configuration and every connection's prerequisites, printed with ticks and crosses."""

from __future__ import annotations

from argparse import Namespace

from halointegrator.app.services import config_path, default_registry, load_config, make_halo_client, start_logging
from halointegrator.engine.runner import discover
from halointegrator.errors import EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_OK


def run_check(args: Namespace) -> int:
    """Test Configuration plus every connection's prerequisite checks, printed with ticks and crosses."""
    from halointegrator.halo.setup_check import test_configuration
    from halointegrator.engine.context import RunContext

    log, _log_dir = start_logging(args)
    config = load_config(config_path(args))
    checks = test_configuration(config.halo)
    _print_checks("Halo", checks)
    if not all(check.ok for check in checks):
        return EXIT_CONFIG
    halo = make_halo_client(config)
    code = EXIT_OK
    for status in discover(halo, config.halo.client_id, default_registry(), args.only):
        context = RunContext(halo=halo, log=log, connections=config.connections, client_id=config.halo.client_id)
        results = status.integration.check(context, status.record)
        _print_checks(f"{status.integration.title}: {status.name}", results)
        for failed in (check for check in results if not check.ok):
            log.warning("%s: %s: %s: %s", status.integration.title, status.name, failed.label, failed.detail)
        if status.enabled and not all(check.ok for check in results):
            code = EXIT_INTEGRATION_FAILED
    return code


def _print_checks(heading: str, checks) -> None:
    _out(heading)
    for check in checks:
        mark = "\u2714" if check.ok else "\u2718"
        _out(f"  {mark} {check.label}" + (f": {check.detail}" if check.detail else ""))


def _out(text: str) -> None:
    try:
        print(text)
    except UnicodeEncodeError:
        print(text.encode("ascii", "replace").decode("ascii"))


