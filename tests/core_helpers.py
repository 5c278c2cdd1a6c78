"""Driving integrations and the planner through the core, as a run does, for tests.

``run_connection`` runs one connection record through the pipeline (read, bind, plan, apply, remember)
against any Halo with ``get``/``list``/``post`` (the sandbox's client, or tests.fake_halo.FakeHalo);
pass the same ``state`` to the next call to continue from what the last run remembered.
``plan_records`` is the planner on records that show every field (the engine's table tests).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Collection, Iterable, Sequence

from halointegrator.engine import pipeline
from halointegrator.engine.binding import bind
from halointegrator.engine.context import ReadOnlyHalo, RunContext, StatusView
from halointegrator.engine.model import EntityKind, Identity, Integration, Plan, Report, Wanted
from halointegrator.engine.planning import Policy, plan, unique_wanted
from halointegrator.engine.status import ConnectionState, KindStatus

LOG = logging.getLogger("test.core")


def context_for(halo: Any, *, local: dict | None = None, state: ConnectionState | None = None,
                dry_run: bool = False, services: dict | None = None, log: logging.Logger = LOG,
                client_id: str = "halo-integrator") -> RunContext:
    state = state if state is not None else ConnectionState()
    ctx = RunContext(halo=ReadOnlyHalo(halo), log=log, local_settings=dict(local or {}), state=dict(state.source),
                     dry_run=dry_run, client_id=client_id, services=dict(services or {}))
    ctx.status = StatusView(state, ctx.existing)
    return ctx


def run_connection(integration: Integration, record: dict, halo: Any, *, state: ConnectionState | None = None,
                   local: dict | None = None, dry_run: bool = False, allow_mass_deactivation: bool = False,
                   services: dict | None = None, limits: pipeline.Limits = pipeline.Limits(),
                   log: logging.Logger = LOG) -> Report:
    """One connection through the core; ``state`` (kept by the caller) is updated as a real run would."""
    state = state if state is not None else ConnectionState()
    ctx = context_for(halo, local=local, state=state, dry_run=dry_run, services=services, log=log)
    return pipeline.sync(integration, record, ctx, state, halo, limits=limits,
                         allow_mass_deactivation=allow_mass_deactivation)


def plan_records(kind: EntityKind, wanted: Iterable[Wanted], existing: Iterable[dict], *,
                 owns: Callable[[dict], bool | None], match_fields: Sequence[str] = (),
                 scope_of: Callable[[dict], str] = lambda record: "", empty_scopes: Collection[str] = (),
                 policy: Policy = Policy(), status: KindStatus | None = None, now: float = 0.0) -> Plan:
    """The plan for Halo records that show every field: ownership is decided on the records themselves."""
    notes: list[str] = []
    unique = unique_wanted(kind, wanted, notes)
    identity = Identity(match=tuple(match_fields), claims=lambda record: True, owns=owns, scope_of=scope_of)
    rebuilding = status is None  # no status: every record it does not know may be this connection's
    status = status or KindStatus()
    # A record that shows every field and lacks the identity field has none (it is not merely unshown).
    records = [{kind.identity_field: None, **record} for record in existing]
    binding = bind(kind, unique, records, status, identity, rebuilding=rebuilding)
    binding.notes[:0] = notes
    return plan(kind, unique, binding, status, scope_of=scope_of, empty_scopes=empty_scopes, policy=policy,
                now=now)
