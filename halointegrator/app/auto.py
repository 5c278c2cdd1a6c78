"""AUTO: the scheduled run. Every enabled integration, logs in the Start-in folder, an exit code."""

from __future__ import annotations

import logging
import sys
from argparse import Namespace
from pathlib import Path

from halointegrator import __version__
from halointegrator.app.services import config_path, load_config, run_with_config, start_logging
from halointegrator.engine.runner import RunOptions, RunResult
from halointegrator.errors import EXIT_INTERNAL, EXIT_OK, IntegratorError
from halointegrator.local.config import Config, validate_halo_settings
from halointegrator.local.logs import write_summary


def run_auto(args: Namespace) -> int:
    """The scheduled run: every enabled integration, logs in the Start-in folder, an exit code."""
    log, log_dir = start_logging(args)
    log.info("Halo Integrator %s AUTO%s, configuration %s", __version__, " (dry run)" if args.dry_run else "", config_path(args))
    result = RunResult()
    try:
        config = load_config(config_path(args))
        for warning in validate_halo_settings(config.halo)[1]:
            log.warning(warning)
        result = run_once(args, config, log)
    except IntegratorError as error:
        log.error("%s", error)
        result.exit_code, result.message = error.exit_code, str(error)
    except BaseException:  # noqa: BLE001 - AUTO must end with a code and a log line, whatever happens
        log.exception("Internal error")
        result.exit_code, result.message = EXIT_INTERNAL, "Internal error: see the log file."
    _write_summary_safely(log_dir, result, log)
    log.info("Exit code %d", result.exit_code)
    if result.exit_code != EXIT_OK and not args.console:  # typed at a prompt, a failure must not be silent
        _err(f"{result.message or 'The run failed.'} (exit code {result.exit_code}; the log is in {log_dir})")
    return result.exit_code


def run_once(args: Namespace, config: Config, log: logging.Logger) -> RunResult:
    options = RunOptions(dry_run=bool(args.dry_run), only=args.only,
                         allow_mass_deactivation=bool(args.allow_mass_deactivation))
    return run_with_config(config, config_path(args), options, log)


def _write_summary_safely(log_dir: Path, result: RunResult, log: logging.Logger) -> None:
    try:
        path = write_summary(log_dir, result.as_dict())
        log.info("Summary of this run: %s", path)
    except OSError as error:
        log.warning("Could not write the run summary: %s", error)


def _err(text: str) -> None:
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError, UnicodeEncodeError):
        pass  # a windowed executable without a console: the log has it


