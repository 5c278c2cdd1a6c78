"""Planning: compare what the source wants with what Halo holds, and say every write it takes.

Pure: no I/O and no logging. The plan is a complete list, built before the first write, so it can be
shown, counted and guarded. Records are never deleted: a record the source no longer has is
deactivated, and only when this connection owns it and the safety guards let it through.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Sequence

from halointegrator.values import as_bool, identity_key, same_value, show_value
from halointegrator.engine.model import CREATE, DEACTIVATE, LINK, UPDATE, Change, EntityKind, Plan, Wanted

_ACTION_ORDER = {CREATE: 0, LINK: 1, UPDATE: 2, DEACTIVATE: 3}


@dataclass(frozen=True)
class Policy:
    """What the planner may deactivate, and when it holds deactivations back."""

    deactivate_missing: bool = True  # owned records the source no longer has become inactive
    max_deactivations: int = 10  # refuse when deactivations exceed BOTH this count ...
    max_deactivation_ratio: float = 0.10  # ... and this share of the owned records
    allow_mass_deactivation: bool = False  # the setting that lets a refused mass deactivation through


@dataclass
class _HaloRecords:
    """Halo's records of one kind, indexed the ways the planner looks them up."""

    kind: EntityKind
    all: list[dict]
    by_identity: dict[str, dict] = field(default_factory=dict)  # lowest id per identity value
    linked_ids: set[Any] = field(default_factory=set)  # records given an identity by this plan
    by_field: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # match field -> value -> records

    def matching(self, field_name: str, value: str) -> list[dict]:
        """The records whose ``field_name`` says ``value`` (compared as identities), lowest id first."""
        if field_name not in self.by_field:
            index: dict[str, list[dict]] = defaultdict(list)
            for record in self.all:
                index[identity_key(record.get(field_name))].append(record)
            self.by_field[field_name] = index
        return self.by_field[field_name].get(value, [])


def plan(
    kind: EntityKind,
    wanted: Iterable[Wanted],
    existing: Iterable[dict],
    *,
    owns: Callable[[dict], bool],
    match_fields: Sequence[str] = (),
    scope_of: Callable[[dict], str] = lambda record: "",
    empty_scopes: Collection[str] = (),
    policy: Policy = Policy(),
) -> Plan:
    """Every write that makes Halo say what the source says, with the guards' reasons for holding any back."""
    result = Plan()
    wanted_records = _unique_wanted(kind, wanted, result.notes)
    halo = _index_halo(kind, existing, result.notes)
    for record in wanted_records:
        change = _plan_write(record, halo, match_fields, result.notes)
        if change is not None:
            result.changes.append(change)
    wanted_keys = {identity_key(record.key) for record in wanted_records}
    candidates = _deactivation_candidates(halo, wanted_keys, owns)
    if policy.deactivate_missing:
        kept = _protect_empty_scopes(kind, candidates, scope_of, empty_scopes, result.refused)
        owned_active = sum(1 for record in halo.all if owns(record) and not _is_inactive(record))
        if _is_mass_deactivation(len(kept), owned_active, policy):
            result.refused.append(_mass_deactivation_refusal(kind, len(kept), owned_active, policy))
            kept = []
        result.changes += [_deactivation(kind, record) for record in kept]
    result.changes.sort(key=_change_order)
    return result


def _unique_wanted(kind: EntityKind, wanted: Iterable[Wanted], notes: list[str]) -> list[Wanted]:
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


def _index_halo(kind: EntityKind, existing: Iterable[dict], notes: list[str]) -> _HaloRecords:
    records = sorted(existing, key=_halo_id_order)
    halo = _HaloRecords(kind=kind, all=records)
    sharing: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        key = identity_key(record.get(kind.identity_field))
        if key:
            sharing[key].append(record)
            halo.by_identity.setdefault(key, record)
    for key, group in sharing.items():
        if len(group) > 1:
            ids = ", ".join(f"#{record.get('id')}" for record in group)
            notes.append(
                f"Halo has {len(group)} {kind.name}s with {kind.identity_field} "
                f"{group[0].get(kind.identity_field)!r} ({ids}): only #{group[0].get('id')} is kept in "
                f"step with the source; merge or clear the others in Halo."
            )
    return halo


def _plan_write(record: Wanted, halo: _HaloRecords, match_fields: Sequence[str], notes: list[str]) -> Change | None:
    """The create, link or update one wanted record needs, or None when Halo already agrees."""
    current = halo.by_identity.get(identity_key(record.key))
    if current is not None:
        return _update(halo.kind, record, current)
    found = _find_link(record, halo, match_fields, notes)
    if found is not None:
        target, matched_on = found
        halo.linked_ids.add(target.get("id"))
        return _link(halo.kind, record, target, matched_on)
    return _create(halo.kind, record)


def _find_link(
    record: Wanted, halo: _HaloRecords, match_fields: Sequence[str], notes: list[str]
) -> tuple[dict, str] | None:
    """The Halo record without an identity that this wanted record matches, and the field it matched on."""
    identity = halo.kind.identity_field
    refusals: list[str] = []
    for field_name in match_fields:
        value = identity_key(record.fields.get(field_name))
        if not value:
            continue
        for candidate in halo.matching(field_name, value):
            if identity_key(candidate.get(identity)):
                refusals.append(_carries_other_identity(halo.kind, candidate, field_name))
            elif candidate.get("id") in halo.linked_ids:
                refusals.append(f"{_name(halo.kind, candidate)} matched on {field_name} too, but is linked already")
            else:
                return candidate, field_name
    if refusals:
        notes.append(
            f"Creating {halo.kind.name} {record.label} as a new record: " + "; ".join(dict.fromkeys(refusals)) + "."
        )
    return None


