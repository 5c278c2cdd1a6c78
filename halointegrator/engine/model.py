"""The nouns every part shares: checks, wanted records, changes, plans and reports.

Data flows one way: a source is read into ``Wanted`` records (pure mapping), Halo's records are read,
``engine.plan`` compares them into a ``Plan`` of ``Change``s, and ``engine.apply`` turns the plan into
a ``Report``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

CREATE, UPDATE, LINK, DEACTIVATE = "create", "update", "link", "deactivate"
ACTIONS = (CREATE, UPDATE, LINK, DEACTIVATE)


@dataclass(frozen=True)
class Check:
    """One prerequisite: a tick (ok) or a cross, with the reason shown beside it."""

    label: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class EntityKind:
    """A kind of Halo record an integration writes."""

    name: str  # "user", "asset": used in change descriptions
    path: str  # Halo resource: "Users", "Asset"
    list_key: str  # envelope key of the list answer: "users", "assets"
    identity_field: str  # Halo field holding the source's stable id: "azureoid", "intune_id", ...
    label_field: str = "name"  # Halo field that names a record to a person


@dataclass(frozen=True)
class Wanted:
    """A record as the source says it should be in Halo.

    ``fields`` are Halo field names and values (the identity field included); ``scope`` names the
    mapping (OU, group) that produced it, so a mapping that returned nobody can be protected.
    """

    key: str
    label: str
    fields: dict[str, Any]
    scope: str = ""


@dataclass(frozen=True)
class Change:
    """One write to Halo, with the words the log uses for it."""

    action: str  # one of ACTIONS
    kind: EntityKind
    key: str  # the source identity, or the Halo id for a deactivation of a record with no key
    halo_id: int | None  # None for a create
    payload: dict[str, Any]  # exactly what is posted: {"id": ..., changed fields} or the new record
    description: str  # "Create user Ada Lovelace (ada@example.com)"


@dataclass
class Plan:
    """Everything one integration would write, built completely before the first write."""

    changes: list[Change] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a guard held changes back
    notes: list[str] = field(default_factory=list)  # things the log should say (links, skipped records)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def __bool__(self) -> bool:
        return bool(self.changes)


@dataclass
class RecordError:
    """A record Halo refused; its neighbours in the batch still land."""

    description: str
    message: str


@dataclass
class Report:
    """What one integration run did (or, in a dry run, would have done)."""

    integration: str
    connection: str
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {action: 0 for action in ACTIONS})
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # "user" -> {"create": 3, ...}
    errors: list[RecordError] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: int = 0
    failure: str = ""  # set when the integration failed as a whole

    @property
    def ok(self) -> bool:
        return not self.failure and not self.errors and not self.refused

    def merge(self, other: "Report") -> None:
        for action, number in other.counts.items():
            self.counts[action] = self.counts.get(action, 0) + number
        for kind, counts in other.by_kind.items():
            mine = self.by_kind.setdefault(kind, {})
            for action, number in counts.items():
                mine[action] = mine.get(action, 0) + number
        self.errors += other.errors
        self.refused += other.refused
        self.notes += other.notes
        self.skipped += other.skipped

    def summary(self) -> str:
        verb = "would " if self.dry_run else ""
        if self.by_kind:
            parts = [f"{verb}{action} {n} {kind}(s)" for action in ACTIONS
                     for kind, counts in self.by_kind.items() if (n := counts.get(action))]
        else:
            parts = [f"{verb}{action} {n}" for action, n in self.counts.items() if n]
        text = ", ".join(parts) or "nothing to change"
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.errors:
            text += f", {len(self.errors)} record(s) refused by Halo"
        return text

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class LocalSetting:
    """A setting of one connection that Halo does not hold, kept in the encrypted local config."""

    key: str
    label: str
    kind: str = "text"  # "text", "secret", "bool", "path"
    help: str = ""
    default: Any = None  # what the integration assumes when nothing is stored (shown so in the window)


@dataclass(frozen=True)
class Integration:
    """What an integration declares; the runner, CLI and GUI are driven by this alone.

    ``list_connections(halo)`` returns Halo's connection records of this kind with their details.
    ``check(ctx, connection)`` returns the prerequisite ``Check``s (no writes).
    ``sync(ctx, connection)`` reads the source completely, plans, guards and applies; returns a Report.
    """

    name: str
    title: str
    description: str
    connection_path: str  # "LDAPConnection", "azureadconnection"
    prerequisites: tuple[str, ...]
    local_settings: tuple[LocalSetting, ...]
    list_connections: Callable[..., list[dict]]
    check: Callable[..., list[Check]]
    sync: Callable[..., Report]
