"""Binding: which Halo record each wanted record means, and which Halo records this connection owns.

Pure: no I/O. Halo's list items are lean (``*_List`` fields only), so the identity field is often not
visible. A wanted record is bound, in turn, through the sync status (what this connection wrote
before), its identity field where a record shows it, a ``recognise`` field (the AD DN), and a
``match`` field for a record no import owns (linked once). Where the list cannot tell whether a
candidate carries another identity, or whether a record the status does not know is ours, the answer
is a Halo id in ``to_read``: the pipeline reads a bounded number of whole records by id and binds
again. A wanted record waiting for such a read is ``pending``: neither created nor linked this run, so
an unanswered question never makes a duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from halointegrator.engine.model import EntityKind, Identity, Wanted
from halointegrator.engine.status import KindStatus
from halointegrator.values import as_bool, as_id, identity_key

STATUS, IDENTITY, RECOGNISED = "status", "identity", "recognised"


@dataclass
class Binding:
    """The outcome of binding one kind's wanted records to Halo's records."""

    records: dict[int, dict]  # Halo id -> the record as known (list item, merged with a whole read)
    whole_ids: set[int] = field(default_factory=set)  # records read whole: a field they lack is blank
    bound: dict[str, int] = field(default_factory=dict)  # wanted key -> Halo id
    how: dict[str, str] = field(default_factory=dict)  # wanted key -> STATUS, IDENTITY or RECOGNISED
    links: dict[str, tuple[int, str]] = field(default_factory=dict)  # wanted key -> (unowned id, matched field)
    pending: set[str] = field(default_factory=set)  # keys waiting for a whole read of their candidate
    owned: dict[int, str] = field(default_factory=dict)  # Halo id -> key, for every record this connection owns
    to_read: list[int] = field(default_factory=list)  # ids whose whole record would settle a question
    unsettled: set[int] = field(default_factory=set)  # claimed records waiting for a whole read
    foreign: set[int] = field(default_factory=set)  # ids read whole and found to be another's
    released: set[str] = field(default_factory=set)  # keys whose record someone else brought back: not ours now
    held: set[str] = field(default_factory=set)  # keys not created while claims wait (one may be that record)
    left: dict[str, int] = field(default_factory=dict)  # key -> the Halo record it matched but may not take
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # why rows were left: the log warns, Last Error says it

    def record_for(self, key: str) -> dict | None:
        halo_id = self.bound.get(key)
        return self.records.get(halo_id) if halo_id is not None else None


def merged_records(listed: Iterable[dict], whole: Mapping[int, dict]) -> dict[int, dict]:
    """Halo's records by id, lowest first: each list item with its whole record (read by id) laid over it."""
    records: dict[int, dict] = {}
    for item in listed:
        halo_id = item.get("id")
        if isinstance(halo_id, (int, float)) and not isinstance(halo_id, bool) and float(halo_id).is_integer():
            known = whole.get(int(halo_id))  # the list item itself unless read whole: no copy of 50,000 records
            records[int(halo_id)] = item if known is None else {**item, **known}
    return dict(sorted(records.items()))


def identity_of(record: Mapping[str, Any], field_name: str) -> str:
    """The identity a Halo record carries in ``field_name`` ("" for none). A list or object there (an
    asset's ``fields``) is no identity itself: an identity held inside one is found through the
    Identity's ``recognise`` and ``compare`` (e.g. the value of one asset field by id)."""
    value = record.get(field_name)
    return "" if isinstance(value, (list, dict)) else identity_key(value)


def bind(kind: EntityKind, wanted: list[Wanted], listed: Iterable[dict], status: KindStatus,
         identity: Identity, whole: Mapping[int, dict] | None = None, *, rebuilding: bool = False,
         clients: frozenset[int] | None = None) -> Binding:
    """Bind ``wanted`` (unique keys, see planning.unique_wanted) to Halo's ``listed`` records.

    ``rebuilding``: the status is missing (a first run, a lost state file) or still being rebuilt, so
    records it does not know may be this connection's: they are claimed (read whole, a bounded number a
    run) and, while any claim waits, nothing is created (a waiting claim may be that very record). In
    steady state the status alone says what this connection owns.

    ``clients``: the Halo clients the connection's sites belong to (None: not known). A record found by
    its identity, recognised or matched is taken only inside them, and only when it is active, this
    connection deactivated it, or it carries this connection's identity and owner mark (Identity.owns: a
    status lost or rebuilt does not know what it deactivated); otherwise the wanted record is ``left``
    (neither taken nor created: a duplicate would be worse) with a warning.
    """
    whole = whole or {}
    binder = _Binder(kind, identity, status, Binding(merged_records(listed, whole), set(whole)), clients)
    binder.from_status(wanted)
    binder.from_identity(wanted)
    binder.from_recognition(wanted)
    binder.from_matches(wanted)
    if rebuilding:
        binder.claims()
        binder.hold_creates(wanted)
    binder.warn_left(wanted)
    return binder.binding