def _carries_other_identity(kind: EntityKind, candidate: dict, field_name: str) -> str:
    return (
        f"{_name(kind, candidate)} has the same {field_name} but already carries {kind.identity_field} "
        f"{candidate.get(kind.identity_field)!r} and is never linked to another"
    )


def _create(kind: EntityKind, record: Wanted) -> Change:
    # The identity goes in even if a mapping forgot it: without it the next run could not find the record.
    payload = {kind.identity_field: record.key, **record.fields}
    payload.pop("id", None)
    return Change(CREATE, kind, record.key, None, payload, f"Create {kind.name} {record.label}")


def _update(kind: EntityKind, record: Wanted, current: dict) -> Change | None:
    changed = _changed_fields(record.fields, current)
    if not changed:
        return None
    reactivated = "inactive" in changed and not as_bool(changed["inactive"]) and _is_inactive(current)
    verb = "Reactivate" if reactivated else "Update"
    shown = {name: value for name, value in changed.items() if not (reactivated and name == "inactive")}
    description = f"{verb} {kind.name} {record.label}" + _describe_fields(shown, current, ": ")
    payload = {"id": current.get("id"), **changed}
    return Change(UPDATE, kind, record.key, current.get("id"), payload, description)


def _link(kind: EntityKind, record: Wanted, target: dict, matched_on: str) -> Change:
    changed = _changed_fields(record.fields, target)
    changed.setdefault(kind.identity_field, record.fields.get(kind.identity_field, record.key))
    shown = {name: value for name, value in changed.items() if name != kind.identity_field}
    description = f"Link existing {kind.name} {record.label} (matched on {matched_on})"
    description += _describe_fields(shown, target, ": ")
    payload = {"id": target.get("id"), **changed}
    return Change(LINK, kind, record.key, target.get("id"), payload, description)


def _changed_fields(wanted_fields: dict[str, Any], current: dict) -> dict[str, Any]:
    return {
        name: value
        for name, value in wanted_fields.items()
        if name != "id" and not same_value(value, current.get(name))
    }


def _describe_fields(changed: dict[str, Any], current: dict, lead: str) -> str:
    if not changed:
        return ""
    parts = [f"{name} {show_value(current.get(name))} -> {show_value(value)}" for name, value in changed.items()]
    return lead + ", ".join(parts)


def _deactivation_candidates(halo: _HaloRecords, wanted_keys: set[str], owns: Callable[[dict], bool]) -> list[dict]:
    """Active records this connection owns that the source no longer has."""
    return [
        record
        for record in halo.all
        if owns(record)
        and not _is_inactive(record)
        and identity_key(record.get(halo.kind.identity_field)) not in wanted_keys
        and record.get("id") not in halo.linked_ids
    ]


def _protect_empty_scopes(
    kind: EntityKind,
    candidates: list[dict],
    scope_of: Callable[[dict], str],
    empty_scopes: Collection[str],
    refused: list[str],
) -> list[dict]:
    """Hold back deactivations in scopes the source returned nobody for: an empty read is rarely the truth."""
    held: dict[str, int] = defaultdict(int)
    kept = []
    for record in candidates:
        scope = scope_of(record)
        if scope in empty_scopes:
            held[scope] += 1
        else:
            kept.append(record)
    for scope, number in sorted(held.items()):
        refused.append(
            f"The source returned nobody for {scope}: {number} {kind.name}(s) there were left active. "
            f"If the mapping really is empty now, deactivate them in Halo by hand or remove the mapping; "
            f"if it should not be empty, check the mapping's filter and the account's read rights."
        )
    return kept


def _is_mass_deactivation(count: int, owned_active: int, policy: Policy) -> bool:
    return (
        not policy.allow_mass_deactivation
        and count > policy.max_deactivations
        and count > policy.max_deactivation_ratio * owned_active
    )


def _mass_deactivation_refusal(kind: EntityKind, count: int, owned_active: int, policy: Policy) -> str:
    return (
        f"Refused to deactivate {count} of the {owned_active} active {kind.name}(s) this connection manages "
        f"(more than {policy.max_deactivations} and more than {policy.max_deactivation_ratio:.0%}): so many "
        f"leaving at once is more often a changed filter or a short read than real leavers. None was "
        f"deactivated; the other changes are not held back. If they really left, allow it once with the "
        f'local option "allow_mass_deactivation" or `--allow-mass-deactivation` on the command line.'
    )


def _deactivation(kind: EntityKind, record: dict) -> Change:
    key = str(record.get(kind.identity_field) or "").strip() or str(record.get("id"))
    payload = {"id": record.get("id"), "inactive": True}
    description = f"Deactivate {kind.name} {_label(kind, record)} (no longer in the source)"
    return Change(DEACTIVATE, kind, key, record.get("id"), payload, description)


def _is_inactive(record: dict) -> bool:
    return bool(as_bool(record.get("inactive")))


def _label(kind: EntityKind, record: dict) -> str:
    text = record.get(kind.label_field) or record.get(kind.identity_field) or ""
    return str(text).strip() or f"#{record.get('id')}"


def _name(kind: EntityKind, record: dict) -> str:
    return f"Halo {kind.name} {_label(kind, record)} (#{record.get('id')})"


def _halo_id_order(record: dict) -> tuple[int, float, str]:
    halo_id = record.get("id")
    if isinstance(halo_id, (int, float)) and not isinstance(halo_id, bool):
        return (0, float(halo_id), "")
    return (1, 0.0, str(halo_id))


def _change_order(change: Change) -> tuple:
    if change.action == DEACTIVATE:
        return (_ACTION_ORDER[DEACTIVATE], _halo_id_order({"id": change.halo_id}), "", "")
    label = change.description.casefold()
    return (_ACTION_ORDER[change.action], (0, 0.0, ""), label, identity_key(change.key))
