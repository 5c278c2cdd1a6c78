"""Planning: compare what the source wants with what Halo holds, and say every write it takes.

Pure: no I/O and no logging. The plan is a complete list, built before the first write, so it can be
shown, counted and guarded. A field is compared with the Halo record where the record shows it (a
list item, or a whole record read by id) and with the sync status's fingerprint where it does not.
Records are never deleted: a record the source no longer has is deactivated, and only when this
connection owns it and the safety guards let it through.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable

from halointegrator.engine.binding import STATUS, Binding, identity_of
from halointegrator.engine.model import CREATE, DEACTIVATE, LINK, UPDATE, Change, EntityKind, Plan, Wanted
from halointegrator.engine.status import Entry, KindStatus
from halointegrator.values import as_bool, fingerprint, identity_key, same_value, show_value

_ACTION_ORDER = {CREATE: 0, LINK: 1, UPDATE: 2, DEACTIVATE: 3}
MAX_TEXT = 4000  # characters of one field a source may write: a 5,000-value attribute is no Halo field


@dataclass(frozen=True)
class Policy:
    """What the planner may create and deactivate, and when it holds deactivations back."""

    deactivate_missing: bool = True  # owned records the source no longer has become inactive
    create_missing: bool = True  # False: update only
    create_only: frozenset[str] = frozenset()  # fields set on create only ("don't update site")
    max_deactivations: int = 10  # refuse when deactivations exceed BOTH this count ...
    max_deactivation_ratio: float = 0.10  # ... and this share of the owned records
    allow_mass_deactivation: bool = False  # the setting that lets a refused mass deactivation through
    window_days: float = 7.0  # ... counted over this rolling window of runs, not one run alone


# (when, how many were deactivated, owned active records before, how many were created), see KindStatus;
# events saved by the first 1.1.0 builds have no fourth value
Event = tuple[int | float, ...]


@dataclass(frozen=True)
class Window:
    """What the rolling window says of a run's deactivations (``window_verdict``)."""

    refused: bool
    earlier: int  # deactivated by this connection and kind within the window, before this run
    population: int  # owned active records at the window's start: what the share is of


def window_verdict(history: Iterable[Event], now: float, count: int, owned_active: int, policy: Policy) -> Window:
    """Whether ``count`` deactivations now would bring the rolling window's total past the guard: more
    than ``max_deactivations`` and more than ``max_deactivation_ratio`` of the records there were at the
    window's start (its first deactivation's "before", or now when it has none). A directory that loses
    ten people a run is stopped as surely as one that loses forty at once. Records this connection created
    inside the window do not count in that population: else a query that adds 300 rows for a run would let
    the next run deactivate the 30 real ones (10% of 330)."""
    start = now - policy.window_days * 86400
    inside = sorted(event for event in history if start < event[0] <= now)
    deactivations = [event for event in inside if event[1]]
    earlier = sum(event[1] for event in deactivations)
    base_time, base = (deactivations[0][0], deactivations[0][2]) if deactivations else (now, owned_active)
    new_ones = sum(_created(event) for event in inside if event[0] < base_time or not deactivations)
    population = max(0, base - new_ones)
    total = earlier + count
    refused = (count > 0 and not policy.allow_mass_deactivation and total > policy.max_deactivations
               and total > policy.max_deactivation_ratio * population)
    return Window(refused, earlier, population)


def _created(event: Event) -> int:
    return event[3] if len(event) > 3 else 0  # events saved before creations were counted have none


def next_history(history: Iterable[Event], now: float, deactivated: int, owned_active: int,
                 policy: Policy, created: int = 0) -> list[Event]:
    """The history to keep after a run that deactivated ``deactivated`` of ``owned_active`` records and
    created ``created``: the window's events plus this run's. A run that allows mass deactivation starts the
    window afresh: the admin has accepted what left so far."""
    if policy.allow_mass_deactivation:
        return []
    start = now - policy.window_days * 86400
    kept = [event for event in history if start < event[0] <= now]
    return kept + [(now, deactivated, owned_active, created)] if deactivated or created else kept


def unique_wanted(kind: EntityKind, wanted: Iterable[Wanted], notes: list[str]) -> list[Wanted]:
    """The wanted records with a usable key, the first of each key only."""
    first_by_key: dict[str, Wanted] = {}
    for record in wanted:
        key = identity_key(record.key)
        if not key:
            notes.append(f"Skipped {kind.name} {record.label}: the source gave it no {kind.identity_field}.")
        elif key in first_by_key:
            kept = first_by_key[key]
            notes.append(
                f"Skipped {kind.name} {record.label}: {kind.name} {kept.label} has the same "
                f"{kind.identity_field} {record.key!r} and was kept."
            )
        else:
            first_by_key[key] = record
    return list(first_by_key.values())


