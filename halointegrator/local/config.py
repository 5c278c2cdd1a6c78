"""The encrypted config file beside the program, and the plain state file beside it.

``HaloIntegrator.config`` is JSON with a ``schema`` number; every secret in it is a Fernet token made
with the key in ``HaloIntegrator.key`` (keystore.py). Loading never writes. Saving writes a temp file,
checks that it decrypts, then replaces the old file in one step, so a failure leaves the old file as
it was. A file whose secrets cannot be decrypted is never silently overwritten: the user chooses
``load(discard_unreadable_secrets=True)``, and the next save keeps the old file as
``<name>.unreadable-<time>``.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from . import acl, keystore
from .config_checks import validate_halo_settings
from .config_codec import (
    DAMAGED_FIX, MIGRATIONS, SCHEMA_VERSION, SecretDecoder, UnreadableSecrets, check_halo_types,
    config_from_document, document_from_config, encrypted_labels, migrate, secret_labels,
)
from halointegrator.errors import ConfigError
from .fileio import NotARegularFile, read_regular, write_atomic
from .paths import key_path_for
from .settings import Config, HaloSettings, connection_key, is_secret_key, proxy_credentials

__all__ = [
    "Config", "ConfigStore", "HaloSettings", "UnreadableSecrets", "validate_halo_settings",
    "SCHEMA_VERSION", "MIGRATIONS", "is_secret_key", "connection_key", "proxy_credentials",
]

log = logging.getLogger("halointegrator.local.config")

REENTER_FIX = (
    "Restore the key file that was created with this config, or re-enter the secrets in the Configuration "
    "tab (it keeps the old file as {name}.unreadable-<time>)."
)


def read_or_explain(path: Path, what: str) -> bytes:
    """The file's bytes, or a ConfigError saying who must be able to read it (or that it is no file)."""
    try:
        return read_regular(path)
    except NotARegularFile as exc:
        raise ConfigError(f"The {what} {path} cannot be used: {exc.strerror}. Give the path of the "
                          f"{path.name if path.suffix else 'HaloIntegrator.config'} file itself.") from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the {what} {path}: {exc.strerror or exc}. Run the integrator as a user who may read "
            f"it (a Scheduled Task's account needs access to the integrator's folder)."
        ) from None


