"""Which SQL endpoints a secret of this computer may go to (the rule is halointegrator.engine.endpoint_approval).

A password Halo returned goes where Halo says: Halo holds both. A password kept in the connection's
local settings, and the Windows login of the account running the Integrator (integrated
authentication), go only to the endpoint (ODBC driver, server, port, database, user) they were
approved for. When Halo names no driver (or an OLE DB provider) the Integrator uses the newest SQL Server
driver installed: the endpoint then holds only the driver's family, so installing ODBC Driver 18 beside 17
on this computer is not a change "in Halo".
"""

from __future__ import annotations

import re
from typing import Any, Callable

from halointegrator.engine import endpoint_approval
from integrations.sql.connstr import SQLSERVER, DbTarget, driver_family, normalise_driver_name

TAB_TITLES = {"lansweeper": "Lansweeper (on premises)", "sccm": "SCCM / MECM", "sql_import": "SQL imports"}
Approve = Callable[[DbTarget, str], None]
# The driver as the endpoint holds it when the Integrator chose it (not a driver's name: none is "any").
CHOSEN_SQL_SERVER_DRIVER = "newest sql server driver installed"
_STORED_DRIVER = re.compile(r"^SQL driver=([^,]*),")


def sql_endpoint(target: DbTarget, driver: str) -> str:
    """The endpoint the login goes to, as stored in ``approved_endpoint``: the driver Halo names, or, when
    the Integrator chose it (``choose_driver``), only its family."""
    user = target.user or "windows integrated"
    shown_driver = driver if normalise_driver_name(target.driver) else CHOSEN_SQL_SERVER_DRIVER
    return endpoint_approval.endpoint_text("SQL", (("driver", shown_driver), ("server", target.server),
                                                   ("port", target.port or ""), ("database", target.database),
                                                   ("user", user)))


def _as_stored_now(target: DbTarget) -> Callable[[str], str]:
    """Approvals stored before the endpoint held only the driver's family name the driver chosen then
    ("odbc driver 17 for sql server"): when the Integrator chooses the driver, such an approval is compared
    by the driver's family, so it keeps working after another SQL Server driver is installed."""
    def as_stored_now(approved: str) -> str:
        stored = _STORED_DRIVER.match(approved)
        if normalise_driver_name(target.driver) or not stored or driver_family(stored.group(1)) != SQLSERVER:
            return approved
        return f"SQL driver={CHOSEN_SQL_SERVER_DRIVER}," + approved[stored.end():]
    return as_stored_now


def approver(ctx: Any) -> Approve:
    """``approve(target, driver)``: SourceError, before anything is sent, when the target's local secret (or
    Windows login) was approved for another endpoint; the first use approves the endpoint."""
    key = getattr(ctx, "connection_key", "") or ""
    tab = TAB_TITLES.get(key.partition(":")[0], "SQL imports")

    def approve(target: DbTarget, driver: str) -> None:
        endpoint = sql_endpoint(target, driver)
        if target.integrated:
            endpoint_approval.require_approved(ctx, endpoint, "Windows login", endpoint_approval.set_approval(
                key, tab, endpoint), kept_as="approved", same=_as_stored_now(target), first_use=False)
        elif target.local_secret:
            endpoint_approval.require_approved(ctx, endpoint, "SQL password", endpoint_approval.store_again(
                key, "password", "SQL password", tab), same=_as_stored_now(target))
    return approve
