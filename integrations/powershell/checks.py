"""The PowerShell prerequisites, as ticks and crosses for the tab and CHECK (no writes to Halo).

One script's checks (whether this Integrator may run it is the core's first two rows): its local
settings are usable; its PowerShell is installed here (which version); its script file exists, is a
readable .ps1 inside the scripts folder set on this computer, which only administrators may change
(location.py); its mapped parameter names are names PowerShell can bind. ``queue_summary`` says how many
runs wait and how the last one ended.
"""

from __future__ import annotations

from typing import Iterable

from halointegrator.engine.model import Check, Prerequisite
from integrations.powershell.command import find_interpreter, probe_version
from integrations.powershell.journal import Journal
from integrations.powershell.location import script_file_problem
from integrations.powershell.records import QueueEntry, Script, invalid_parameter_names
from integrations.powershell.settings import RunSettings

SETTINGS = Prerequisite("settings", "Settings kept on this computer are usable")
POWERSHELL = Prerequisite("powershell", "PowerShell is installed on this server")
SCRIPT_FILE = Prerequisite("script_file", "The script file is in the scripts folder, readable, and only "
                           "administrators may change it")
PARAMETERS = Prerequisite("parameters", "Its parameter names are valid PowerShell parameter names")
QUEUE = Prerequisite("queue", "Queued runs")
PREREQUISITES = (SETTINGS, POWERSHELL, SCRIPT_FILE, PARAMETERS, QUEUE)


# ---- the checks ----------------------------------------------------------------------------------

def check_powershell(script: Script, settings: RunSettings, *, probe: bool = True) -> Check:
    """Found (at the configured path, its usual place, or on PATH), and which version it says it is."""
    interpreter = find_interpreter(script.use_seven, settings.powershell_path)
    if interpreter is None:
        return Check(POWERSHELL.label, False, not_found_message(script, settings), POWERSHELL.key)
    if not probe:
        return Check(POWERSHELL.label, True, f"{interpreter.title} at {interpreter.path}", POWERSHELL.key)
    version, problem = probe_version(interpreter)
    if version is None:
        return Check(POWERSHELL.label, False,
                     f"{interpreter.title} at {interpreter.path} did not say its version: {problem}", POWERSHELL.key)
    return Check(POWERSHELL.label, True, f"{interpreter.title} {version} at {interpreter.path}", POWERSHELL.key)


def not_found_message(script: Script, settings: RunSettings) -> str:
    if settings.powershell_path:
        return (f"The PowerShell program set for this script in the Integrator, {settings.powershell_path!r}, "
                "does not exist: correct or clear the setting.")
    if script.use_seven:
        return ("PowerShell 7 (pwsh) is not installed on this server: not in its usual place nor on its PATH; the "
                "script is set to 'Use PowerShell 7' in Halo. Install PowerShell 7, or set the PowerShell program "
                "path.")
    return ("Windows PowerShell (powershell.exe) is not in its usual place "
            "(C:\\Windows\\System32\\WindowsPowerShell\\v1.0) nor on this server's PATH. Set the PowerShell "
            "program path to its full path.")


def check_script_file(script: Script, settings: RunSettings) -> Check:
    problem = script_file_problem(script.location, settings.script_folder)
    return Check(SCRIPT_FILE.label, problem is None, problem or script.location, SCRIPT_FILE.key)


def check_parameter_names(script: Script) -> Check:
    problems = invalid_parameter_names(script)
    if problems:
        return Check(PARAMETERS.label, False, "; ".join(problems) + ". Correct the mappings in Halo.", PARAMETERS.key)
    names = ", ".join(script.parameters)
    return Check(PARAMETERS.label, True, names or "the script maps no parameters", PARAMETERS.key)


def checks_for(script: Script, settings: RunSettings, *, probe: bool = True) -> list[Check]:
    """The script's own prerequisites (PowerShell, the script file, the parameter names), in that order."""
    return [check_powershell(script, settings, probe=probe), check_script_file(script, settings),
            check_parameter_names(script)]


def queue_summary(script: Script, waiting: Iterable[QueueEntry], journal: Journal | None) -> str:
    """"2 queued runs wait; last: run 12 (ticket 40) succeeded, 2026-12-01T10:00:00Z".

    ``journal`` None: the check was not told where the journal is, so the last outcome is not known here.
    """
    count = sum(1 for entry in waiting if entry.script_id == script.id)
    text = f"{count} queued run{'s' if count != 1 else ''} wait{'s' if count == 1 else ''}"
    if journal is None:
        return text + "; the last outcome is not known here (see Last Sync / Last Error, or run CHECK)"
    ended = [entry for entry in journal.entries() if entry.script_id == script.id and entry.outcome]
    if not ended:
        return text + "; none has run here yet"
    last = max(ended, key=lambda entry: (entry.finished or "", entry.entry_id))
    how = "succeeded" if last.outcome.get("success") else "failed"
    ticket = f" (ticket {last.ticket_id})" if last.ticket_id is not None else ""
    return f"{text}; last: run {last.entry_id}{ticket} {how}, {last.finished}"
