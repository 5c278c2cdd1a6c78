"""The sync status: what each connection last wrote to Halo, kept in the state file beside the config.

Halo's list answers carry only their ``*_List`` fields: a user in ``GET /Users`` shows its e-mail and
DN but not ``third_party_guid`` or ``department``. So the core remembers, per connection and entity
kind, which Halo record each source key became and a fingerprint (never the value, never a secret) of
what it last wrote to each field the list does not show. Planning compares the list for the fields it
shows and the status for the others; ownership (which records this connection may deactivate) comes
from the status.

The status is a cache of what Halo holds, so losing it must never harm Halo: the binder rebuilds it
from what the lists show (and whole-record reads where they cannot tell), at the cost of rewriting
the fields it cannot verify once. The source state (Graph delta links) lives beside each connection's
status and is kept only with it, so a lost status also brings a full source read.

File format (JSON): ``{"schema": 2, "mac": "<hex>", "connections": {"azure_ad:1": {"source": {...},
"kinds": {"user": {"records": {key: [halo_id, {field: fingerprint}, gone, checked]}, "foreign": [halo_id,
...], "deactivated": [[time, deactivated, population, created], ...]}}}}}``. Schema 1 (version 1.0.0) held only the
source state per connection.

The status says which Halo records a connection owns, and so may deactivate: whoever could write one
line into it could make the Integrator deactivate any record. So ``connections`` is signed with an
HMAC keyed by a secret kept in the key store beside the config key (``keystore.state_mac_key``); a file
whose MAC does not verify is treated as lost (set aside, the status rebuilt from Halo's lists, as after
a lost file), and the log says it was changed outside the Integrator.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halointegrator.errors import ConfigError
from halointegrator.local.config import keep_copy, read_or_explain, write_advice
from halointegrator.local.fileio import write_atomic
from halointegrator.values import as_id

SCHEMA = 2
MAC_CONTEXT = b"HaloIntegrator state file v2\n"  # what the MAC covers: this, then the connections' JSON
log = logging.getLogger("halointegrator.status")


@dataclass(slots=True)
class Entry:
    """One source record as this connection last left it in Halo."""

    halo_id: int
    fields: dict[str, str] = field(default_factory=dict)  # field -> fingerprint of the value written
    gone: bool = False  # deactivated because the source no longer had it
    checked: float = 0.0  # when its whole record was last read to find drift (0: never)

    def encode(self) -> list:
        if self.checked:
            return [self.halo_id, self.fields, int(self.gone), self.checked]
        return [self.halo_id, self.fields, 1] if self.gone else [self.halo_id, self.fields]  # the usual: short

    @classmethod
    def decode(cls, raw: Any) -> "Entry | None":
        if not isinstance(raw, list) or not raw:
            return None
        halo_id = raw[0] if type(raw[0]) is int and raw[0] > 0 else as_id(raw[0])  # the usual case, quickly
        if halo_id is None:
            return None
        fields = raw[1] if len(raw) > 1 and type(raw[1]) is dict else {}
        if not all(type(value) is str for value in fields.values()):
            fields = {str(name): value for name, value in fields.items() if isinstance(value, str)}
        gone = bool(raw[2]) if len(raw) > 2 else False
        checked = float(raw[3]) if len(raw) > 3 and isinstance(raw[3], (int, float)) else 0.0
        return cls(halo_id, fields, gone, checked)


@dataclass
class KindStatus:
    """The status of one entity kind of one connection."""

    entries: dict[str, Entry] = field(default_factory=dict)  # source key -> entry
    foreign: set[int] = field(default_factory=set)  # Halo ids read whole and found to be another's
    rebuilding: bool = False  # rebuilt after a loss and not finished: records it does not know may be ours
    # (time, how many deactivated, owned active records before, how many created) of each run that
    # deactivated or created records, for planning.window_verdict
    deactivated: list[tuple[float, ...]] = field(default_factory=list)

    def encode(self) -> dict[str, Any]:
        encoded: dict[str, Any] = {"records": {key: entry.encode() for key, entry in self.entries.items()},
                                   "foreign": sorted(self.foreign)}
        if self.rebuilding:
            encoded["rebuilding"] = True
        if self.deactivated:
            encoded["deactivated"] = [list(event) for event in self.deactivated]
        return encoded

    @classmethod
    def decode(cls, raw: Any) -> "KindStatus":
        raw = raw if isinstance(raw, dict) else {}
        records = raw.get("records") if isinstance(raw.get("records"), dict) else {}
        entries = {str(key): entry for key, value in records.items() if (entry := Entry.decode(value))}
        foreign = {number for value in raw.get("foreign") or () if (number := as_id(value)) is not None}
        return cls(entries, foreign, raw.get("rebuilding") is True, _events(raw.get("deactivated")))


def _written_by_this_version(connections: dict[str, Any]) -> bool:
    """Whether a status holds what only a version that signs its status writes (an identity mark, a
    deactivation history)."""
    for connection in connections.values():
        kinds = connection.get("kinds") if isinstance(connection, dict) else None
        for kind in kinds.values() if isinstance(kinds, dict) else ():
            if not isinstance(kind, dict):
                continue
            if kind.get("deactivated"):
                return True
            records = kind.get("records") if isinstance(kind.get("records"), dict) else {}
            if any(isinstance(raw, list) and len(raw) > 1 and isinstance(raw[1], dict) and "=" in raw[1]
                   for raw in records.values()):
                return True
    return False


def _events(raw: Any) -> list[tuple[float, ...]]:
    """The deactivation history as saved; odd rows are dropped."""
    events = []
    for row in raw if isinstance(raw, list) else ():
        if isinstance(row, list) and len(row) in (3, 4) and all(isinstance(value, (int, float))
                                                              and not isinstance(value, bool) for value in row):
            events.append((float(row[0]), *(int(value) for value in row[1:])))
    return events


@dataclass
class ConnectionState:
    """Everything kept for one connection: its sync status per kind and its source's state."""

    kinds: dict[str, KindStatus] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def kind(self, name: str) -> KindStatus:
        return self.kinds.setdefault(name, KindStatus())

    def encode(self) -> dict[str, Any]:
        return {"source": self.source, "kinds": {name: kind.encode() for name, kind in self.kinds.items()}}

    @classmethod
    def decode(cls, raw: Any) -> "ConnectionState":
        raw = raw if isinstance(raw, dict) else {}
        kinds = raw.get("kinds") if isinstance(raw.get("kinds"), dict) else {}
        source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
        return cls({str(name): KindStatus.decode(value) for name, value in kinds.items()}, source)


