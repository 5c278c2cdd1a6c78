"""CONFIGURE: set the Halo connection, and connections' local settings, without a window."""

from __future__ import annotations

import dataclasses
import os
import sys
from argparse import Namespace
from typing import Any

from halointegrator.app.check import _out
from halointegrator.app.services import config_path, default_registry
from halointegrator.errors import EXIT_OK, ConfigError
from halointegrator.local.config import Config, ConfigStore, HaloSettings, proxy_credentials, validate_halo_settings
from halointegrator.local.settings import HALO_FIELDS

SECRET_SUFFIXES = ("secret", "password")


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