def clip_long_texts(kind: EntityKind, wanted: list[Wanted], notes: list[str], limit: int = MAX_TEXT) -> None:
    """Cut every text longer than ``limit`` characters (in place), with one note naming the first few."""
    cut = []
    for record in wanted:
        for name, value in record.fields.items():
            if isinstance(value, str) and len(value) > limit:
                record.fields[name] = value[: limit - 1] + "…"
                cut.append(f"{record.label or record.key}: {name} ({len(value):,} characters)")
    if cut:
        notes.append(f"Cut {len(cut)} {kind.name} field value(s) to {limit:,} characters, as no Halo field should "
                     f"hold more: " + "; ".join(cut[:5]) + ("; ..." if len(cut) > 5 else "") + ".")


MARK = "="  # the entry's fields key of its identity mark: no Halo field is named so


def identity_mark(kind: EntityKind, fields: dict[str, Any]) -> str:
    """A short digest of each shown identity field this connection writes a value to ("2:1a2b3c4d,4:..."),
    kept in the record's status entry: what the record said of whom it is when this connection last
    wrote it."""
    return ",".join(f"{index}:{_digest(fields[name])}" for index, name in enumerate(kind.shown_identity)
                    if name in fields and identity_key(fields[name]))


def _digest(value: Any) -> str:
    return fingerprint(identity_key(value))[:8]  # 32 bits: enough to tell one identity from another


def shows_another_identity(kind: EntityKind, key: str, entry: Entry | None, record: dict) -> str:
    """The field in which a Halo record shows another identity than the one this connection wrote ("" for
    none): a marked field that now holds another value, or the identity field itself where it is listed."""
    shown = identity_of(record, kind.identity_field) if kind.identity_field in kind.listed else ""
    if shown and shown != key:
        return kind.identity_field
    for part in (entry.fields.get(MARK, "") if entry is not None else "").split(","):
        index, _, digest = part.partition(":")
        name = kind.shown_identity[int(index)] if index.isdigit() and int(index) < len(kind.shown_identity) else ""
        if name and identity_key(record.get(name)) and _digest(record.get(name)) != digest:
            return name
    return ""


def plan(kind: EntityKind, wanted: list[Wanted], binding: Binding, status: KindStatus, *,
         scope_of: Callable[[dict], str] = lambda record: "", empty_scopes: Collection[str] = (),
         policy: Policy = Policy(), now: float = 0.0) -> Plan:
    """Every write that makes Halo say what the source says, with the guards' reasons for holding any back.

    ``wanted`` has unique keys (``unique_wanted``); ``binding`` says which Halo record each one is;
    ``now`` places this run in the status's window of deactivations (``status.deactivated``).
    """
    result = Plan(notes=list(binding.notes))
    uncreated = 0
    for record in wanted:
        key = identity_key(record.key)
        change = _plan_write(kind, key, record, binding, status.entries.get(key), policy.create_only)
        if change is not None and (change.action != CREATE or (policy.create_missing and record.complete)):
            result.changes.append(change)
        elif change is not None:
            uncreated += 1
    if uncreated:
        why = "the import is set to update only" if not policy.create_missing else "the source sent only part of them"
        result.notes.append(f"{uncreated} {kind.name}(s) not in Halo were not created: {why}.")
    if policy.deactivate_missing:
        window = (status.deactivated, now)
        candidates = _not_another(kind, wanted, status, binding, result.refused)
        result.changes += _deactivations(kind, wanted, candidates, scope_of, empty_scopes, policy, window,
                                         result.refused)
    result.changes.sort(key=_change_order)
    return result


def _plan_write(kind: EntityKind, key: str, record: Wanted, binding: Binding, entry: Entry | None,
                create_only: frozenset[str]) -> Change | None:
    """The create, link or update one wanted record needs; None when Halo already agrees or it waits."""
    if key in binding.pending or key in binding.left:  # waiting, or left (another client's, inactive)
        return None
    current = binding.record_for(key)
    if entry is not None and entry.gone and current is not None and _is_inactive(current) \
            and "inactive" not in record.fields:  # this connection deactivated it; the source has it again
        record = Wanted(record.key, record.label, {**record.fields, "inactive": False}, record.scope, record.complete)
    if create_only and (current is not None or key in binding.links):  # an existing record keeps these
        record = Wanted(record.key, record.label, {name: value for name, value in record.fields.items()
                                                   if name not in create_only}, record.scope, record.complete)
    if current is not None:
        trusted = entry if binding.how.get(key) == STATUS else None
        return _update(kind, key, record, current, trusted)
    if key in binding.links:
        halo_id, matched_on = binding.links[key]
        return _link(kind, key, record, binding.records[halo_id], matched_on)
    return _create(kind, key, record)