class StatusStore:
    """Loads and saves the state file; a damaged one is set aside (it is a cache) and the run goes on.

    ``mac_key`` (the Integrator passes ``keystore.state_mac_key``) signs what is saved and is checked on
    load; without one (unit tests of the format) nothing is signed or checked.
    """

    def __init__(self, path: Path, mac_key: bytes | None = None) -> None:
        self.path = Path(path)
        self._mac_key = mac_key

    def load(self) -> dict[str, ConnectionState]:
        if not self.path.exists():
            return {}
        document = self._document(read_or_explain(self.path, "state file"))
        if document is None:
            self._set_aside()
            return {}
        if "schema" not in document:  # version 1.0.0: the source state of each connection, no status
            return {str(key): ConnectionState(source=value) for key, value in document.items()
                    if isinstance(value, dict)}
        connections = document.get("connections") if isinstance(document.get("connections"), dict) else {}
        if not self._signed_by_us(document, connections):
            self._set_aside_changed()
            return {}
        return {str(key): ConnectionState.decode(value) for key, value in connections.items()}

    def save(self, states: dict[str, ConnectionState]) -> None:
        connections = json.dumps({key: state.encode() for key, state in sorted(states.items())},
                                 separators=(",", ":"))
        mac = f'"mac":"{self._mac(connections)}",' if self._mac_key is not None else ""
        encoded = f'{{"schema":{SCHEMA},{mac}"connections":{connections}}}\n'.encode("utf-8")
        try:
            write_atomic(self.path, encoded)
        except OSError as exc:
            raise ConfigError(
                f"Cannot save the state file {self.path}: {write_advice(exc, self.path)} Halo was changed, but "
                f"the Integrator could not remember it; the next run finds the records again (no duplicates) "
                f"and rewrites once what it cannot verify."
            ) from None

    def _mac(self, connections_json: str) -> str:
        assert self._mac_key is not None
        return hmac.new(self._mac_key, MAC_CONTEXT + connections_json.encode("utf-8"), hashlib.sha256).hexdigest()

    def _signed_by_us(self, document: dict[str, Any], connections: dict[str, Any]) -> bool:
        """Whether the status is the one this Integrator saved. ``json.dumps`` of what ``json.loads`` read
        gives back the very text ``save`` signed (same separators, key order kept, floats round-trip)."""
        if self._mac_key is None:
            return True
        mac = document.get("mac")
        if mac is None and _written_by_this_version(connections):
            return False  # identity marks or a deactivation history, but no MAC: the MAC was stripped
        if mac is None:
            # A state file of an earlier version carries no MAC: it is accepted this once and signed when
            # the run saves it. (Someone who rewrites a later file as an earlier version wrote it, without
            # the marks and history this version adds, is accepted the same way: the log says so on every
            # such load.)
            log.warning("The state file %s is not signed (written by an earlier version of the Integrator); "
                        "it is accepted this once and signed from now on.", self.path)
            return True
        expected = self._mac(json.dumps(connections, separators=(",", ":")))
        return isinstance(mac, str) and hmac.compare_digest(mac, expected)

    @staticmethod
    def _document(raw: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # JSON and Unicode errors; nesting too deep to parse
            return None
        return data if isinstance(data, dict) and (data.get("schema") in (None, SCHEMA)) else None

    def _set_aside(self) -> None:
        log.warning("The state file %s is damaged or from a newer version and was set aside (%s). This run "
                    "finds the records it wrote in Halo again (no duplicates), reads every source in full "
                    "and rewrites once what it cannot verify.", self.path, self._keep("damaged"))

    def _set_aside_changed(self) -> None:
        log.warning("The state file %s was changed outside the Integrator (its signature does not match; or "
                    "the key file beside the config was replaced), so what it says about which Halo records "
                    "this Integrator owns is not trusted. It was set aside (%s); this run rebuilds the sync "
                    "status from Halo (no duplicates, nothing deactivated that it cannot show is its own) and "
                    "reads every source in full. If nobody should have edited it, find out who could write "
                    "the Integrator's folder.", self.path, self._keep("changed"))

    def _keep(self, label: str) -> str:
        try:
            return f"kept a copy as {keep_copy(self.path, label, move=True)}"
        except OSError:
            return "could not keep a copy"
