"""A secret kept on this computer goes only to the server it was approved for.

Halo does not return some passwords to the Integrator (an SQL import's password, an LDAP bind password),
so the admin keeps them in the local settings; an SQL import with Windows integrated authentication
logs in with the Windows account that runs the Integrator, a secret of this computer too. Halo, though,
says where to send them: whoever may edit the connection in Halo could point it at a server they run
and collect the password. So each connection's local settings remember the endpoint its local secret
was approved for (``approved_endpoint``: for SQL driver, server, port, database and user; for LDAP the
host, port and bind DN), and a run or check that finds Halo naming another endpoint sends nothing and
says how to approve the new one.

A Windows login is approved only by the admin (``first_use=False``): no secret was stored for it, so a
connection someone adds in Halo would otherwise approve their own server on its first run.

A password's approval happens on first use: storing a secret (CONFIGURE ``--secret-env``/``--secret-stdin``, or Save
in the window) clears the connection's approved endpoint, and the next run or check that uses the
secret records the endpoint Halo names then (a dry run uses it without recording: the first real run
does). The approval is read from, and written to, the configuration file at the moment of the check: the
window keeps its config in memory while runs write the file (its Save keeps the file's approvals,
``keep_approvals``). Secrets stored by versions before this rule have no
approved endpoint either and are bound the same way, on their first use (trust on first use). Clearing
``approved_endpoint`` (``--set approved_endpoint=`` or the field in the window) approves the endpoint
Halo names at the next run without storing the secret again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, MutableMapping

from halointegrator.engine.model import LocalSetting
from halointegrator.errors import ConfigError, SourceError
from halointegrator.local.settings import is_secret_key

APPROVED_ENDPOINT = "approved_endpoint"
APPROVED_ENDPOINT_SETTING = LocalSetting(
    APPROVED_ENDPOINT, "Server approved for the local secret", "text",
    "Filled in by the first run that uses the password kept on this computer: it is sent to this server only. "
    "Storing the password again, or clearing this field, approves the server Halo names at the next run. The "
    "Windows login is never approved by a run: enter the server the error names here.")
log = logging.getLogger("halointegrator")


def endpoint_text(kind: str, parts: Iterable[tuple[str, Any]]) -> str:
    """The endpoint as it is stored and shown: 'SQL server=db1, port=1433, ...' (names compared caselessly,
    by lower(), not casefold(): casefold makes 'aßets.example' the approved 'assets.example')."""
    shown = ", ".join(f"{name}={' '.join(str(value if value is not None else '').split()).lower() or '-'}"
                      for name, value in parts)
    return f"{kind} {shown}"


def require_approved(ctx: Any, endpoint: str, secret: str, how_to_approve: str, kept_as: str = "stored",
                     same: Callable[[str], str] = lambda approved: approved, first_use: bool = True) -> None:
    """Raise SourceError when the connection's local ``secret`` was approved for another endpoint; bind it
    to ``endpoint`` when it was approved for none yet (see the module docstring). ``how_to_approve`` is what
    the admin does to approve a new endpoint ("store the SQL password again (CONFIGURE ...)"); ``same`` turns
    a stored approval into the form ``endpoint`` has (an approval stored in an older form). ``first_use``
    False: nothing is approved by use, only by the admin (the Windows login: no secret was stored for it,
    so a connection someone adds in Halo would otherwise approve their server on its first run).

    The approval is read from the configuration file at this moment, not from the config the run started
    with: the window keeps its config in memory while runs (and a scheduled AUTO) write approvals to the
    file. A dry run reads as a real run would but approves nothing (the first real run does)."""
    local: MutableMapping[str, Any] = ctx.local_settings
    approved = _approved_now(ctx, secret)
    if approved and same(approved) == endpoint:
        return
    if approved:
        raise SourceError(
            f"The server for this connection changed in Halo since the {secret} was {kept_as} on this computer "
            f"(approved: {approved}; Halo now names: {endpoint}), so the {secret} was not sent and nothing was "
            f"imported. If the change is right, {how_to_approve} to approve {endpoint}.")
    if not first_use:
        raise SourceError(
            f"The {secret} of this computer goes only to a server approved on this computer, and none is approved "
            f"for this connection, so nothing was sent and nothing was imported. If {endpoint} is right, "
            f"{how_to_approve}.")
    run_log = ctx.log if getattr(ctx, "log", None) else log
    if getattr(ctx, "dry_run", False):
        run_log.warning("The %s kept on this computer is not approved for any server yet: this dry run uses it "
                        "at %s without approving it; the first real run approves that server.", secret, endpoint)
        return
    local[APPROVED_ENDPOINT] = endpoint
    kept = _remember(getattr(ctx, "config_path", None), getattr(ctx, "connection_key", ""), endpoint)
    run_log.warning(
        "The %s kept on this computer is now approved for %s only (first use since it was stored)%s.",
        secret, endpoint, "" if kept else "; the approval could not be saved and is made again next run")


def _approved_now(ctx: Any, secret: str) -> str:
    """The connection's approved endpoint as the configuration file holds it now (the run holds the run
    lock); the run's own local settings when there is no file (unit tests, a window never saved)."""
    store = _store(getattr(ctx, "config_path", None))
    key = getattr(ctx, "connection_key", "")
    if store is None or not key:
        return str(ctx.local_settings.get(APPROVED_ENDPOINT) or "").strip()
    try:
        on_disk = store.load(discard_unreadable_secrets=True).connections.get(key, {})  # approvals are no secrets
    except ConfigError as error:
        raise SourceError(f"The server approved for the {secret} could not be read from the configuration file, "
                          f"so the {secret} was not sent: {error}") from None
    approved = str(on_disk.get(APPROVED_ENDPOINT) or "").strip()
    if approved:
        ctx.local_settings[APPROVED_ENDPOINT] = approved
    else:
        ctx.local_settings.pop(APPROVED_ENDPOINT, None)
    return approved


