"""Entra ID (Azure AD) over Microsoft Graph: users into Halo users, Intune managed devices into assets.

The declaration: Halo's azureadconnection records (checks.py for the tab's prerequisites, source.py
for the read: Graph users in full or as a delta, group memberships, managed devices). The core plans,
guards, applies and keeps the delta link only after a clean real run.
"""

from __future__ import annotations

from typing import Any

from halointegrator.engine.model import ConnectionSource, Integration, LocalSetting
from integrations.entra import checks, source

NAME = "azure_ad"  # the name a 1.0 config keeps its Entra settings under ("azure_ad:1"), and --only's word


def list_connections(halo: Any) -> list[dict]:
    """Every Entra ID connection in Halo, as the list gives it."""
    # GET /api/azureadconnection takes no paging parameters (OpenAPI): one plain GET, a bare array.
    answer = halo.get("azureadconnection") or []
    rows = answer if isinstance(answer, list) else answer.get("connections") or answer.get("records") or []
    return [row for row in rows if isinstance(row, dict) and row.get("id") is not None]


def connection_details(halo: Any, record: dict) -> dict:
    """One connection with its details (mappings, Integrator settings), which the list leaves out."""
    return halo.get(f"azureadconnection/{record['id']}", {"includedetails": "true"})


INTEGRATION = Integration(
    name=NAME,
    title="Entra ID",
    description="Imports Entra ID (Azure AD) users into Halo users, and Intune managed devices into Halo assets, "
                "over Microsoft Graph. In Halo, the connection's Halo Integrator section chooses which imports "
                "are included.",
    connections=ConnectionSource("azureadconnection", list_connections, connection_details),
    prerequisites=checks.PREREQUISITES,
    local_settings=(
        LocalSetting("app_secret", "App secret", "secret",
                     "The client secret's Value from the app registration (Halo does not return it)."),
        LocalSetting("login_url", "Login URL", "text",
                     "Overrides the Microsoft login host, e.g. https://login.microsoftonline.us (normally blank)."),
        LocalSetting("graph_url", "Graph URL", "text",
                     "Overrides the Microsoft Graph root, e.g. https://graph.microsoft.us (normally blank)."),
        LocalSetting("allow_mass_deactivation", "Allow mass deactivation", "bool",
                     "Let one run deactivate more users or devices than the safety guard allows."),
    ),
    check=checks.check,
    read=source.read,
)
