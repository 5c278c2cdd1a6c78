"""The nouns every part shares: checks, wanted records, changes, plans, reports, and what an integration declares.

Data flows one way: an integration's source reader yields ``Wanted`` records per ``EntityKind`` (pure
mapping), the core reads Halo's lean lists, binds each wanted record to the Halo record it means
(``binding``), plans the writes (``planning``), applies them (``applying``) and remembers what it wrote
(``status``). An integration declares; it never plans, applies or posts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from halointegrator.values import identity_key

CREATE, UPDATE, LINK, DEACTIVATE = "create", "update", "link", "deactivate"
RUN, POST = "run", "post"  # what a job integration does: run a job, post an outcome Halo was not told
WRITES = (CREATE, UPDATE, LINK, DEACTIVATE)
ACTIONS = WRITES + (RUN, POST)


@dataclass(frozen=True)
class Prerequisite:
    """One row of an integration tab's prerequisite list; checks name it by ``key``."""

    key: str
    label: str


@dataclass(frozen=True)
class Check:
    """One result: a tick (ok) or a cross, with the reason shown beside it.

    ``prerequisite`` is the key of the declared ``Prerequisite`` it answers (one prerequisite may have
    several results: one per mapped OU); "" for checks outside a declaration (Test Configuration).
    """

    label: str
    ok: bool
    detail: str = ""
    prerequisite: str = ""

    @property
    def not_run(self) -> bool:
        return not self.ok and self.detail.startswith(("not run", "skipped"))


@dataclass(frozen=True)
class EntityKind:
    """A kind of Halo record an integration writes, and how Halo lists it."""

    name: str  # "user", "asset": used in change descriptions and as the status's kind
    path: str  # Halo resource: "Users", "Asset"
    list_key: str  # envelope key of the list answer: "users", "assets"
    identity_field: str  # Halo field holding the source's stable id: "third_party_guid", "azureoid", ...
    label_field: str = "name"  # Halo field that names a record to a person
    list_params: tuple[tuple[str, str], ...] = ()  # what the list read asks for (inactive records too, ...)
    listed: frozenset[str] = frozenset()  # the fields a list item may show (its *_List schema); others only by id
    # Listed fields that name whom a record is (a DN, a login, a serial): a record this connection owns that
    # shows another value in one of them than it wrote is not deactivated (planning.identity_mark)
    shown_identity: tuple[str, ...] = ()


def _same_text(field_name: str, value: Any) -> str:
    return identity_key(value)


def _nothing_claimed(record: dict) -> bool:
    return False


def _identity_set(kind: EntityKind) -> Callable[[dict], bool | None]:
    def owns(record: dict) -> bool | None:
        if kind.identity_field not in record:
            return None
        return bool(identity_key(record.get(kind.identity_field)))
    return owns


@dataclass(frozen=True)
class Identity:
    """How the core finds this connection's records in Halo's lean list answers.

    A list item carries only its ``*_List`` fields, so the identity field may be invisible. The core
    binds a wanted record to a Halo record through, in turn: the sync status (what this connection wrote
    before), the identity field where a record shows it, a ``recognise`` field (a list-visible field
    whose value names the record, e.g. the AD DN), then a ``match`` field (email, login) for a record no
    import owns, which is linked once. A candidate whose list item cannot say whether it carries another
    identity (any ``hints`` field filled) is read whole by id, a bounded number per run.
    """

    recognise: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    # A listed record the status does not know that may be ours (e.g. a DN under a mapped OU): read whole
    # to settle it. ``owns`` answers for any record: True, False, or None when its fields cannot tell.
    claims: Callable[[dict], bool] = _nothing_claimed
    owns: Callable[[dict], bool | None] | None = None  # default: the identity field is set
    compare: Callable[[str, Any], str] = _same_text  # (field, value) -> the form values are compared in
    scope_of: Callable[[dict], str] = lambda record: ""  # the mapping (OU, site) a Halo record is in

    def owner_test(self, kind: EntityKind) -> Callable[[dict], bool | None]:
        return self.owns or _identity_set(kind)


@dataclass(frozen=True)
class Wanted:
    """A record as the source says it should be in Halo.

    ``fields`` are Halo field names and values (the identity field included); ``scope`` names the
    mapping (OU, group) that produced it, so a mapping that returned nobody can be protected. A record
    that is not ``complete`` (a delta item with only the changed properties, a user kept as Halo holds
    it) may update its Halo record but never creates one.
    """

    key: str
    label: str
    fields: dict[str, Any]
    scope: str = ""
    complete: bool = True


@dataclass(frozen=True)
class KindRead:
    """What a source read gave for one entity kind, with the rules that find its records in Halo."""

    kind: EntityKind
    wanted: list[Wanted]
    identity: Identity = Identity()
    empty_scopes: frozenset[str] = frozenset()  # mappings the read gave nobody for: their records are kept
    deactivate_missing: bool = True  # owned records the source no longer has become inactive
    create_missing: bool = True  # False: update only ("update only" imports)
    create_only: frozenset[str] = frozenset()  # fields written when a record is created, never updated after
    notes: tuple[str, ...] = ()
    skipped: int = 0