def write_advice(exc: OSError, path: Path) -> str:
    """Why a file could not be written, and what to do: a full disk is not a permission problem."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"the disk holding {path.parent} is full ({exc.strerror or exc}). Free some space on it (old "
                "logs, temporary files) and run again.")
    if exc.errno == errno.EROFS:
        return f"{path.parent} is on a read-only file system. Move the integrator to a folder that can be written."
    return (f"{exc.strerror or exc}. Run the integrator as a user who may write in {path.parent}, or move it to "
            "such a folder.")


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def keep_copy(path: Path, label: str, *, move: bool = False) -> Path:
    """Copy (or move) ``path`` to ``<name>.<label>-<time>`` beside it, never over an existing file."""
    candidate = path.with_name(f"{path.name}.{label}-{timestamp()}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{label}-{timestamp()}-{number}")
    (shutil.move if move else shutil.copy2)(path, candidate)
    return candidate


class ConfigStore:
    """Loads and saves one config file; remembers what a load found out for the next save."""

    def __init__(self, path: Path, key_path: Path | None = None, protector: Any = None) -> None:
        self.path = Path(path)
        self.key_path = Path(key_path) if key_path is not None else key_path_for(self.path)
        self.protector = protector  # None: DPAPI on Windows, plain key file elsewhere
        self.notes: list[str] = []  # sentences the caller should log (newer schema, kept copies)
        self._key: bytes | None = None
        self._key_replaceable = False  # nothing readable depends on the current key file
        self._keep_unreadable = False  # the next save first keeps the old file
        self._newer_schema = 0

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, discard_unreadable_secrets: bool = False) -> Config:
        """The settings in the file; ``Config()`` when there is none. Raises ConfigError, never writes."""
        self.notes = []
        if not self.path.exists():
            self._key_replaceable = True
            return Config()
        doc = migrate(self._read_document(), self.path)
        decoder = SecretDecoder(self._fernet_for_load(doc, discard_unreadable_secrets))
        config = config_from_document(doc, decoder, self.path)
        acl.set_task_account(config.halo.task_account)
        if decoder.unreadable and not discard_unreadable_secrets:
            raise UnreadableSecrets(self._undecryptable_message(decoder.unreadable), decoder.unreadable)
        if decoder.unreadable:
            self._keep_unreadable = True
            self.notes.append(
                f"Discarded secrets that could not be decrypted ({', '.join(decoder.unreadable)}); the next save "
                f"keeps the old file as {self.path.name}.unreadable-<time>."
            )
        return config

    def _read_document(self) -> dict[str, Any]:
        raw = read_or_explain(self.path, "config file")
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise ConfigError(
                f"The config file {self.path} is damaged or truncated: it is not valid JSON{where}. {DAMAGED_FIX}"
            ) from None
        if not isinstance(doc, dict):
            raise ConfigError(f"The config file {self.path} does not hold a JSON object. {DAMAGED_FIX}")
        version = doc.get("schema", 0)
        self._newer_schema = version if isinstance(version, int) and version > SCHEMA_VERSION else 0
        if self._newer_schema:
            self.notes.append(
                f"{self.path} was written by a newer Halo Integrator (schema {version}); this version reads "
                f"it but will not save over it."
            )
        return doc

    def _fernet_for_load(self, doc: dict[str, Any], discard: bool) -> Fernet | None:
        """The key, loaded only when the file holds secrets. None (all unreadable) only when discarding."""
        self._key = None
        labels = encrypted_labels(doc)
        self._key_replaceable = not labels
        if not labels:
            return None
        try:
            self._key = keystore.load_key(self.key_path, create=False, protector=self.protector)
            self._note_loose_key()
        except keystore.KeyFileMissing:
            if discard:
                self._key_replaceable = True
                return None
            raise UnreadableSecrets(
                f"The config file {self.path} holds encrypted secrets, but their key file {self.key_path} is "
                f"missing. Copy the key file that was created with it back beside it, or re-enter the "
                f"secrets in the Configuration tab (it keeps the old file as {self.path.name}.unreadable-<time>).",
                labels,
            ) from None
        except ConfigError as exc:
            if discard:
                self._key_replaceable = True
                return None
            raise UnreadableSecrets(f"Cannot decrypt the secrets in {self.path}. {exc}", labels) from None
        return Fernet(self._key)

    def _note_loose_key(self) -> None:
        note = keystore.ensure_private(self.key_path)
        if note:
            self.notes.append(note)
            log.warning(note)

    def _undecryptable_message(self, labels: list[str]) -> str:
        return (
            f"The secrets in {self.path} ({', '.join(labels)}) cannot be decrypted with the key in "
            f"{self.key_path}. This happens when the config or the key file was copied from another machine "
            f"(DPAPI keys do not move between machines) or the key file was replaced. "
            + REENTER_FIX.format(name=self.path.name)
        )

    def keep_aside(self, label: str = "damaged") -> Path:
        """Move a damaged config to ``<name>.<label>-<time>`` so the user can start again (a deliberate act)."""
        kept = keep_copy(self.path, label, move=True)
        self._keep_unreadable, self._key_replaceable = False, True
        return kept

    def save(self, config: Config) -> None:
        """Write atomically (0600); raise ConfigError, leaving the old file intact, if anything fails."""
        self.notes = []
        if not self.path.parent.exists():  # else the key file's "No such file or directory" blames permissions
            raise ConfigError(f"The folder {self.path.parent} does not exist, so {self.path.name} was not saved. "
                              "Create the folder, or choose a configuration file in an existing folder.")
        self._refuse_to_overwrite()
        check_halo_types(config.halo, self.path)
        acl.set_task_account(config.halo.task_account)  # Windows: the task's account may read what is written
        fernet = self._fernet_for_save(config)
        data = (json.dumps(document_from_config(config, fernet), indent=2, ensure_ascii=False) + "\n").encode()
        try:
            if self._keep_unreadable and self.path.exists():
                self.notes.append(f"The unreadable config was kept as {keep_copy(self.path, 'unreadable')}.")
            write_atomic(self.path, data, verify=lambda temp: self._verify(temp, config, fernet))
        except OSError as exc:
            raise ConfigError(f"Cannot save the config file {self.path}: {write_advice(exc, self.path)} The old "
                              "file was not changed.") from None
        self._keep_unreadable = False
        self._key_replaceable = fernet is None and self._key_replaceable

    def _refuse_to_overwrite(self) -> None:
        if self._newer_schema:
            raise ConfigError(
                f"{self.path} was written by a newer Halo Integrator (schema {self._newer_schema}), so this "
                f"older version does not save over it. Use the newer version."
            )
        try:
            mode = self.path.stat().st_mode
        except OSError:
            return  # no file to protect; a folder problem is reported by the write
        if not mode & stat.S_IWUSR:  # checked by hand: root may write anyway, and os.replace ignores it
            raise ConfigError(
                f"The config file {self.path} is read-only, so the settings were not saved. Clear its read-only "
                f"attribute (Properties, or chmod u+w) and save again."
            )

    def _fernet_for_save(self, config: Config) -> Fernet | None:
        if not config.sealed_values():
            return None
        if self._key is None:
            try:
                self._key = keystore.load_key(self.key_path, create=True, protector=self.protector)
            except ConfigError:
                if not (self._key_replaceable and self.key_path.exists()):
                    raise
                kept = keep_copy(self.key_path, "unreadable", move=True)
                self.notes.append(f"The unusable key file was kept as {kept}; a new key was made.")
                self._key = keystore.load_key(self.key_path, create=True, protector=self.protector)
        return Fernet(self._key)

    def _verify(self, temp: Path, config: Config, fernet: Fernet | None) -> None:
        """Re-read the written bytes and decrypt every secret before they replace the old file."""
        decoder = SecretDecoder(fernet)
        doc = json.loads(temp.read_bytes().decode("utf-8"))
        written = config_from_document(doc, decoder, temp)
        all_sealed = encrypted_labels(doc) == secret_labels(config)
        if decoder.unreadable or not all_sealed or written.sealed_values() != config.sealed_values():
            raise ConfigError(f"Saving {self.path} failed its check (secrets did not read back). Nothing was changed.")