def _store(config_path: Path | None) -> Any:
    """The configuration file's store, or None when there is no file."""
    if config_path is None:
        return None
    from halointegrator.local.config import ConfigStore  # noqa: PLC0415 - the engine loads config lazily

    store = ConfigStore(Path(config_path))
    return store if store.exists() else None


def _remember(config_path: Path | None, key: str, endpoint: str) -> bool:
    """Write the approval into the configuration file (the run holds the run lock)."""
    store = _store(config_path)
    if store is None or not key:
        return False
    try:
        config = store.load()
        config.connections.setdefault(key, {})[APPROVED_ENDPOINT] = endpoint
        store.save(config)
    except ConfigError as error:
        log.warning("The approved endpoint of %s was not saved: %s", key, error)
        return False
    return True


def keep_approvals(shown: Mapping[str, Mapping[str, Any]], loaded: Mapping[str, Mapping[str, Any]],
                   on_disk: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The window's connections' local settings (``shown``) to save, with the approvals runs wrote to the
    file (``on_disk``) since the window loaded or saved them (``loaded``): a file's approval is kept unless
    the window changed that connection's approval, or its secrets differ from the file's (the approval was
    made for the file's secret; a secret stored anew is approved at its first use)."""
    result = {key: dict(values) for key, values in shown.items()}
    for key, disk_local in on_disk.items():
        approved = disk_local.get(APPROVED_ENDPOINT)
        window_local = shown.get(key, {})
        if not approved or window_local.get(APPROVED_ENDPOINT) != loaded.get(key, {}).get(APPROVED_ENDPOINT):
            continue
        secrets = {name for name in (*window_local, *disk_local) if is_secret_key(name)}
        if all(window_local.get(name) == disk_local.get(name) for name in secrets):
            result[key] = {**window_local, APPROVED_ENDPOINT: approved}
    return result


def after_store(kept: Mapping[str, Any], updated: Mapping[str, Any]) -> dict[str, Any]:
    """A connection's local settings after the admin stored ``updated``: a secret that changed drops the
    approved endpoint (the next use approves the endpoint Halo names then), unless the same edit set it."""
    result = dict(updated)
    changed = any(is_secret_key(key) and value and value != kept.get(key) for key, value in updated.items())
    if changed and result.get(APPROVED_ENDPOINT) == kept.get(APPROVED_ENDPOINT):
        result.pop(APPROVED_ENDPOINT, None)
    return result


def store_again(connection_key: str, secret_key: str, label: str, tab: str) -> str:
    """How to store ``secret_key`` of one connection again: the exact command and the window's place."""
    return (f"store the {label} again (HaloIntegrator CONFIGURE --connection {connection_key or 'INTEGRATION:ID'} "
            f"--secret-stdin {secret_key}, or in the window: the {tab} tab, 'Settings kept on this computer', "
            f"'{label}', Save)")


def clear_approval(connection_key: str, tab: str) -> str:
    """How to approve the endpoint Halo names now without storing a secret (a password kept locally)."""
    return (f"clear the approved server (HaloIntegrator CONFIGURE --connection {connection_key or 'INTEGRATION:ID'} "
            f"--set {APPROVED_ENDPOINT}=, or in the window: the {tab} tab, 'Settings kept on this computer', empty "
            f"'{APPROVED_ENDPOINT_SETTING.label}', Save)")


def set_approval(connection_key: str, tab: str, endpoint: str) -> str:
    """How the admin approves ``endpoint`` by name (a Windows login, which no use approves)."""
    return (f"approve it: HaloIntegrator CONFIGURE --connection {connection_key or 'INTEGRATION:ID'} --set "
            f"\"{APPROVED_ENDPOINT}={endpoint}\", or in the window: the {tab} tab, 'Settings kept on this "
            f"computer', '{APPROVED_ENDPOINT_SETTING.label}': {endpoint}, Save")


def approvals_kept(store: Any, shown: Mapping[str, Mapping[str, Any]],
                   loaded: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``keep_approvals`` with the file ``store`` holds now, read by a store of its own (``store``'s state is
    kept; approvals are no secrets, so secrets that cannot be decrypted do not stop it)."""
    from halointegrator.local.config import ConfigStore  # noqa: PLC0415 - the engine loads config lazily

    reader = ConfigStore(store.path, store.key_path, store.protector)
    return keep_approvals(shown, loaded, reader.load(discard_unreadable_secrets=True).connections)
