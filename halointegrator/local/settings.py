"""The settings the program keeps locally: Halo access, per-connection secrets, options, window state."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

SECRET_SUFFIXES = ("secret", "password")


@dataclass
class HaloSettings:
    web_app_url: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    api_url: str = ""  # overrides; blank = discovered via /api/AuthInfo
    auth_url: str = ""
    tenant: str = ""
    ca_bundle: str = ""
    proxy: str = field(default="", repr=False)  # may hold user:password@
    verify_tls: bool = True
    request_budget: int = 300
    budget_window_seconds: int = 300
    page_size: int = 1000
    timeout_seconds: float = 60.0  # the longest one answer may take, from sending to its last byte
    run_time_limit_minutes: float = 120.0  # a whole run stops here (Last Error says so), so a hung server
    # cannot keep the run lock, and with it every scheduled run after it, for ever
    max_list_records: int = 200_000  # the most records one Halo list may hold (when Halo does not count them)
    task_account: str = ""  # Windows: the account the scheduled task runs as, when not the configuring one
    # Whole-record reads (GET /Users/{id}) a connection may make per run to settle what Halo's lean list
    # answers cannot tell (is this matching user another import's?); past it, the rest wait a run.
    record_reads_per_run: int = 100
    # Owned records read in full per run, oldest first, to find fields edited by hand in Halo that the
    # list answers do not show (drift); 0 = never (steady-state runs then make no per-record reads).
    drift_checks_per_run: int = 0
    unknown: dict[str, Any] = field(default_factory=dict, repr=False)  # keys of a newer version


HALO_FIELDS = tuple(f for f in fields(HaloSettings) if f.name != "unknown")


def is_secret_key(name: str) -> bool:
    """Connection settings whose name ends in "secret" or "password" are encrypted."""
    return name.lower().endswith(SECRET_SUFFIXES)


def connection_key(integration: str, connection_id: Any) -> str:
    return f"{integration}:{connection_id}"


def shared_key(integration: str) -> str:
    """Where the settings one integration shares across all its connections are kept (Config.connections)."""
    return f"{integration}:*"


def settings_for(integration: str, connection_id: Any, shared_keys: Iterable[str],
                 kept: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One connection's local settings: its own, with the integration's shared settings over them.

    A shared setting is read only from the shared place, so a value kept for one connection (an older
    version's per-script scripts folder, say) can neither widen nor stand in for it.
    """
    shared_keys = set(shared_keys)
    own = {key: value for key, value in kept.get(connection_key(integration, connection_id), {}).items()
           if key not in shared_keys}
    shared = {key: value for key, value in kept.get(shared_key(integration), {}).items() if key in shared_keys}
    return {**own, **shared}


def proxy_credentials(proxy: str) -> tuple[str, str] | None:
    """(user, password) from "http://user:password@host:port"; None when the proxy has none."""
    authority = proxy.split("://", 1)[-1].split("/", 1)[0]
    if "@" not in authority:
        return None
    user, _, password = authority.rsplit("@", 1)[0].partition(":")
    return unquote(user), unquote(password)


def proxy_secrets(proxy: str) -> list[str]:
    """The proxy's user and password, as typed and decoded; never the address itself: redaction masks every
    8-character piece of a secret, so a registered URL would hide the host names of the proxy's domain."""
    credentials = proxy_credentials(proxy or "")
    if credentials is None:
        return []
    raw_user, _, raw_password = proxy.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[0].partition(":")
    return [value for value in dict.fromkeys([*credentials, raw_user, raw_password]) if value]


@dataclass
class Config:
    halo: HaloSettings = field(default_factory=HaloSettings)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"allow_mass_deactivation": False}
    gui: dict[str, Any] = field(default_factory=dict)  # window geometry, last tab
    unknown: dict[str, Any] = field(default_factory=dict, repr=False)

    def connection(self, integration: str, connection_id: Any) -> dict[str, Any]:
        """The local settings of one Halo connection (created empty on first use)."""
        return self.connections.setdefault(connection_key(integration, connection_id), {})

    def secret_values(self) -> list[str]:
        """Every non-empty secret value, for log redaction (of the proxy: its user and password only)."""
        values = [self.halo.client_secret, *proxy_secrets(self.halo.proxy)]
        for settings in self.connections.values():
            values += [v for k, v in settings.items() if is_secret_key(k) and isinstance(v, str)]
        return [value for value in dict.fromkeys(values) if value]

    def sealed_values(self) -> list[str]:
        """Every non-empty value the config file keeps encrypted: the secrets, and the whole proxy address
        when it carries credentials."""
        proxy = [self.halo.proxy] if proxy_credentials(self.halo.proxy) else []
        return [value for value in dict.fromkeys([*proxy, *self.secret_values()]) if value]


