"""CONFIGURE: set the Halo connection, and connections' local settings, without a window.

Every argument is checked before anything is read or written, and every problem is reported at once (a
bad address and an unset variable together), each with what to type instead: an address that cannot
work is refused here, not at the next scheduled run. Secrets come only from an environment variable or
standard input, never from the command line, however the key is spelt.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from argparse import Namespace
from typing import Any

from halointegrator.app.check import _out
from halointegrator.app.services import config_path, default_registry
from halointegrator.app.typed_input import not_text, shown, url_problem
from halointegrator.engine.endpoint_approval import after_store
from halointegrator.errors import EXIT_OK, ConfigError
from halointegrator.local.config import (
    Config,
    ConfigStore,
    HaloSettings,
    proxy_credentials,
    validate_halo_settings,
)
from halointegrator.local.settings import HALO_FIELDS, shared_key
from halointegrator.values import as_bool

SECRET_SUFFIXES = ("secret", "password")
URL_SETTINGS = {"web_app_url": "--url", "api_url": "--set api_url=", "auth_url": "--set auth_url="}


def run_configure(args: Namespace) -> int:
    """Set the Halo connection (and connections' local settings) without a window."""
    path = config_path(args)
    problems: list[str] = []
    values = _collect_values(args, problems)
    if not args.connection:
        _add_halo_arguments(args, values, problems)
    if problems:
        raise ConfigError(" ".join(problems))
    store = ConfigStore(path)
    config = store.load() if store.exists() else Config()
    if args.connection:
        _set_connection(config, args, values)
    else:
        config.halo = _updated_settings(config.halo, values)
    problems, warnings = validate_halo_settings(config.halo)
    for message in warnings:
        _out(f"Warning: {message}")
    if problems and not args.connection:
        raise ConfigError(" ".join(problems))
    store.save(config)
    _out(f"Saved the configuration to {path}")
    return EXIT_OK


def _add_halo_arguments(args: Namespace, values: dict[str, Any], problems: list[str]) -> None:
    """--url and --client-id into ``values``; each address checked and completed with https://."""
    if args.url is not None:
        values["web_app_url"] = args.url
    if args.client_id is not None:
        problems += not_text(args.client_id, "--client-id")
        values["client_id"] = args.client_id
    for key, option in URL_SETTINGS.items():
        if key in values and isinstance(values[key], str) and values[key].strip():
            problem, completed = url_problem(values[key], option)
            if problem:
                problems.append(problem)
            values[key] = completed


def _set_connection(config: Config, args: Namespace, values: dict[str, Any]) -> None:
    """Store the values that are the connection's local settings; refuse unknown keys, say what is ignored."""
    key, settings = _connection_target(args.connection)
    local_keys = set(settings)
    halo_keys = {field.name for field in HALO_FIELDS}
    for name in values:
        if name not in local_keys and name not in halo_keys:
            raise ConfigError(f"Unknown setting '{shown(name)}' for {shown(args.connection)}; its settings: "
                              f"{', '.join(sorted(local_keys))}.{_shared_hint(args.connection, name)}")
    ignored = [name for name in values if name not in local_keys]
    ignored += [option for option, given in (("--url", args.url), ("--client-id", args.client_id)) if given is not None]
    if ignored:
        _out(f"Warning: {', '.join(ignored)} ignored: with --connection, CONFIGURE sets only that connection's "
             "settings. Run CONFIGURE again without --connection to set the Halo connection.")
    local = {k: _convert(k, v, bool) if settings[k].kind == "bool" else v for k, v in values.items() if k in local_keys}
    kept = config.connections.get(key, {})
    # A secret stored anew drops the endpoint the old one was approved for: the next run approves
    # the endpoint Halo names then (halointegrator.engine.endpoint_approval).
    config.connections[key] = after_store(kept, {**kept, **local})


def _shared_hint(target: str, key: str) -> str:
    """" It is kept once for all of powershell's connections: --connection powershell." when it is."""
    name = target.partition(":")[0]
    integration = default_registry().get(name)
    if integration is None or key not in {setting.key for setting in integration.shared_settings}:
        return ""
    return f" '{shown(key)}' is kept once for all of {shown(name)}'s connections: --connection {shown(name)}."


def _connection_target(target: str) -> tuple[str, dict[str, Any]]:
    """The config key of ``INTEGRATION:ID`` (or of ``INTEGRATION``'s shared settings) and the settings it takes."""
    name, colon, connection_id = target.partition(":")
    registry = default_registry()
    integration = registry.get(name.strip())
    if integration is not None and not colon and not not_text(target, "--connection"):
        if integration.shared_settings:
            return shared_key(integration.name), {setting.key: setting for setting in integration.shared_settings}
        raise ConfigError(f"{shown(name)} keeps no settings for all its connections on this computer: give one "
                          f"connection as --connection {shown(name)}:ID (the ID is shown on its integration tab).")
    if not connection_id.strip() or integration is None or not_text(target, "--connection"):
        raise ConfigError(f"--connection takes INTEGRATION:ID, for example azure_ad:1, not '{shown(target)}'; "
                          f"integrations: {', '.join(sorted(registry))}. The ID is shown on the connection's "
                          "integration tab, or in Halo.")
    return f"{name}:{connection_id.strip()}", {setting.key: setting for setting in integration.local_settings}


def _collect_values(args: Namespace, problems: list[str]) -> dict[str, Any]:
    """The --set, --secret-env and --secret-stdin values; what is wrong with them goes to ``problems``."""
    values: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        key = key.strip()
        if key.lower().endswith(SECRET_SUFFIXES) or (key == "proxy" and proxy_credentials(value)):
            problems.append(f"'{shown(key)}' is a secret: give it with --secret-env {shown(key)}=VARIABLE or "
                            f"--secret-stdin {shown(key)}, never on the command line (other users can read a "
                            "process's arguments).")
            continue
        found = not_text(key, "A --set name") + not_text(value, f"The value of --set {shown(key)}")
        problems += found
        values[key] = value
    for item in args.secret_env:
        _secret_from_environment(item, values, problems)
    for key in args.secret_stdin:
        line, problem = _stdin_line(key)
        problems += problem
        values[key.strip()] = line
    return values


def _secret_from_environment(item: str, values: dict[str, Any], problems: list[str]) -> None:
    key, equals, variable = (part.strip() for part in item.partition("="))
    if not equals or not key or not variable:
        problems.append(f"--secret-env takes KEY=VARIABLE: the setting, '=', and the environment variable holding "
                        f"the secret, e.g. --secret-env client_secret=VARIABLE (not '{shown(item)}').")
        return
    if variable not in os.environ:
        problems.append(f"--secret-env {shown(key)}=...: the environment variable '{shown(variable)}' is not set. Set "
                        f"it in the same session first, then run CONFIGURE again.")
        return
    value = os.environ[variable]
    problems += not_text(value, f"The environment variable '{shown(variable)}'")
    values[key] = value


def _stdin_line(key: str) -> tuple[str, list[str]]:
    """One line of standard input (the secret for ``key``), read as bytes and decoded strictly."""
    stream = sys.stdin
    if stream is None:
        return "", [f"--secret-stdin {shown(key)}: there is no standard input to read the secret from."]
    raw = stream.buffer.readline() if hasattr(stream, "buffer") else stream.readline()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "", [f"--secret-stdin {shown(key)}: the line read is not UTF-8 text. Give the secret as plain "
                        "(UTF-8) text."]
    return raw.rstrip("\r\n"), []


def _updated_settings(settings: HaloSettings, values: dict[str, Any]) -> HaloSettings:
    fields = {field.name: field for field in HALO_FIELDS}
    changes = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"Unknown setting '{shown(key)}'; known: {', '.join(sorted(fields))}. A connection's "
                              "settings need --connection INTEGRATION:ID.")
        changes[key] = _convert(key, value, type(getattr(settings, key)))
    return dataclasses.replace(settings, **changes)


def _convert(key: str, value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        parsed = as_bool(value) if value.strip() else None  # the one word list (values.py); blank is no answer
        if parsed is None:
            raise ConfigError(f"Setting '{key}' takes true or false, not '{shown(value)}'.")
        return parsed
    try:
        return kind(value)
    except (TypeError, ValueError):
        wanted = "a whole number" if kind is int else "a number" if kind is float else f"a {kind.__name__}"
        raise ConfigError(f"Setting '{key}' takes {wanted}, not '{shown(value)}'.") from None
