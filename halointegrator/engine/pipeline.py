"""The pipeline every connection runs through, in one place: read, bind, plan, guard, apply, remember.

1. The integration reads its source completely (a failed read raises before anything is written).
2. Per kind: Halo's lean list (read once), bound to the wanted records through the sync status; what
   the list cannot tell is settled by whole-record reads by id, a bounded number per run.
3. Per kind: the plan (pure), with its guards.
4. All reads are done: the writes, kind by kind, in batches (or, in a dry run, only the log lines).
5. The sync status is updated with what landed (also when the run stopped part way); the source
   state (delta links) moves on only after a clean real run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from halointegrator.engine.applying import Applied, apply
from halointegrator.engine.binding import Binding, bind, describe_waiting, waiting
from halointegrator.engine.context import RunContext
from halointegrator.engine.model import CREATE, DEACTIVATE, Integration, KindRead, Plan, Report, Wanted
from halointegrator.engine.planning import Policy, clip_long_texts, next_history, owned_active, plan, unique_wanted
from halointegrator.engine.remember import remember
from halointegrator.engine.status import ConnectionState, KindStatus
from halointegrator.errors import Cancelled, HaloError, IntegratorError
from halointegrator.halo.resources import sites as site_kind
from halointegrator.values import as_id, as_int, flag

SITE_LIST = site_kind("name")  # the same list read as integrations/sql's look-ups: ctx.existing shares it

READ_ROUNDS = 3  # a read may settle one candidate and raise the next; a few rounds settle nearly all


@dataclass(frozen=True)
class Limits:
    """What one connection's run may spend beyond its list reads."""

    record_reads: int = 100  # whole-record reads to settle what lean lists cannot tell
    drift_checks: int = 0  # owned records read whole to find fields edited by hand in Halo
    batch_size: int = 100


@dataclass
class _Kind:
    """One kind on its way through the pipeline."""

    read: KindRead
    wanted: list[Wanted]
    listed: list[dict]
    binding: Binding
    plan: Plan
    checked: set[int]
    rebuilding: bool
    policy: Policy
    now: float  # when it was planned: its place in the rolling window of deactivations


def sync(integration: Integration, connection: dict, ctx: RunContext, state: ConnectionState, writer: Any, *,
         limits: Limits = Limits(), allow_mass_deactivation: bool = False) -> Report:
    """One connection, from source read to status. ``writer`` is the Halo client (the core alone posts).

    A failed read raises (an IntegratorError) before anything is written; a failure while writing is the
    report's ``failure``, with what landed before it counted and remembered.
    """
    name = integration.connections.name_of(connection)
    source = integration.read(ctx, connection)
    allow_mass = allow_mass_deactivation or flag(ctx.local_settings.get("allow_mass_deactivation"))
    batch = as_int(connection.get("halointegrator_batch")) or limits.batch_size
    kinds = [_prepare(ctx, read, state, limits, allow_mass) for read in source.kinds]
    report = Report(integration.name, name, dry_run=ctx.dry_run, notes=list(source.notes))
    for kind in kinds:
        report.notes += list(kind.read.notes)
        report.skipped += kind.read.skipped + len(kind.binding.left)
        report.warnings += kind.binding.warnings
    for kind in kinds:
        _write(ctx, writer, integration.name, name, kind, state, report, batch)
    settled = not any(waiting(kind.binding) for kind in kinds)  # a waiting record must be read again next run
    if not ctx.dry_run and report.ok and settled and source.state is not None:
        state.source = dict(source.state)  # delta links move on only after a clean real run
    return report


def _prepare(ctx: RunContext, read: KindRead, state: ConnectionState, limits: Limits, allow_mass: bool) -> _Kind:
    """Halo's records of one kind bound to the wanted ones, and the plan: every read of this kind is done here."""
    notes: list[str] = []
    wanted = unique_wanted(read.kind, read.wanted, notes)
    clip_long_texts(read.kind, wanted, notes)
    listed = ctx.existing(read.kind)
    status = state.kinds.get(read.kind.name) or KindStatus()
    rebuilding = read.kind.name not in state.kinds or status.rebuilding  # see binding.bind
    whole: dict[int, dict] = {}
    checked = _drift_sample(status, limits.drift_checks)
    _read_whole(ctx, read.kind, checked, whole)
    clients = connection_clients(ctx, wanted, listed)
    binding = bind(read.kind, wanted, listed, status, read.identity, whole, rebuilding=rebuilding, clients=clients)
    spent = 0
    for _round in range(READ_ROUNDS):
        wanted_ids = [halo_id for halo_id in dict.fromkeys(binding.to_read) if halo_id not in whole]
        budget = limits.record_reads - spent
        if not wanted_ids or budget <= 0:
            break
        spent += len(_read_whole(ctx, read.kind, wanted_ids[:budget], whole))
        binding = bind(read.kind, wanted, listed, status, read.identity, whole, rebuilding=rebuilding,
                       clients=clients)
    binding.notes[:0] = notes
    binding.notes += describe_waiting(read.kind, binding, whole)
    if spent or checked:
        binding.notes.append(f"Read {spent + len(checked)} {read.kind.name}(s) in full by id "
                             f"({len(checked)} to look for changes made in Halo).")
    policy = Policy(deactivate_missing=read.deactivate_missing, create_missing=read.create_missing,
                    create_only=read.create_only, allow_mass_deactivation=allow_mass)
    now = ctx.services.get("clock", time.time)()
    kind_plan = plan(read.kind, wanted, binding, status, scope_of=read.identity.scope_of,
                     empty_scopes=read.empty_scopes, policy=policy, now=now)
    return _Kind(read, wanted, listed, binding, kind_plan, set(checked) & set(whole), rebuilding, policy, now)


