"""After the writes: what the sync status should now say for one kind. Pure.

A record's entry changes only when Halo is known to hold what the source wants: its change landed, or
it needed none. A change that was refused or never sent leaves the entry as it was, so the next run
plans it again. Fingerprints are kept only for the fields a record's list item does not show (the list
itself tells the rest): for a record just created, whose list item is not known yet, the fields
outside the kind's list schema, and the blank ones (Halo may leave an empty field out of a list
item). A record deactivated for leaving the source is marked ``gone``.
"""

from __future__ import annotations

from typing import Any, Iterable

from halointegrator.engine.binding import Binding
from halointegrator.engine.model import CREATE, DEACTIVATE, Change, EntityKind, Plan, Wanted
from halointegrator.engine.planning import MARK, identity_mark
from halointegrator.engine.status import Entry, KindStatus
from halointegrator.values import fingerprint, identity_key


def remember(status: KindStatus, kind: EntityKind, wanted: list[Wanted], binding: Binding, plan: Plan,
             landed: Iterable[tuple[Change, int | None]], *, listed: Iterable[dict],
             checked: Iterable[int] = (), now: float = 0.0) -> None:
    """Update ``status`` in place after an apply (or after a run that had nothing to write)."""
    landed = list(landed)
    planned = {change.key: change for change in plan.changes if change.action != DEACTIVATE}
    written = {change.key: halo_id for change, halo_id in landed if change.action != DEACTIVATE}
    items = {item.get("id"): item for item in listed}  # the lean list items, not merged with whole reads
    checked_ids = set(checked)
    created = {halo_id for change, halo_id in landed if change.action == CREATE and halo_id is not None}
    _forget_missing(status, binding, created)
    for record in wanted:
        key = identity_key(record.key)
        if key in planned and key not in written:
            continue  # not written (refused, or the run stopped first): the old entry still holds
        halo_id = written[key] if key in planned else binding.bound.get(key)
        if halo_id is None:
            continue  # waiting for a read, not created (update only), or created without an id in the answer
        fields = _fingerprints(kind, record, items.get(halo_id))
        mark = identity_mark(kind, record.fields) if record.complete else ""
        if mark:
            fields[MARK] = mark  # whom the record is, as written: planning.shows_another_identity
        status.entries[key] = _entry(record, halo_id, fields, status.entries.get(key), checked_ids, now)
    for change, halo_id in landed:
        if change.action == DEACTIVATE:
            entry = status.entries.get(change.key) or Entry(change.halo_id or halo_id or 0)
            entry.gone = True
            status.entries[change.key] = entry
    for halo_id, key in binding.owned.items():  # owned but not wanted, e.g. found after the status was lost
        status.entries.setdefault(key, Entry(halo_id))
    for key in binding.released:  # brought back by someone else: no longer this connection's
        status.entries.pop(key, None)
    status.foreign = {halo_id for halo_id in status.foreign | binding.foreign
                      if halo_id in binding.records and halo_id not in binding.owned}


def _fingerprints(kind: EntityKind, record: Wanted, item: dict | None) -> dict[str, str]:
    """The fields whose value the next run cannot read from the list, each as a fingerprint."""
    skip = ("id", kind.identity_field)  # the key is the identity: it needs no fingerprint
    if item is not None:
        return {name: fingerprint(value) for name, value in record.fields.items()
                if name not in item and name not in skip}
    return {name: fingerprint(value) for name, value in record.fields.items()
            if name not in skip and (name not in kind.listed or _blank(value))}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _entry(record: Wanted, halo_id: int, fields: dict[str, str], old: Entry | None, checked_ids: set[int],
           now: float) -> Entry:
    same_record = old is not None and old.halo_id == halo_id
    if not record.complete and same_record:
        fields = {**old.fields, **fields}  # a partial record says nothing of the fields it lacks
    checked = now if halo_id in checked_ids else (old.checked if same_record else 0.0)
    if same_record and not old.gone and old.fields == fields and old.checked == checked:
        return old  # unchanged: keep the one entry rather than a copy of 50,000
    return Entry(halo_id, fields, False, checked)


def _forget_missing(status: KindStatus, binding: Binding, created: set[int]) -> None:
    """Entries whose Halo record is no longer listed (deleted in Halo) say nothing true any more."""
    for key in [key for key, entry in status.entries.items()
                if entry.halo_id not in binding.records and entry.halo_id not in created]:
        del status.entries[key]
