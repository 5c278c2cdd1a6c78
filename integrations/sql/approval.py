"""Which SQL endpoints a secret of this computer may go to (the rule is halointegrator.engine.endpoint_approval).

A password Halo returned goes where Halo says: Halo holds both. A password kept in the connection's
local settings, and the Windows login of the account running the Integrator (integrated
authentication), go only to the endpoint (ODBC driver, server, port, database, user) they were
approved for.
"""

from __future__ import annotations

from typing import Any, Callable

from halointegrator.engine import endpoint_approval
from integrations.sql.connstr import DbTarget

TAB_TITLES = {"lansweeper": "Lansweeper (on premises)", "sccm": "SCCM / MECM", "sql_import": "SQL imports"}
Approve = Callable[[DbTarget, str], None]


def sql_endpoint(target: DbTarget, driver: str) -> str:
    """The endpoint the login goes to, as stored in ``approved_endpoint``."""
    user = target.user or "windows integrated"
    return endpoint_approval.endpoint_text("SQL", (("driver", driver), ("server", target.server),
                                                   ("port", target.port or ""), ("database", target.database),
                                                   ("user", user)))


def approver(ctx: Any) -> Approve:
    """``approve(target, driver)``: SourceError, before anything is sent, when the target's local secret (or
    Windows login) was approved for another endpoint; the first use approves the endpoint."""
    key = getattr(ctx, "connection_key", "") or ""
    tab = TAB_TITLES.get(key.partition(":")[0], "SQL imports")

    def approve(target: DbTarget, driver: str) -> None:
        endpoint = sql_endpoint(target, driver)
        if target.integrated:
            endpoint_approval.require_approved(
                ctx, endpoint, "Windows login", endpoint_approval.clear_approval(key, tab), kept_as="approved")
        elif target.local_secret:
            endpoint_approval.require_approved(
                ctx, endpoint, "SQL password", endpoint_approval.store_again(key, "password", "SQL password", tab))
    return approve
