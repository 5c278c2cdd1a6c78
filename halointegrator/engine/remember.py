"""After the writes: what the sync status should now say for one kind. Pure.

A record's entry changes only when Halo is known to hold what the source wants: its change landed, or
it needed none. A change that was refused or never sent leaves the entry as it was, so the next run
plans it again. Fingerprints are kept only for fields the list does not show (the list itself tells
the rest); a record deactivated for leaving the source is marked ``gone``.
"""

from __future__ import annotations

from typing import Iterable

from halointegrator.engine.binding import Binding
from halointegrator.engine.model import CREATE, DEACTIVATE, Change, Plan, Wanted
from halointegrator.engine.status import Entry, KindStatus
from halointegrator.values import fingerprint, identity_key


def remember(status: KindStatus, wanted: list[Wanted], binding: Binding, plan: Plan,
             landed: Iterable[tuple[Change, int | None]], *, listed_fields: set[str],
             checked: Iterable[int] = (), now: float = 0.0, identity_field: str = "") -> None:
    """Update ``status`` in place after an apply (or after a run that had nothing to write)."""
    landed = list(landed)
    planned = {change.key: change for change in plan.changes if change.action != DEACTIVATE}
    written = {change.key: halo_id for change, halo_id in landed if change.action != DEACTIVATE}
    checked_ids = set(checked)
    unlisted = listed_fields | {"id", identity_field}  # the key is the identity: no fingerprint needed
    created = {halo_id for change, halo_id in landed if change.action == CREATE and halo_id is not None}
    _forget_missing(status, binding, created)
    for record in wanted:
        key = identity_key(record.key)
        if key in planned and key not in written:
            continue  # not written (refused, or the run stopped first): the old entry still holds
        halo_id = written[key] if key in planned else binding.bound.get(key)
        if halo_id is None:
            continue  # waiting for a read, not created (update only), or created without an id in the answer
        status.entries[key] = _entry(record, halo_id, status.entries.get(key), unlisted, checked_ids, now)
    for change, halo_id in landed:
        if change.action == DEACTIVATE:
            entry = status.entries.get(change.key) or Entry(change.halo_id or halo_id or 0)
            entry.gone = True
            status.entries[change.key] = entry
    for halo_id, key in binding.owned.items():  # owned but not wanted, e.g. found after the status was lost
        status.entries.setdefault(key, Entry(halo_id))
    status.foreign = {halo_id for halo_id in status.foreign | binding.foreign
                      if halo_id in binding.records and halo_id not in binding.owned}


def _entry(record: Wanted, halo_id: int, old: Entry | None, shown: set[str], checked_ids: set[int],
           now: float) -> Entry:
    fields = {name: fingerprint(value) for name, value in record.fields.items() if name not in shown}
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


def listed_fields_of(listed: Iterable[dict]) -> set[str]:
    """The fields Halo's list items of a kind show (the union: Halo may leave out empty ones)."""
    fields: set[str] = set()
    for item in listed:
        fields.update(item)
    return fields