def _create(kind: EntityKind, key: str, record: Wanted) -> Change:
    # The identity goes in even if a mapping forgot it: without it the next run could not find the record.
    payload = {kind.identity_field: record.key, **record.fields}
    payload.pop("id", None)
    inactive = " (inactive: disabled in the source)" if as_bool(payload.get("inactive")) else ""
    return Change(CREATE, kind, key, None, payload, f"Create {kind.name} {record.label or record.key}{inactive}")


def _update(kind: EntityKind, key: str, record: Wanted, current: dict, entry: Entry | None) -> Change | None:
    changed = changed_fields(kind, record.fields, current, entry)
    if not changed:
        return None
    reactivated = "inactive" in changed and not as_bool(changed["inactive"]) and _is_inactive(current)
    verb = "Reactivate" if reactivated else "Update"
    shown = {name: value for name, value in changed.items() if not (reactivated and name == "inactive")}
    description = f"{verb} {kind.name} {_label_of(kind, record, current)}" + _describe_fields(shown, current, ": ")
    payload = {"id": current.get("id"), **changed}
    return Change(UPDATE, kind, key, current.get("id"), payload, description)


def _link(kind: EntityKind, key: str, record: Wanted, target: dict, matched_on: str) -> Change:
    changed = changed_fields(kind, record.fields, target, None)
    changed.setdefault(kind.identity_field, record.fields.get(kind.identity_field, record.key))
    shown = {name: value for name, value in changed.items() if name != kind.identity_field}
    description = f"Link existing {kind.name} {_label_of(kind, record, target)} (matched on {matched_on})"
    description += _describe_fields(shown, target, ": ")
    payload = {"id": target.get("id"), **changed}
    return Change(LINK, kind, key, target.get("id"), payload, description)


def changed_fields(kind: EntityKind, wanted_fields: dict[str, Any], current: dict,
                   entry: Entry | None) -> dict[str, Any]:
    """The wanted fields Halo does not hold: compared with ``current`` where it shows the field, else
    with what the status says this connection last wrote (``entry``, trusted only when bound by it)."""
    changed = {}
    for name, value in wanted_fields.items():
        if name == "id":
            continue
        if name in current:
            same = same_value(value, current.get(name))
        elif entry is not None:
            same = name == kind.identity_field or entry.fields.get(name) == fingerprint(value)
        else:
            same = False  # nothing says what Halo holds: write it (once; the status knows afterwards)
        if not same:
            changed[name] = value
    return changed


def _describe_fields(changed: dict[str, Any], current: dict, lead: str) -> str:
    if not changed:
        return ""
    parts = []
    for name, value in changed.items():
        before = f"{show_value(current.get(name))} " if name in current else ""  # a lean record may not show it
        parts.append(f"{name} {before}-> {show_value(value)}")
    return lead + ", ".join(parts)


def owned_active(binding: Binding) -> list[tuple[int, str]]:
    """(Halo id, key) of every active record this connection owns."""
    return [(halo_id, key) for halo_id, key in binding.owned.items()
            if not _is_inactive(binding.records.get(halo_id, {}))]


def _not_another(kind: EntityKind, wanted: list[Wanted], status: KindStatus, binding: Binding,
                 refused: list[str]) -> Binding:
    """The binding without the leavers that show another identity than this connection wrote (a DN,
    login, e-mail or serial changed in Halo, or a status entry that names the wrong record): those are
    never deactivated, and the log says so."""
    wanted_keys = {identity_key(record.key) for record in wanted}
    others = {halo_id: name for halo_id, key in binding.owned.items() if key not in wanted_keys
              and not _is_inactive(record := binding.records.get(halo_id, {}))
              and (name := shows_another_identity(kind, key, status.entries.get(key), record))}
    if not others:
        return binding
    named = ", ".join(f"#{halo_id} ({name})" for halo_id, name in sorted(others.items())[:5])
    refused.append(f"{len(others)} Halo {kind.name}(s) this connection's status names show another identity in "
                   f"Halo than the one it wrote ({named}{', ...' if len(others) > 5 else ''}): they are not "
                   f"deactivated. If one did leave, deactivate it in Halo by hand.")
    owned = {halo_id: key for halo_id, key in binding.owned.items() if halo_id not in others}
    return dataclasses.replace(binding, owned=owned)


