"""The services AUTO, CHECK and the window share: the configuration, the Halo client, one locked run."""

from __future__ import annotations

import dataclasses
import logging
from argparse import Namespace
from pathlib import Path

from halointegrator.deadline import Deadline
from halointegrator.engine.pipeline import Limits
from halointegrator.engine.runner import RunOptions, RunResult, RunSetup, run_all
from halointegrator.engine.status import StatusStore
from halointegrator.errors import ConfigError
from halointegrator.local.config import Config, ConfigStore, validate_halo_settings
from halointegrator.local.keystore import state_mac_key
from halointegrator.local.lock import RunLock
from halointegrator.local.logs import add_secret, setup_logging
from halointegrator.local.paths import (choose_log_dir, default_config_path, key_path_for, lock_path_for,
                                        state_path_for)


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


def make_halo_client(config: Config, deadline: Deadline | None = None):
    from halointegrator.halo.client import HaloClient

    return HaloClient(config.halo, on_token=add_secret, deadline=deadline)


def default_registry():
    from integrations import REGISTRY

    return REGISTRY


def run_with_config(config: Config, path: Path, options: RunOptions, log: logging.Logger, *,
                    cancel=None, progress=None, registry=None) -> RunResult:
    """One run under the run lock (a second run at the same time gets LockBusy, exit 3); AUTO and the
    window both come here. The state file beside the config (the sync status and the sources' delta
    links) is saved after every real run, also one that failed or was stopped part way: it must say
    what landed in Halo.
    """
    with RunLock(lock_path_for(path)) as lock:
        if lock.takeover_note():
            log.warning(lock.takeover_note())
        return _run_locked(config, path, options, log, cancel=cancel, progress=progress, registry=registry)


def _run_locked(config: Config, path: Path, options: RunOptions, log: logging.Logger, *,
                cancel, progress, registry) -> RunResult:
    store = StatusStore(state_path_for(path), mac_key=state_mac_key(key_path_for(path)))  # signed: see status.py
    if config.options.get("allow_mass_deactivation"):
        options = dataclasses.replace(options, allow_mass_deactivation=True)
    # One deadline for the whole run: the Halo client takes it, every RunContext carries it (ctx.deadline),
    # and the Graph client and the LDAP reader also find it as the run's current one (deadline.current())
    # while run_all runs in this thread, so no source read can outlive it.
    deadline = Deadline.minutes(config.halo.run_time_limit_minutes)
    setup = RunSetup(client_id=config.halo.client_id, log=log, options=options, local_settings=config.connections,
                     states=store.load(), limits=limits_of(config), progress=progress, config_path=path,
                     deadline=deadline)
    if cancel is not None:
        setup.cancel = cancel
    halo = make_halo_client(config, deadline)
    try:
        with deadline.active():
            return run_all(halo, registry or default_registry(), setup)
    finally:
        halo.close()
        if not options.dry_run:
            store.save(setup.states)


def limits_of(config: Config) -> Limits:
    return Limits(record_reads=max(0, config.halo.record_reads_per_run),
                  drift_checks=max(0, config.halo.drift_checks_per_run))


