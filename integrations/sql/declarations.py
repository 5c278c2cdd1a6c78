"""The three SQL integrations as the core sees them: Lansweeper on premises, SCCM / MECM, Halo's SQL imports.

Each is one ``Integration`` built from its ``integrations.sql.SOURCES`` entry: where its connections
are (connections.py), the tab's prerequisites and their check (prerequisites.py), the local settings
(``integrations.sql.LOCAL_SETTINGS``) and the source read (source.py). The core discovers, plans,
guards, applies and writes Last Sync / Last Error back; nothing here posts to Halo.
"""

from __future__ import annotations

import functools

from halointegrator.engine.model import Integration
from integrations.sql import LANSWEEPER, LOCAL_SETTINGS, SCCM, SOURCES, SQL_IMPORT, source as source_read
from integrations.sql import prerequisites
from integrations.sql.connections import connection_source

DESCRIPTIONS = {
    LANSWEEPER: "Imports the assets of an on-premise Lansweeper database (SQL Server) into Halo assets: the query "
                "and field mappings of Halo's Lansweeper module (its default query when Halo holds none), type and "
                "site by name, the user by the matching field. Lansweeper's cloud kind is run by Halo itself.",
    SCCM: "Imports the machines of a Configuration Manager (SCCM / MECM) site database into Halo assets: the query "
          "and field mappings of Halo's SCCM module (its default query over v_R_System and the v_GS_ views when "
          "Halo holds none), type and site by name, the user by the matching field.",
    SQL_IMPORT: "Runs each of Halo's SQL imports enabled for the Halo Integrator (one connection each) against its "
                "database and imports the rows into Halo assets or users. The query must be a single SELECT; it runs "
                "in a transaction that is rolled back. Imports of sites, clients or custom tables are not supported.",
}


def declare(name: str) -> Integration:
    source = next(item for item in SOURCES if item.name == name)
    return Integration(
        name=name, title=source.title, description=DESCRIPTIONS[name],
        connections=connection_source(source), prerequisites=prerequisites.PREREQUISITES,
        local_settings=LOCAL_SETTINGS, check=functools.partial(prerequisites.check, name),
        read=functools.partial(source_read.read, name))


LANSWEEPER_INTEGRATION = declare(LANSWEEPER)
SCCM_INTEGRATION = declare(SCCM)
SQL_IMPORT_INTEGRATION = declare(SQL_IMPORT)
INTEGRATIONS = (LANSWEEPER_INTEGRATION, SCCM_INTEGRATION, SQL_IMPORT_INTEGRATION)