def _deactivations(kind: EntityKind, wanted: list[Wanted], binding: Binding, scope_of: Callable[[dict], str],
                   empty_scopes: Collection[str], policy: Policy, window: tuple[Iterable[Event], float],
                   refused: list[str]) -> list[Change]:
    """Active records this connection owns that the source no longer has, as far as the guards allow."""
    wanted_keys = {identity_key(record.key) for record in wanted}
    active = owned_active(binding)
    candidates = [(halo_id, key) for halo_id, key in active if key not in wanted_keys]
    kept = _protect_empty_scopes(kind, candidates, binding, scope_of, empty_scopes, refused)
    verdict = window_verdict(window[0], window[1], len(kept), len(active), policy)
    if verdict.refused:
        refused.append(_mass_deactivation_refusal(kind, len(kept), len(active), verdict, policy))
        kept = []
    return [_deactivation(kind, key, binding.records[halo_id]) for halo_id, key in kept]


def _protect_empty_scopes(kind: EntityKind, candidates: list[tuple[int, str]], binding: Binding,
                          scope_of: Callable[[dict], str], empty_scopes: Collection[str],
                          refused: list[str]) -> list[tuple[int, str]]:
    """Hold back deactivations in scopes the source returned nobody for: an empty read is rarely the truth."""
    held: dict[str, int] = defaultdict(int)
    kept = []
    for halo_id, key in candidates:
        scope = scope_of(binding.records[halo_id])
        if scope in empty_scopes:
            held[scope] += 1
        else:
            kept.append((halo_id, key))
    for scope, number in sorted(held.items()):
        refused.append(
            f"The source returned nobody for {scope}: {number} {kind.name}(s) there were left active. "
            f"If the mapping really is empty now, deactivate them in Halo by hand or remove the mapping; "
            f"if it should not be empty, check the mapping's filter and the account's read rights."
        )
    return kept


def _mass_deactivation_refusal(kind: EntityKind, count: int, active: int, window: Window, policy: Policy) -> str:
    limits = f"more than {policy.max_deactivations} and more than {policy.max_deactivation_ratio:.0%}"
    days = f"{policy.window_days:g} days"
    if window.earlier:
        what = (f"Refused to deactivate {count} more of the {active} active {kind.name}(s) this connection "
                f"manages: {window.earlier} were deactivated in the last {days} already, and "
                f"{window.earlier + count} in {days} is {limits} of the {window.population} there were then. "
                f"So many leaving, run after run, is more often a changed filter or a source being emptied "
                f"than real leavers.")
    else:
        what = (f"Refused to deactivate {count} of the {active} active {kind.name}(s) this connection manages "
                f"({limits}): so many leaving at once is more often a changed filter or a short read than "
                f"real leavers.")
    if window.population < active and not window.earlier:
        what += (f" Only {window.population} of them were here before the last {days}; the ones created since "
                 f"do not count towards the share that may leave.")
    return (f"{what} None was deactivated; the other changes are not held back. If they really left, allow "
            f'it once with the local option "allow_mass_deactivation" or `--allow-mass-deactivation` on the '
            f"command line.")


def _deactivation(kind: EntityKind, key: str, record: dict) -> Change:
    payload = {"id": record.get("id"), "inactive": True}
    description = f"Deactivate {kind.name} {_label(kind, record, '')} (no longer in the source)"
    return Change(DEACTIVATE, kind, key, record.get("id"), payload, description)


def _is_inactive(record: dict) -> bool:
    return bool(as_bool(record.get("inactive")))


def _label_of(kind: EntityKind, record: Wanted, current: dict) -> str:
    return record.label or _label(kind, current, record.key)


def _label(kind: EntityKind, record: dict, fallback: str) -> str:
    text = str(record.get(kind.label_field) or "").strip()
    return text or fallback or f"#{record.get('id')}"


def _halo_id_order(halo_id: Any) -> tuple[int, float, str]:
    if isinstance(halo_id, (int, float)) and not isinstance(halo_id, bool):
        return (0, float(halo_id), "")
    return (1, 0.0, str(halo_id))


def _change_order(change: Change) -> tuple:
    if change.action == DEACTIVATE:
        return (_ACTION_ORDER[DEACTIVATE], _halo_id_order(change.halo_id), "", "")
    label = change.description.casefold()
    return (_ACTION_ORDER[change.action], (0, 0.0, ""), label, change.key)