def connection_clients(ctx: RunContext, wanted: list[Wanted], listed: list[dict]) -> frozenset[int] | None:
    """The Halo clients of the sites the wanted records name (None: they name none, so no bound is known).
    Halo's list items show each record's site and client; only a site no listed record is in, while some
    record shows a client not known to be ours, needs the Site list (read once per run and shared, as the
    SQL imports' look-ups read it)."""
    sites = {site for record in wanted if (site := as_id(record.fields.get("site_id"))) is not None}
    if not sites:
        return None
    client_of = {site: client for item in listed if (site := as_id(item.get("site_id"))) in sites
                 and (client := as_id(item.get("client_id"))) is not None}
    shown = {client for item in listed if (client := as_id(item.get("client_id"))) is not None}
    if not sites <= set(client_of) and not shown <= set(client_of.values()):  # else no record can be outside
        client_of.update({site: client for item in ctx.existing(SITE_LIST)
                          if (site := as_id(item.get("id"))) in sites
                          and (client := as_id(item.get("client_id"))) is not None})
    return frozenset(client_of[site] for site in sites if site in client_of)


def _drift_sample(status: Any, count: int) -> list[int]:
    """The owned records checked longest ago (never first): a rolling look for edits made in Halo."""
    if count <= 0:
        return []
    live = [entry for entry in status.entries.values() if not entry.gone]
    return [entry.halo_id for entry in sorted(live, key=lambda entry: entry.checked)[:count]]


def _read_whole(ctx: RunContext, kind: Any, ids: list[int], whole: dict[int, dict]) -> dict[int, dict]:
    """GET /{path}/{id} for each id not read yet; a record deleted meanwhile (404) is left out."""
    for halo_id in ids:
        if halo_id in whole:
            continue
        if ctx.cancel.is_set():
            raise Cancelled("Stopped by the user while reading from Halo; nothing was written.")
        try:
            record = ctx.halo.get(f"{kind.path}/{halo_id}")
        except HaloError as error:
            if getattr(error, "status", None) == 404:
                continue
            raise
        if isinstance(record, dict):
            whole[halo_id] = record
    return whole


def _write(ctx: RunContext, writer: Any, integration: str, name: str, kind: _Kind, state: ConnectionState,
           report: Report, batch: int) -> None:
    """Apply one kind's plan and remember what landed; after a failure nothing more is written."""
    if report.failure:
        return
    try:
        applied = apply(kind.plan, writer, dry_run=ctx.dry_run, batch_size=batch, log=ctx.log,
                        cancel=ctx.cancel, integration=integration, connection=name, progress=ctx.progress)
    except IntegratorError as error:
        applied = getattr(error, "applied", None) or Applied(Report(integration, name))
        _remember(ctx, kind, state, applied)
        report.merge(applied.report)
        if isinstance(error, Cancelled):
            raise
        report.failure = str(error)
        return
    except BaseException as error:  # a bug: what landed is still remembered, then it propagates
        _remember(ctx, kind, state, getattr(error, "applied", None))
        raise
    report.merge(applied.report)
    _remember(ctx, kind, state, applied)


def _remember(ctx: RunContext, kind: _Kind, state: ConnectionState, applied: Applied | None) -> None:
    if ctx.dry_run:
        return
    status = state.kind(kind.read.kind.name)
    landed = applied.landed if applied else []
    remember(status, kind.read.kind, kind.wanted, kind.binding, kind.plan, landed, listed=kind.listed,
             checked=kind.checked, now=time.time())
    status.rebuilding = kind.rebuilding and bool(kind.binding.unsettled)  # claims left: go on rebuilding
    deactivated = sum(1 for change, _halo_id in landed if change.action == DEACTIVATE)
    created = sum(1 for change, _halo_id in landed if change.action == CREATE)
    status.deactivated = next_history(status.deactivated, kind.now, deactivated, len(owned_active(kind.binding)),
                                      kind.policy, created)

