"""What the core hands an integration's ``check`` and ``read``: a read-only Halo, settings, status and switches."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from halointegrator.engine.model import EntityKind
from halointegrator.engine.status import ConnectionState, Entry


class ReadOnlyHalo:
    """The Halo client as integrations see it: they read (get, list), the core alone writes."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def settings(self) -> Any:
        return getattr(self._client, "settings", None)

    def get(self, path: str, params: dict | None = None) -> Any:
        return self._client.get(path, params)

    def list(self, path: str, key: str | None, params: dict | None = None, page_size: int | None = None) -> list[dict]:
        return self._client.list(path, key, params, page_size)


class StatusView:
    """What this connection wrote to Halo before (read-only), as its source reader may need it.

    ``known(kind)`` is False when no run of this version has left a status for the kind (the first run,
    or the state file was lost): a reader that relies on the status (a delta read) must read in full.
    """

    def __init__(self, state: ConnectionState, existing: Callable[[EntityKind], list[dict]]) -> None:
        self._state, self._existing = state, existing

    def known(self, kind: EntityKind) -> bool:
        return kind.name in self._state.kinds

    def entries(self, kind: EntityKind) -> dict[str, Entry]:
        status = self._state.kinds.get(kind.name)
        return dict(status.entries) if status else {}

    def live(self, kind: EntityKind) -> dict[str, Entry]:
        """The entries whose Halo record is still in Halo's list (the list is read once per run)."""
        listed = {record.get("id") for record in self._existing(kind)}
        return {key: entry for key, entry in self.entries(kind).items() if entry.halo_id in listed}


@dataclass
class RunContext:
    """Everything an integration's ``check`` and ``read`` may use for one connection; nothing else is global.

    ``local_settings`` are the connection's settings that only live in the encrypted local config (an
    Entra app secret, an LDAP CA file); ``state`` is its source state from the last clean run (a copy: the
    reader returns the next state in its ``SourceRead``).
    """

    halo: Any  # ReadOnlyHalo
    log: logging.Logger
    local_settings: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    status: StatusView | None = None
    dry_run: bool = False
    client_id: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int, int], None] = lambda stage, done, total: None
    deadline: Any = None  # the run's deadline (halointegrator.http), when the run has one
    services: dict[str, Any] = field(default_factory=dict)  # test seams: {"graph_session": ..., "clock": ...}
    # The configuration file of this run (None when there is none, as in unit tests): a file an integration
    # keeps of its own goes beside it, as the state file does (the PowerShell queue's journal).
    config_path: Path | None = None
    connection_key: str = ""  # "integration:id", where its local settings live in the config
    _lists: dict[tuple, list[dict]] = field(default_factory=dict, repr=False)

    def existing(self, kind: EntityKind) -> list[dict]:
        """Halo's records of ``kind`` (lean list items), read completely once per run and shared with the core."""
        key = (kind.path, kind.list_key, kind.list_params)
        if key not in self._lists:
            self._lists[key] = self.halo.list(kind.path, kind.list_key, dict(kind.list_params))
        return self._lists[key]
