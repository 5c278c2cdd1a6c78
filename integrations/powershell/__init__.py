"""PowerShell scripts that Halo queues ("Queue PowerShell Script" actions, approval steps), run here.

Halo queues a run of a ``PowerShellScript`` for a ticket as a ``PowerShellScriptProcessing`` entry,
with the ticket's field values as ``execution_parameters`` (named by the script's
``PowerShellScriptCriteria``). The declaration: one connection per ``PowerShellScript`` (Halo gives it
no "enabled for the Integrator" switch, so the core runs a script only on an Integrator whose client id
its ``halointegrator_allowedclientids(list)`` names: run twice, a script would act twice). Each run,
for each script this Integrator may run (connection.py):

1. reads the script (whole, with its parameter mappings), its outstanding entries
   (``outstandingonly=true``, ``includeparameters=true``, ``script_id``) and the local journal;
2. the core posts first the outcomes the journal holds that Halo has not been told (a crash after a
   run and before its post), and runs that were interrupted mid-way answered as failed: never run twice;
3. the core runs each remaining entry once: ``powershell.exe`` (or ``pwsh`` when ``usepowershellseven``)
   ``-NoProfile -NonInteractive -ExecutionPolicy Bypass -File <location>``, each parameter two
   arguments of its own (``-Name:`` and the value), under a time limit that ends the process tree,
   and posts ``{id, processed: true, success, result_message}`` for it at once.

Modules: records (Halo's fields, pure), reading (Halo reads), command (interpreter and argv),
process (running, bounded output), wintree (Windows job objects), journal, outcome (success rule and
result_message), queue (the work of one run), checks (prerequisites), settings (local settings),
connection (work() and check() for the core). The core posts and writes back; nothing here writes to Halo.
"""

from __future__ import annotations

from typing import Any, Mapping

from halointegrator.engine.model import ConnectionSource, Integration
from integrations.powershell import connection
from integrations.powershell.checks import PREREQUISITES, checks_for, queue_summary
from integrations.powershell.journal import Journal, JournalError, journal_path_for
from integrations.powershell.queue import PendingOutcome, QueueWork, ScriptAction, prepare_orphans, prepare_script
from integrations.powershell.reading import (
    QUEUE_PATH, SCRIPT_PATH, list_script_records, listed_scripts, load_script, read_queue, script_details,
)
from integrations.powershell.records import Script, script_from, ticket_status_change
from integrations.powershell.settings import LOCAL_SETTINGS, SHARED_SETTINGS, RunSettings, settings_from

NAME = "powershell"
TITLE = "PowerShell scripts"


def script_name(record: Mapping[str, Any]) -> str:
    """How the tab and the log name a script: its name in Halo and the id CONFIGURE --connection takes."""
    name = str(record.get("name") or "").strip() or "PowerShell script"
    return f"{name} (script {record.get('id')})"


INTEGRATION = Integration(
    name=NAME,
    title=TITLE,
    description="Runs the PowerShell scripts Halo queues from tickets (\"Queue PowerShell Script\" actions, "
                "approval steps) on this server, each queued run once, and tells Halo how each ended. One row "
                "per script in Halo; a script runs only on an Integrator whose client id the script's Halo "
                "Integrator Allowed Client IDs name.",
    connections=ConnectionSource(SCRIPT_PATH, listed_scripts, script_details, enabled_field="", explicit_allow=True,
                                 name_of=script_name, noun="script"),
    prerequisites=PREREQUISITES,
    local_settings=LOCAL_SETTINGS,
    shared_settings=SHARED_SETTINGS,
    check=connection.check,
    work=connection.work,
)

__all__ = [
    "INTEGRATION", "LOCAL_SETTINGS", "NAME", "SHARED_SETTINGS", "PREREQUISITES", "QUEUE_PATH", "TITLE",
    "Journal", "JournalError", "PendingOutcome", "QueueWork", "RunSettings", "Script", "ScriptAction",
    "checks_for", "journal_path_for", "list_script_records", "load_script", "prepare_orphans",
    "prepare_script", "queue_summary", "read_queue", "script_from", "settings_from", "ticket_status_change",
]
