"""On-premise Active Directory over LDAP: people in mapped OUs become Halo users of the OU's site.

Halo's LDAPConnection record says where the domain controller is, which account binds, which OU goes
to which site (``ldap_strings``) and which attribute fills which field (``mappings_user``). The
source reader (source.py) reads every mapping completely (paged) and maps the people (mapping.py);
the core plans against Halo's users and applies. Disabled accounts (userAccountControl 0x2) become
inactive users; people who left the mapped OUs are deactivated (never deleted), under the core's guards.
"""

from __future__ import annotations

from typing import Any

from halointegrator.engine.endpoint_approval import APPROVED_ENDPOINT_SETTING
from halointegrator.engine.model import ConnectionSource, Integration, LocalSetting
from integrations.active_directory import checks, source

NAME = "active_directory"
LOCAL_SETTINGS = (
    LocalSetting("bind_password", "Bind password", "secret",
                 "Used when Halo does not return the connection's password to the Integrator."),
    LocalSetting("ca_file", "CA certificate file (PEM)", "path",
                 "The CA that issued the domain controller's certificate, if this computer does not trust it."),
    LocalSetting("allow_plain_ldap", "Allow plain LDAP (no TLS)", "bool",
                 "Off by default: without TLS the bind password crosses the network in clear."),
    LocalSetting("starttls", "Use StartTLS on port 389", "bool",
                 "On by default: upgrade plain LDAP connections to TLS before binding (not used with LDAPS).",
                 default=True),
    LocalSetting("allow_mass_deactivation", "Allow mass deactivation", "bool",
                 "Let a run deactivate more users at once than the safety guard allows."),
    APPROVED_ENDPOINT_SETTING,
)


def connection_name(connection: dict[str, Any]) -> str:
    return str(connection.get("name") or f"LDAP connection {connection.get('id')}")


def list_connections(halo: Any) -> list[dict]:
    """Every LDAPConnection record, as the list gives it.

    A plain GET: Halo's document gives /LDAPConnection no paging parameters (only clientidoverride).
    """
    data = halo.get("LDAPConnection")
    if isinstance(data, dict):  # an envelope, should Halo answer with one: its list of records
        data = next((value for value in data.values() if isinstance(value, list)), [])
    return [record for record in data or [] if isinstance(record, dict) and record.get("id") is not None]


def connection_details(halo: Any, record: dict) -> dict:
    """One connection with its details (OU mappings, field mappings), which the list leaves out."""
    return halo.get(f"LDAPConnection/{record['id']}", {"includedetails": "true"})


INTEGRATION = Integration(
    name=NAME,
    title="Active Directory",
    description=("Imports the people of the OUs mapped in Halo's Active Directory connection as Halo users of "
                 "each OU's site, over LDAPS or StartTLS: names, email, phones, job title, department, "
                 "logon names and DN. Disabled accounts, and people who left the mapped OUs, become inactive."),
    connections=ConnectionSource("LDAPConnection", list_connections, connection_details, name_of=connection_name),
    prerequisites=checks.PREREQUISITES,
    local_settings=LOCAL_SETTINGS,
    check=checks.check,
    read=source.read,
)
