"""PowerShell scripts that Halo queues ("Queue PowerShell Script" actions, approval steps), run here.

Halo queues a run of a ``PowerShellScript`` for a ticket as a ``PowerShellScriptProcessing`` entry,
with the ticket's field values as ``execution_parameters`` (named by the script's
``PowerShellScriptCriteria``). Each run of the Integrator, for each script this client id may run:

1. reads the script (whole, with its parameter mappings) and its outstanding entries
   (``outstandingonly=true``, ``includeparameters=true``, ``script_id``) and the local journal;
2. posts first the outcomes the journal holds that Halo has not been told (a crash after a run and
   before its post), and answers runs that were interrupted mid-way as failed: never run twice;
3. runs each remaining entry once: ``powershell.exe`` (or ``pwsh`` when ``usepowershellseven``)
   ``-NoProfile -NonInteractive -ExecutionPolicy Bypass -File <location>``, each parameter two
   arguments of its own (``-Name:`` and the value), under a time limit that ends the process tree;
4. posts ``{id, processed: true, success, result_message}`` for it.

Modules: records (Halo's fields, pure), reading (Halo reads), command (interpreter and argv),
process (running, bounded output), wintree (Windows job objects), journal, outcome (success rule and
result_message), queue (the work of one run), checks (prerequisites), settings (local settings).
The core posts and writes back; nothing here writes to Halo.
"""

from __future__ import annotations

from integrations.powershell.checks import PREREQUISITES, checks_for, queue_summary
from integrations.powershell.journal import Journal, JournalError, journal_path_for
from integrations.powershell.queue import PendingOutcome, QueueWork, ScriptAction, prepare_orphans, prepare_script
from integrations.powershell.reading import QUEUE_PATH, SCRIPT_PATH, list_script_records, load_script, read_queue
from integrations.powershell.records import Script, may_run, script_from, ticket_status_change
from integrations.powershell.settings import LOCAL_SETTINGS, RunSettings, settings_from

NAME = "powershell"
TITLE = "PowerShell scripts"
CONNECTION_PATH = SCRIPT_PATH  # Last Sync / Last Error: PowerShellScript.halointegrator_lastsync / _lasterror

__all__ = [
    "CONNECTION_PATH", "LOCAL_SETTINGS", "NAME", "PREREQUISITES", "QUEUE_PATH", "TITLE",
    "Journal", "JournalError", "PendingOutcome", "QueueWork", "RunSettings", "Script", "ScriptAction",
    "checks_for", "journal_path_for", "list_script_records", "load_script", "may_run", "prepare_orphans",
    "prepare_script", "queue_summary", "read_queue", "script_from", "settings_from", "ticket_status_change",
]
