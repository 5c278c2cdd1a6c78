"""The config file's JSON document: schema migrations, and conversion to and from ``Config``.

Secrets are Fernet tokens in the document (``{"fernet": "gAAAA..."}``); everything else is plain JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from cryptography.fernet import Fernet, InvalidToken

from halointegrator.errors import ConfigError
from .settings import HALO_FIELDS, Config, HaloSettings, is_secret_key, proxy_credentials

SCHEMA_VERSION = 1
FERNET = "fernet"
KNOWN_TOP_LEVEL = ("schema", "halo", "connections", "options", "gui")

# ----------------------------------------------------------------------------------------------------
# Schema versions. A migration takes the raw document of version N (secrets still encrypted) and
# returns version N+1. Never edit a migration once released: add the next one.


def _migrate_0_to_1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (pre-release builds, no "schema" key) kept the Halo settings and options flat."""
    doc = dict(doc)
    halo = dict(doc.pop("halo", None) or {})
    for setting in HALO_FIELDS:
        if setting.name in doc:
            halo.setdefault(setting.name, doc.pop(setting.name))
    options = dict(doc.pop("options", None) or {})
    if "allow_mass_deactivation" in doc:
        options.setdefault("allow_mass_deactivation", doc.pop("allow_mass_deactivation"))
    doc.update(schema=1, halo=halo, options=options)
    doc.setdefault("connections", {})
    return doc


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _migrate_0_to_1}


def migrate(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    version = doc.get("schema", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ConfigError(f'{path} has an invalid "schema" value. {DAMAGED_FIX}')
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc


# ----------------------------------------------------------------------------------------------------
# Document <-> Config. Decoding collects the labels of secrets it could not decrypt instead of failing
# at the first, so the message can list them all.


def encrypt(fernet: Fernet, value: str) -> dict[str, str]:
    return {FERNET: fernet.encrypt(value.encode("utf-8")).decode("ascii")}


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {FERNET} and isinstance(value[FERNET], str)


HALO_SECRETS = ("client_secret", "proxy")


def encrypted_labels(doc: dict[str, Any]) -> list[str]:
    """Where the (migrated) document holds encrypted secrets, as words for a message."""
    halo = doc.get("halo") if isinstance(doc.get("halo"), dict) else {}
    labels = [_halo_label(name) for name in HALO_SECRETS if is_encrypted(halo.get(name))]
    connections = doc.get("connections") if isinstance(doc.get("connections"), dict) else {}
    for conn, settings in connections.items():
        if isinstance(settings, dict):
            labels += [_conn_label(conn, k) for k, v in settings.items() if is_secret_key(k) and is_encrypted(v)]
    return labels


def secret_labels(config: Config) -> list[str]:
    """Where a saved document must hold encrypted secrets (same words and order as encrypted_labels)."""
    labels = [_halo_label("client_secret")] if config.halo.client_secret else []
    labels += [_halo_label("proxy")] if proxy_credentials(config.halo.proxy) else []
    for conn, settings in config.connections.items():
        labels += [_conn_label(conn, k) for k, v in settings.items() if is_secret_key(k) and isinstance(v, str) and v]
    return labels


def _halo_label(name: str) -> str:
    return {"client_secret": "the Halo Client Secret", "proxy": "the proxy address"}.get(name, name)


def _conn_label(conn: str, name: str) -> str:
    return f"{name} of connection {conn}"


class SecretDecoder:
    def __init__(self, fernet: Fernet | None) -> None:
        self.fernet = fernet
        self.unreadable: list[str] = []

    def secret(self, value: Any, label: str) -> Any:
        if not is_encrypted(value):
            return value  # plain text typed into the file by hand: encrypted on the next save
        try:
            if self.fernet is None:
                raise InvalidToken
            return self.fernet.decrypt(value[FERNET].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            self.unreadable.append(label)
            return ""


def document_from_config(config: Config, fernet: Fernet | None) -> dict[str, Any]:
    def seal(value: Any) -> Any:
        if isinstance(value, str) and value:
            assert fernet is not None, "a key is needed to save secrets"
            return encrypt(fernet, value)
        return value

    halo = {setting.name: getattr(config.halo, setting.name) for setting in HALO_FIELDS}
    halo.update({k: v for k, v in config.halo.unknown.items() if k not in halo})
    halo["client_secret"] = seal(config.halo.client_secret)
    if proxy_credentials(config.halo.proxy):
        halo["proxy"] = seal(config.halo.proxy)
    connections = {
        conn: {k: seal(v) if is_secret_key(k) else v for k, v in settings.items()}
        for conn, settings in config.connections.items()
    }
    doc: dict[str, Any] = {"schema": SCHEMA_VERSION, "halo": halo, "connections": connections}
    doc.update(options=dict(config.options), gui=dict(config.gui))
    doc.update({k: v for k, v in config.unknown.items() if k not in KNOWN_TOP_LEVEL})
    return doc


def config_from_document(doc: dict[str, Any], decoder: SecretDecoder, path: Path) -> Config:
    halo_doc = _section(doc, "halo", path)
    halo = HaloSettings(unknown={k: v for k, v in halo_doc.items() if k not in {f.name for f in HALO_FIELDS}})
    for setting in HALO_FIELDS:
        if setting.name in halo_doc:
            value = halo_doc[setting.name]
            if setting.name in HALO_SECRETS:
                value = decoder.secret(value, _halo_label(setting.name))
            setattr(halo, setting.name, _typed(value, setting.default, setting.name, path))
    connections = {}
    for conn, settings in _section(doc, "connections", path).items():
        if not isinstance(settings, dict):
            raise ConfigError(f"In {path}, connection {conn!r} is not a JSON object. {DAMAGED_FIX}")
        connections[conn] = {
            k: decoder.secret(v, _conn_label(conn, k)) if is_secret_key(k) else v for k, v in settings.items()
        }
    return Config(
        halo=halo,
        connections=connections,
        options=_section(doc, "options", path),
        gui=_section(doc, "gui", path),
        unknown={k: v for k, v in doc.items() if k not in KNOWN_TOP_LEVEL},
    )


def _section(doc: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f'In {path}, "{name}" is not a JSON object. {DAMAGED_FIX}')
    return dict(value)


def check_halo_types(halo: HaloSettings, path: Path) -> None:
    """ConfigError if a Halo setting holds a value of the wrong type (before it is written)."""
    for setting in HALO_FIELDS:
        _typed(getattr(halo, setting.name), setting.default, setting.name, path)


def _typed(value: Any, default: Any, name: str, path: Path) -> Any:
    """The value if it has the setting's type (an int is accepted for a float); ConfigError if not."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        try:  # an int with 400 digits does not fit a float: OverflowError
            ok = ok and (isinstance(default, float) or float(value).is_integer())
            value = type(default)(value) if ok else value
        except OverflowError:
            ok = False
    else:
        ok = isinstance(value, str)
    if not ok:  # the value is not shown: it may be a secret
        raise ConfigError(
            f'In {path}, the Halo setting "{name}" should be {type(default).__name__}, not '
            f"{type(value).__name__}. Correct it, or remove it to use the default."
        )
    return value


DAMAGED_FIX = (
    "The file was not changed. Restore it from a backup, or move it away (the Configuration tab offers "
    "this) and enter the settings again."
)


class UnreadableSecrets(ConfigError):
    """Secrets in the config cannot be decrypted; ``load(discard_unreadable_secrets=True)`` is the way out."""

    def __init__(self, message: str, labels: list[str]):
        super().__init__(message)
        self.labels = labels