class _Binder:
    """The steps of ``bind``, sharing the indexes they build."""

    def __init__(self, kind: EntityKind, identity: Identity, status: KindStatus, binding: Binding,
                 clients: frozenset[int] | None) -> None:
        self.kind, self.identity, self.status, self.binding = kind, identity, status, binding
        self.owns = identity.owner_test(kind)
        self.linked: set[int] = set()
        self.clients = clients
        self.deactivated_here = {entry.halo_id for entry in status.entries.values() if entry.gone}

    def _unbound(self, wanted: list[Wanted]) -> list[tuple[str, Wanted]]:
        b = self.binding
        return [(key, record) for record in wanted if (key := identity_key(record.key))
                and key not in b.bound and key not in b.links and key not in b.pending and key not in b.left]

    def _outside(self, record: dict) -> bool:
        """Whether a Halo record shows a client none of the connection's sites belongs to."""
        client = as_id(record.get("client_id"))
        return self.clients is not None and client is not None and client not in self.clients

    def _left_alone(self, key: str, record: dict) -> bool:
        """A found record this connection may not take (another client's; inactive, and neither deactivated
        by this connection nor carrying this connection's identity and owner mark): the wanted record is
        left, neither taken nor created. When the list item cannot show the mark, the record is read whole
        first (the key waits for it)."""
        if not self._outside(record) and (not _inactive(record) or record["id"] in self.deactivated_here):
            return False
        if not self._outside(record) and self.identity.owns is not None:  # a mark of its own, not any identity
            carried, marked = self._identity_of(record), self.identity.owns(record)
            if (carried is None or marked is None) and record["id"] not in self.binding.whole_ids:
                self.binding.to_read.append(record["id"])
                self.binding.pending.add(key)
                return True
            if carried == key and marked:  # ours: a lost or rebuilt status does not know it deactivated it
                return False
        self.binding.left[key] = record["id"]
        return True

    def _take(self, key: str, halo_id: int, how: str) -> None:
        self.binding.bound[key], self.binding.how[key] = halo_id, how
        self.binding.owned[halo_id] = key

    def _free(self, halo_id: int) -> bool:
        return halo_id not in self.binding.owned and halo_id not in self.linked

    def from_status(self, wanted: list[Wanted]) -> None:
        records, wanted_keys = self.binding.records, {identity_key(record.key) for record in wanted}
        for key, entry in self.status.entries.items():
            record = records.get(entry.halo_id)
            if record is None:
                continue
            if entry.gone and not _inactive(record) and key not in wanted_keys:
                self.binding.released.add(key)  # deactivated here, brought back by someone else: theirs now
                continue
            self.binding.owned[entry.halo_id] = key
        if self.binding.released:
            self.binding.notes.append(
                f"{len(self.binding.released)} {self.kind.name}(s) this connection deactivated were made active "
                f"again in Halo (by hand or by another import): this connection leaves them alone from now on.")
        gone = 0
        for key, record in self._unbound(wanted):
            entry = self.status.entries.get(key)
            if entry is not None and entry.halo_id in records:
                self._take(key, entry.halo_id, STATUS)
            elif entry is not None:
                gone += 1
        if gone:
            self.binding.notes.append(
                f"{gone} {self.kind.name}(s) this connection wrote before are no longer in Halo (deleted there?): "
                f"they are found again or created anew.")

    def from_identity(self, wanted: list[Wanted]) -> None:
        """Records whose identity field is visible (a whole read, or a list that shows it)."""
        if not self._unbound(wanted):
            return  # the steady state: the status bound everyone, no index of 50,000 records is needed
        by_identity = self._index(lambda record: identity_of(record, self.kind.identity_field))
        self._note_shared_identities(by_identity)
        for key, _record in self._unbound(wanted):
            found = next((record for record in by_identity.get(key, ()) if self._free(record["id"])), None)
            if found is not None and not self._left_alone(key, found):
                self._take(key, found["id"], IDENTITY)

    def from_recognition(self, wanted: list[Wanted]) -> None:
        recognised = 0
        for field_name in self.identity.recognise if self._unbound(wanted) else ():
            index = self._index(lambda record, name=field_name: self.identity.compare(name, record.get(name))
                                if name in record else "")
            for key, record in self._unbound(wanted):
                value = self.identity.compare(field_name, record.fields.get(field_name))
                found = next((candidate for candidate in index.get(value, ()) if value and self._free(candidate["id"])
                              and not self._carries_other(candidate, key, record)), None)
                if found is None:
                    continue
                if _inactive(found) and self._identity_of(found) is None:
                    # A departed person's record at the same DN: read it whole before it is taken for a new one.
                    self.binding.to_read.append(found["id"])
                    self.binding.pending.add(key)
                    continue
                if self._left_alone(key, found):
                    continue
                self._take(key, found["id"], RECOGNISED)
                recognised += 1
        if recognised and self.status.entries:
            self.binding.notes.append(f"Found {recognised} {self.kind.name}(s) in Halo by "
                                      f"{', '.join(self.identity.recognise)} that the sync status did not know.")

    def from_matches(self, wanted: list[Wanted]) -> None:
        """Unowned records that match on a match field are linked once; unclear ones are read first."""
        if not self._unbound(wanted):
            return
        indexes = {name: self._index(lambda record, n=name: identity_key(record.get(n))) for name in self.identity.match}
        for key, record in self._unbound(wanted):
            if not record.complete:
                continue
            refusals: list[str] = []
            for field_name in self.identity.match:
                value = identity_key(record.fields.get(field_name))
                if value and self._match(key, field_name, indexes[field_name].get(value, ()), refusals):
                    break
            if refusals and key not in self.binding.links and key not in self.binding.pending:
                self.binding.notes.append(f"Creating {self.kind.name} {record.label} as a new record: "
                                          + "; ".join(dict.fromkeys(refusals)) + ".")

    def _match(self, key: str, field_name: str, candidates: Iterable[dict], refusals: list[str]) -> bool:
        """True when this field settled the wanted record (linked, bound, or waiting for a read)."""
        for candidate in candidates:
            halo_id = candidate["id"]
            if not self._free(halo_id):
                refusals.append(f"{self._name(candidate)} matched on {field_name} too, but is "
                                f"{'linked' if halo_id in self.linked else 'kept'} for another already")
                continue
            carried = self._identity_of(candidate)
            if carried is None:  # the list item cannot tell: read it whole before linking
                self.binding.to_read.append(halo_id)
                self.binding.pending.add(key)
                return True
            if carried and carried != key:
                refusals.append(f"{self._name(candidate)} has the same {field_name} but already carries "
                                f"{self.kind.identity_field} {candidate.get(self.kind.identity_field)!r} and is never "
                                f"linked to another")
                continue
            if self._left_alone(key, candidate):
                return True
            if carried == key:
                self._take(key, halo_id, IDENTITY)
                return True
            self.binding.links[key] = (halo_id, field_name)
            self.linked.add(halo_id)
            return True
        return False

    def _identity_of(self, record: dict) -> str | None:
        """The identity a record carries ("" for none), or None when its fields cannot tell."""
        if self.kind.identity_field in record or record["id"] in self.binding.whole_ids:
            return identity_of(record, self.kind.identity_field)
        hints = self.identity.hints
        if hints and all(name in record and not identity_key(record.get(name)) for name in hints):
            return ""  # every field an import of this kind fills is blank: no import has it
        return None

    def _carries_other(self, record: dict, key: str, wanted: Wanted) -> bool:
        """Whether a Halo record visibly holds another identity: in the identity field, or in a recognise
        field where the source writes its key (Entra's azure_id)."""
        carried = identity_of(record, self.kind.identity_field)
        if carried and carried != key:
            return True
        for name in self.identity.recognise:
            echoes_key = identity_key(wanted.fields.get(name)) == key
            shown = identity_key(record.get(name)) if name in record else ""
            if echoes_key and shown and shown != key:
                return True
        return False

    def warn_left(self, wanted: list[Wanted], shown: int = 10) -> None:
        """One warning per wanted record left (the first ``shown``), naming its key and the Halo record."""
        b, lines = self.binding, []
        quiet = 0  # disabled in the source and matching an inactive record: nothing to bring back
        for record in wanted:
            key = identity_key(record.key)
            if key not in b.left:
                continue
            found = b.records[b.left[key]]
            if not self._outside(found) and as_bool(record.fields.get("inactive")):
                quiet += 1
                continue
            lines.append(self._left_reason(record, found))
        if len(lines) > shown:
            lines = lines[:shown] + [f"{len(lines) - shown} more {self.kind.name}(s) were left for the same reasons."]
        b.warnings += lines
        if quiet:
            b.notes.append(f"{quiet} {self.kind.name}(s) disabled in the source match inactive Halo "
                           f"{self.kind.name}s this connection did not deactivate: left as they are.")

    def _left_reason(self, record: Wanted, found: dict) -> str:
        what = f"{self.kind.name} {record.label or record.key} (key {record.key!r})"
        if self._outside(found):
            return (f"{what} matches Halo {self.kind.name} #{found['id']}, which belongs to another client "
                    f"(client {as_id(found.get('client_id'))}) than this connection's sites: it was not taken "
                    f"and nothing was created for it. If it really is this connection's, move it in Halo to one "
                    f"of the connection's sites; if not, correct the source's key.")
        return (f"{what} matches inactive Halo {self.kind.name} #{found['id']}, which this connection did not "
                f"deactivate; reactivate it in Halo if it should be imported (nothing was created for it).")

    def hold_creates(self, wanted: list[Wanted]) -> None:
        """While a claim waits for its whole read, an unbound wanted record may be that very record: none is
        created this run."""
        if not self.binding.unsettled:
            return
        for key, _record in self._unbound(wanted):
            self.binding.held.add(key)
            self.binding.pending.add(key)

    def claims(self) -> None:
        """Records the status does not know that may still be ours (e.g. after the status was lost)."""
        b = self.binding
        for halo_id, record in b.records.items():
            if halo_id in b.owned or halo_id in self.linked or halo_id in self.status.foreign:
                continue
            if _inactive(record) or not self.identity.claims(record) or self._outside(record):
                continue  # an inactive record needs no deactivation: whose it is can wait until it is wanted
            verdict = self.owns(record)
            if verdict is None and halo_id in b.whole_ids:
                verdict = False  # the whole record cannot say it is ours: it is not
            if verdict is None:
                b.to_read.append(halo_id)
                b.unsettled.add(halo_id)
            elif verdict:
                b.owned[halo_id] = identity_of(record, self.kind.identity_field) or f"halo:{halo_id}"
            else:
                b.foreign.add(halo_id)

    def _index(self, value_of) -> dict[str, list[dict]]:
        index: dict[str, list[dict]] = defaultdict(list)
        for record in self.binding.records.values():
            value = value_of(record)
            if value:
                index[value].append(record)
        return index

    def _note_shared_identities(self, by_identity: dict[str, list[dict]]) -> None:
        for group in by_identity.values():
            if len(group) > 1:
                ids = ", ".join(f"#{record['id']}" for record in group)
                self.binding.notes.append(
                    f"Halo has {len(group)} {self.kind.name}s with {self.kind.identity_field} "
                    f"{group[0].get(self.kind.identity_field)!r} ({ids}): only #{group[0]['id']} is kept in step "
                    f"with the source; merge or clear the others in Halo.")

    def _name(self, record: dict) -> str:
        label = str(record.get(self.kind.label_field) or "").strip() or f"#{record['id']}"
        return f"Halo {self.kind.name} {label} (#{record['id']})"


def _inactive(record: dict) -> bool:
    return bool(as_bool(record.get("inactive")))


def describe_waiting(kind: EntityKind, binding: Binding, read_ids: Iterable[int]) -> list[str]:
    """Sentences for what stays unsettled because the per-run bound on whole-record reads was reached."""
    done = set(read_ids)
    waiting_links = len(binding.pending - binding.held)
    waiting_claims = len([halo_id for halo_id in binding.unsettled if halo_id not in done])
    notes = []
    if waiting_links:
        notes.append(f"{waiting_links} {kind.name}(s) match a Halo record that must be read in full before it is "
                     f"linked or taken; the per-run bound on such reads was reached, so they wait for the next "
                     f"run (none is created meanwhile).")
    if waiting_claims:
        notes.append(f"{waiting_claims} Halo {kind.name}(s) may belong to this connection and wait to be read in "
                     f"full on a later run; until then none of them is deactivated, and the {len(binding.held)} "
                     f"{kind.name}(s) not found in Halo yet are not created (one may be among them).")
    return notes


def waiting(binding: Binding) -> bool:
    """Whether this run left something to settle (the source's state must not move past it)."""
    return bool(binding.pending or binding.unsettled)
