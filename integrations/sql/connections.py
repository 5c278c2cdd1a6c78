"""Where the three SQL integrations find their connections in Halo, and each connection's settings.

Lansweeper and SCCM live in Halo's one ``GET /Control`` record (an object, not a list): each is one
connection, the Control record itself, and its Last Sync / Last Error go back with
``POST /Control [{"id": ..., "halointegrator_lansweeper_lastsync": ...}]``. Halo's SQL imports are
``GET /SQLImport?integratorenabled=true`` (a bare array: the document gives it no paging), each one this
Integrator may run read whole with ``GET /SQLImport/{id}?includedetails=true`` for its field mappings
(the core calls ``detail`` for those only); each is a connection. The core reads Control once per
discovery although two integrations list it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from halointegrator.engine.model import ConnectionSource
from halointegrator.errors import SourceError
from integrations.sql.fields import (
    CONTROL_PATH, SQL_IMPORT_DETAIL_PARAMS, SQL_IMPORT_LIST_PARAMS, SQL_IMPORT_PATH, text_of,
)
from integrations.sql.settings import (
    LANSWEEPER, SCCM, SQL_IMPORT, ImportSettings, lansweeper_settings, sccm_settings, sql_import_settings,
)

SETTINGS_OF: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], ImportSettings]] = {
    LANSWEEPER: lansweeper_settings, SCCM: sccm_settings, SQL_IMPORT: sql_import_settings,
}
CONTROL_NAMES = {LANSWEEPER: "Lansweeper", SCCM: "SCCM"}


def list_control(halo: Any) -> list[dict]:
    """The Control record, as the one connection of Lansweeper (or SCCM)."""
    control = halo.get(CONTROL_PATH)
    if not isinstance(control, dict):
        raise SourceError("Halo's GET /Control did not answer with its settings record; try again, and check that "
                          "the Integrator's agent may read Halo's configuration.")
    if control.get("id") is None:
        raise SourceError("Halo's Control record has no id, so Last Sync and Last Error could not be written "
                          "back to it.")
    return [control]


def list_sql_imports(halo: Any) -> list[dict]:
    """Every SQL import Halo enables for the Integrator, as the list gives it."""
    answer = halo.get(SQL_IMPORT_PATH, dict(SQL_IMPORT_LIST_PARAMS)) or []
    if isinstance(answer, dict):  # an envelope, should Halo answer with one: its list of records
        answer = next((value for value in answer.values() if isinstance(value, list)), [])
    return [row for row in answer if isinstance(row, dict) and row.get("id") is not None]


def sql_import_details(halo: Any, record: dict) -> dict:
    """One SQL import whole, with its field mappings (``fields``), which the list may leave out; the core
    reads it only for an import this Integrator may run."""
    return halo.get(f"{SQL_IMPORT_PATH}/{record['id']}", dict(SQL_IMPORT_DETAIL_PARAMS))


def import_name(record: Mapping[str, Any]) -> str:
    return text_of(record.get("name")) or f"SQL import {record.get('id')}"


def connection_source(source: Any) -> ConnectionSource:
    """The core's ConnectionSource for one of ``integrations.sql.SOURCES``."""
    if source.name == SQL_IMPORT:
        listing, detail, name_of, noun = list_sql_imports, sql_import_details, import_name, "import"
    else:  # the module's settings on Halo's Control record are its one connection
        listing, detail, noun = list_control, None, "module setting"
        name_of = (lambda record, title=CONTROL_NAMES[source.name]: title)
    return ConnectionSource(source.list_path, listing, detail, enabled_field=source.enabled_field,
                            allowed_fields=source.allowed_fields, lastsync_field=source.lastsync_field,
                            lasterror_field=source.lasterror_field, name_of=name_of, noun=noun)


def settings_for(source: str, record: Mapping[str, Any], local: Mapping[str, Any]) -> ImportSettings:
    """One connection's settings (SourceError with the sentence that says what is missing)."""
    return SETTINGS_OF[source](record, local)
