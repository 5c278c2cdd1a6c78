"""The SQL tabs' prerequisites, in order, and ``check(source, ctx, record)`` that gives their ticks and crosses.

The database steps are checks.database_checks (settings, the named ODBC driver installed, the server
answers, the login is accepted, the query runs and returns the key column: a failed step marks the
later ones "not run"); then whether the sites and asset types the settings name by id exist in Halo
(checks.halo_checks, from the lists the run reads too). Nothing is written anywhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from halointegrator.engine.context import RunContext
from halointegrator.engine.model import Check, Prerequisite
from halointegrator.errors import IntegratorError, SourceError
from integrations.sql.approval import approver
from integrations.sql.checks import HALO_LABELS, LABELS, database_checks, halo_checks
from integrations.sql.connections import settings_for
from integrations.sql.source import halo_lookups

SETTINGS, DRIVER, SERVER, LOGIN, QUERY = (
    Prerequisite(key, label) for key, label in zip(("settings", "driver", "server", "login", "query"), LABELS))
HALO = Prerequisite("halo", "Mapped sites and asset types exist in Halo")
PREREQUISITES = (SETTINGS, DRIVER, SERVER, LOGIN, QUERY, HALO)
_DATABASE_STEPS = (SETTINGS, DRIVER, SERVER, LOGIN, QUERY)


def check(source: str, ctx: RunContext, record: Mapping[str, Any]) -> list[Check]:
    """Every prerequisite of one connection; no writes (the query's transaction is rolled back)."""
    try:
        settings = settings_for(source, record, ctx.local_settings)
    except SourceError as error:
        reason = "not run: the import's settings are incomplete or not supported"
        return [Check(SETTINGS.label, False, str(error), SETTINGS.key)] + [
            Check(step.label, False, reason, step.key) for step in (*_DATABASE_STEPS[1:], HALO)]
    return _keyed(database_checks(settings, approve=approver(ctx))) + _halo_checks(ctx, settings)


def _keyed(checks: list[Check]) -> list[Check]:
    """database_checks' results, each naming its prerequisite (they come in the declared order)."""
    return [dataclasses.replace(result, prerequisite=step.key) for result, step in zip(checks, _DATABASE_STEPS)]


def _halo_checks(ctx: RunContext, settings: Any) -> list[Check]:
    try:
        lookups, _identity = halo_lookups(ctx, settings)
    except IntegratorError as error:
        return [Check(HALO.label, False, f"Halo's sites and asset types could not be read: {error}", HALO.key)]
    found = [dataclasses.replace(result, prerequisite=HALO.key) for result in halo_checks(settings, lookups)]
    if found:
        return found
    return [Check(HALO.label, True, "the import names no site or asset type by id (rows name theirs by name)",
                  HALO.key)]


__all__ = ["PREREQUISITES", "check", "HALO_LABELS"]