@dataclass
class SourceRead:
    """A complete read of one connection's source: every kind it writes, in the order they are written.

    ``state`` is what the source wants kept for the next run (Graph delta links); the core keeps it only
    after a clean real run, so a failed, refused or dry run reads the same changes again.
    """

    kinds: list[KindRead]
    state: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """One thing a job integration does now (run a queued script); ``run`` returns the record to post."""

    description: str  # "Run script Create AD user for ticket 123 with 3 parameters"
    run: Callable[[Any], dict[str, Any]]  # run(cancel event) -> the outcome record for ``Work.path``


@dataclass
class Work:
    """What a job integration has to do for one connection in one run, every read already done.

    The core posts the ``pending`` outcomes first (each was done before and Halo was not told), then runs
    each job and posts its outcome at once, telling the integration through ``posted`` after Halo took
    it. A dry run only logs. ``failed(record)`` is the failure a posted outcome reports, if any;
    ``problem`` fails the connection (its jobs stay queued).
    """

    path: str  # where outcome records go: "PowerShellScriptProcessing"
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (description, record)
    jobs: list[Job] = field(default_factory=list)
    posted: Callable[[dict[str, Any]], None] = lambda record: None
    prepare: Callable[[], None] = lambda: None  # local bookkeeping before the first post (real runs only)
    failed: Callable[[dict[str, Any]], str | None] = lambda record: None
    problem: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One write to Halo, with the words the log uses for it."""

    action: str  # one of ACTIONS
    kind: EntityKind
    key: str  # the source identity (the status's key)
    halo_id: int | None  # None for a create
    payload: dict[str, Any]  # exactly what is posted: {"id": ..., changed fields} or the new record
    description: str  # "Create user Ada Lovelace (ada@example.com)"


@dataclass
class Plan:
    """Everything one kind would write, built completely before the first write."""

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
    """What one connection's run did (or, in a dry run, would have done)."""

    integration: str
    connection: str
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {action: 0 for action in WRITES})
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # "user" -> {"create": 3, ...}
    errors: list[RecordError] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: int = 0
    failure: str = ""  # set when the connection failed as a whole
    warnings: list[str] = field(default_factory=list)  # records left alone, and why (Last Error shows them)
    failed: list[RecordError] = field(default_factory=list)  # jobs that ran and failed (their outcome says why)

    @property
    def ok(self) -> bool:
        return not self.failure and not self.errors and not self.refused and not self.failed

    def merge(self, other: "Report") -> None:
        for action, number in other.counts.items():
            self.counts[action] = self.counts.get(action, 0) + number
        for kind, counts in other.by_kind.items():
            mine = self.by_kind.setdefault(kind, {})
            for action, number in counts.items():
                mine[action] = mine.get(action, 0) + number
        self.errors += other.errors
        self.failed += other.failed
        self.refused += other.refused
        self.notes += other.notes
        self.warnings += other.warnings
        self.skipped += other.skipped
        self.failure = self.failure or other.failure

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
        if self.failed:
            text += f", {len(self.failed)} failed"
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
    kind: str = "text"  # "text", "secret", "bool", "path", "int"
    help: str = ""
    default: Any = None  # what the integration assumes when nothing is stored (shown so in the window)


def _default_name(record: dict) -> str:
    return str(record.get("name") or f"connection {record.get('id')}")


@dataclass(frozen=True)
class ConnectionSource:
    """Where an integration's connections live in Halo, and which of their fields the core reads and writes.

    ``list(halo)`` returns the connection records (a read-only Halo); ``detail(halo, record)``, when
    given, reads one record's details (mappings), and the core calls it only for connections this
    Integrator may run, so a disabled connection costs no request of its own. The core decides from
    ``enabled_field`` and ``allowed_fields`` whether this Integrator may run one (one rule for every
    integration), and posts ``{"id", lastsync_field, lasterror_field}`` back to ``path``.
    """

    path: str  # "LDAPConnection"
    list: Callable[[Any], list[dict]]
    detail: Callable[[Any, dict], dict] | None = None
    enabled_field: str = "halointegratorenabled"  # "": Halo's record has no such switch
    allowed_fields: tuple[str, ...] = ("halointegrator_allowedclientids", "halointegrator_allowedclientidslist")
    # True: only an Integrator Halo names may run it (no names = none), for work that must never run twice
    explicit_allow: bool = False
    noun: str = "connection"  # what the window calls one of them: "connection", "script", "import"
    lastsync_field: str = "halointegrator_lastsync"
    lasterror_field: str = "halointegrator_lasterror"
    name_of: Callable[[dict], str] = _default_name


@dataclass(frozen=True)
class Integration:
    """What an integration declares; the core, the command line and the window are driven by this alone.

    ``check(ctx, connection)`` returns ``Check``s naming the declared prerequisites (no writes). A sync
    integration declares ``read(ctx, connection)``: it reads the source completely and returns a
    ``SourceRead``; the core does everything after that. A job integration (queued scripts) declares
    ``work(ctx, connection)`` instead: it reads and returns the ``Work`` of the run, and the core runs it.

    ``shared_settings`` are kept on this computer once for the whole integration (CONFIGURE --connection
    NAME, the tab's "for every ..." box), e.g. the one folder PowerShell scripts may run from: a connection
    Halo adds gets them too, and a connection's own settings never override them.
    """

    name: str
    title: str
    description: str
    connections: ConnectionSource
    prerequisites: tuple[Prerequisite, ...]
    local_settings: tuple[LocalSetting, ...]
    check: Callable[..., list[Check]]
    read: Callable[..., SourceRead] | None = None
    work: Callable[..., Work] | None = None
    shared_settings: tuple[LocalSetting, ...] = ()
