"""The headless commands: AUTO, CHECK and CONFIGURE. Imported only when one of them runs."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

from halointegrator import __version__
from halointegrator.local.config import (
    Config, ConfigStore, HaloSettings, StateStore, proxy_credentials, validate_halo_settings,
)
from halointegrator.errors import EXIT_CONFIG, EXIT_INTEGRATION_FAILED, EXIT_INTERNAL, EXIT_OK, ConfigError, IntegratorError
from halointegrator.local.lock import RunLock
from halointegrator.local.logs import add_secret, setup_logging, write_summary
from halointegrator.local.paths import choose_log_dir, default_config_path, lock_path_for, state_path_for
from halointegrator.engine.runner import RunOptions, RunResult, discover, run_all
from halointegrator.local.settings import HALO_FIELDS

SECRET_SUFFIXES = ("secret", "password")


def config_path(args: Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def start_logging(args: Namespace) -> tuple[logging.Logger, Path]:
    log_dir, note = choose_log_dir()
    log = setup_logging(log_dir, console=bool(args.console))
    if note:
        log.warning(note)
    return log, log_dir


def load_config(path: Path) -> Config:
    """The saved configuration, with every secret registered for redaction; refuses an unusable one."""
    store = ConfigStore(path)
    if not store.exists():
        raise ConfigError(
            f"No configuration at {path}. Open the Halo Integrator window and fill in the Configuration tab, "
            "or run HaloIntegrator CONFIGURE --url ... --client-id ... --secret-env client_secret=VARIABLE."
        )
    config = store.load()
    for secret in config.secret_values():
        add_secret(secret)
    problems, _warnings = validate_halo_settings(config.halo)
    if problems:
        raise ConfigError(" ".join(problems) + f" (configuration file {path})")
    return config


def make_halo_client(config: Config):
    from halointegrator.halo.client import HaloClient

    return HaloClient(config.halo, on_token=add_secret)


def default_registry():
    from integrations import REGISTRY

    return REGISTRY


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


def run_with_config(config: Config, path: Path, options: RunOptions, log: logging.Logger, *,
                    cancel=None, progress=None, registry=None) -> RunResult:
    """One run under the run lock (a second run at the same time gets LockBusy, exit 3); AUTO and the
    window both come here. The local state (Graph delta links) beside the config is saved after a real run only.
    """
    with RunLock(lock_path_for(path)) as lock:
        if lock.takeover_note():
            log.warning(lock.takeover_note())
        return _run_locked(config, path, options, log, cancel=cancel, progress=progress, registry=registry)


def _run_locked(config: Config, path: Path, options: RunOptions, log: logging.Logger, *,
                cancel, progress, registry) -> RunResult:
    state_store = StateStore(state_path_for(path))
    state = state_store.load()
    if config.options.get("allow_mass_deactivation"):
        options = dataclasses.replace(options, allow_mass_deactivation=True)
    halo = make_halo_client(config)
    try:
        result = run_all(halo, registry=registry or default_registry(), client_id=config.halo.client_id, log=log,
                         options=options, connections=config.connections, state=state, cancel=cancel,
                         progress=progress)
    finally:
        halo.close()
    if not options.dry_run:
        state_store.save(state)
    return result


def _write_summary_safely(log_dir: Path, result: RunResult, log: logging.Logger) -> None:
    try:
        path = write_summary(log_dir, result.as_dict())
        log.info("Summary of this run: %s", path)
    except OSError as error:
        log.warning("Could not write the run summary: %s", error)


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


def _err(text: str) -> None:
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError, UnicodeEncodeError):
        pass  # a windowed executable without a console: the log has it


def _out(text: str) -> None:
    try:
        print(text)
    except UnicodeEncodeError:
        print(text.encode("ascii", "replace").decode("ascii"))


def run_configure(args: Namespace) -> int:
    """Set the Halo connection (and connections' local settings) without a window."""
    path = config_path(args)
    store = ConfigStore(path)
    config = store.load() if store.exists() else Config()
    values = _collect_values(args)
    if args.connection:
        _set_connection(config, args, values)
    else:
        if args.url is not None:
            values["web_app_url"] = args.url
        for key in ("web_app_url", "api_url", "auth_url"):  # as Test Configuration and runs read them
            if key in values and values[key].strip() and "://" not in values[key]:
                values[key] = "https://" + values[key].strip()
        if args.client_id is not None:
            values["client_id"] = args.client_id
        config.halo = _updated_settings(config.halo, values)
    problems, warnings = validate_halo_settings(config.halo)
    for message in warnings:
        _out(f"Warning: {message}")
    if problems and not args.connection:
        raise ConfigError(" ".join(problems))
    store.save(config)
    _out(f"Saved the configuration to {path}")
    return EXIT_OK


def _set_connection(config: Config, args: Namespace, values: dict[str, Any]) -> None:
    """Store the values that are the connection's local settings; refuse unknown keys, say what is ignored."""
    key, settings = _connection_target(args.connection)
    local_keys = set(settings)
    halo_keys = {field.name for field in HALO_FIELDS}
    for name in values:
        if name not in local_keys and name not in halo_keys:
            raise ConfigError(f"Unknown setting '{name}' for {args.connection}; its settings: "
                              f"{', '.join(sorted(local_keys))}.")
    ignored = [name for name in values if name not in local_keys]
    ignored += [option for option, given in (("--url", args.url), ("--client-id", args.client_id)) if given is not None]
    if ignored:
        _out(f"Warning: {', '.join(ignored)} ignored: with --connection, CONFIGURE sets only that connection's "
             "settings. Run CONFIGURE again without --connection to set the Halo connection.")
    local = {k: _convert(k, v, bool) if settings[k].kind == "bool" else v for k, v in values.items() if k in local_keys}
    config.connections.setdefault(key, {}).update(local)


def _connection_target(target: str) -> tuple[str, dict[str, Any]]:
    """The config key of ``INTEGRATION:ID`` and the local settings that integration knows."""
    name, _, connection_id = target.partition(":")
    registry = default_registry()
    if not connection_id.strip() or name not in registry:
        raise ConfigError(f"--connection takes INTEGRATION:ID, for example azure_ad:1, not '{target}'; "
                          f"integrations: {', '.join(sorted(registry))}. The ID is shown on the connection's "
                          "integration tab, or in Halo.")
    return f"{name}:{connection_id.strip()}", {setting.key: setting for setting in registry[name].local_settings}


def _collect_values(args: Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key.lower().endswith(SECRET_SUFFIXES) or (key.strip() == "proxy" and proxy_credentials(value)):
            raise ConfigError(f"'{key}' is a secret: give it with --secret-env {key}=VARIABLE or --secret-stdin {key}, "
                              "never on the command line (other users can read a process's arguments).")
        values[key.strip()] = value
    for item in args.secret_env:
        key, _, variable = item.partition("=")
        if not variable or variable not in os.environ:
            raise ConfigError(f"--secret-env {key}=...: the environment variable '{variable}' is not set.")
        values[key.strip()] = os.environ[variable]
    for key in args.secret_stdin:
        line = sys.stdin.readline() if sys.stdin else ""
        values[key.strip()] = line.rstrip("\r\n")
    return values


def _updated_settings(settings: HaloSettings, values: dict[str, Any]) -> HaloSettings:
    fields = {field.name: field for field in HALO_FIELDS}
    changes = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"Unknown setting '{key}'; known: {', '.join(sorted(fields))}. A connection's "
                              "settings need --connection INTEGRATION:ID.")
        changes[key] = _convert(key, value, type(getattr(settings, key)))
    return dataclasses.replace(settings, **changes)


def _convert(key: str, value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ConfigError(f"Setting '{key}' takes true or false, not '{value}'.")
        return value.lower() in ("true", "yes", "1")
    try:
        return kind(value)
    except (TypeError, ValueError):
        wanted = "a whole number" if kind is int else "a number" if kind is float else f"a {kind.__name__}"
        raise ConfigError(f"Setting '{key}' takes {wanted}, not '{value}'.") from None
