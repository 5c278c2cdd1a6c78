"""What one run hands to each integration: the Halo client, local settings, state, log and switches."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class RunContext:
    """Everything an integration's ``check`` and ``sync`` may use; nothing else is global.

    ``local(integration, connection_id)`` gives the settings of one Halo connection that only live in
    the encrypted local config (an Entra app secret, an LDAP CA file). ``state`` is the non-secret local
    state (Graph delta links) that outlives a run; the runner saves it after a successful run.
    """

    halo: Any  # halointegrator.halo.client.HaloClient
    log: logging.Logger
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)  # from Config.connections
    state: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    allow_mass_deactivation: bool = False
    client_id: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int, int], None] = lambda stage, done, total: None
    services: dict[str, Any] = field(default_factory=dict)  # test seams: {"graph_login": url, ...}

    def local(self, integration: str, connection_id: Any) -> dict[str, Any]:
        return self.connections.get(f"{integration}:{connection_id}", {})

    def state_for(self, integration: str, connection_id: Any) -> dict[str, Any]:
        return self.state.setdefault(f"{integration}:{connection_id}", {})
