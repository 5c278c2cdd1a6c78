"""The PowerShell prerequisites, as ticks and crosses for the tab and CHECK (no writes to Halo).

One script's checks (whether this Integrator may run it is the core's first two rows): its local
settings are usable; its PowerShell is installed here (which version); its script file exists, is a
readable .ps1 (inside the scripts folder when one is set); its mapped parameter names are names
PowerShell can bind. ``queue_summary`` says how many runs wait and how the last one ended.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from halointegrator.engine.model import Check, Prerequisite
from integrations.powershell.command import find_interpreter, probe_version
from integrations.powershell.journal import Journal
from integrations.powershell.records import QueueEntry, Script, invalid_parameter_names
from integrations.powershell.settings import RunSettings

SETTINGS = Prerequisite("settings", "Settings kept on this computer are usable")
POWERSHELL = Prerequisite("powershell", "PowerShell is installed on this server")
SCRIPT_FILE = Prerequisite("script_file", "The script file exists and is readable")
PARAMETERS = Prerequisite("parameters", "Its parameter names are valid PowerShell parameter names")
QUEUE = Prerequisite("queue", "Queued runs")
PREREQUISITES = (SETTINGS, POWERSHELL, SCRIPT_FILE, PARAMETERS, QUEUE)


def script_file_problem(location: str, script_folder: str = "") -> str | None:
    """Why the script at ``location`` cannot run here, or None when it can."""
    if not location:
        return "The script has no location in Halo: set it to the full path of its .ps1 file on this server."
    path = Path(location)
    if not path.is_absolute():
        return f"The script's location {location!r} is not a full path (e.g. C:\\Scripts\\New-User.ps1)."
    if path.suffix.lower() != ".ps1":
        return f"The script's location {location!r} is not a .ps1 file (PowerShell runs only .ps1 files with -File)."
    if script_folder and not _inside(path, Path(script_folder)):
        return (f"The script {location!r} is outside the scripts folder {script_folder!r} set for it in the "
                "Integrator; move it there or change the setting.")
    return _readable_problem(path)


def _readable_problem(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return f"The script file {str(path)!r} does not exist on this server."
    except IsADirectoryError:
        return f"The script's location {str(path)!r} is a folder, not a script file."
    except PermissionError:
        return (f"The script file {str(path)!r} cannot be read by the account the Integrator runs as; "
                "give that account read access.")
    except OSError as error:
        return f"The script file {str(path)!r} cannot be read: {error.strerror or error}."
    if path.is_dir():
        return f"The script's location {str(path)!r} is a folder, not a script file."
    return None


def _inside(path: Path, folder: Path) -> bool:
    real_path = os.path.normcase(os.path.realpath(path))
    real_folder = os.path.normcase(os.path.realpath(folder))
    try:
        return os.path.commonpath([real_path, real_folder]) == real_folder
    except ValueError:  # different drives on Windows
        return False


# ---- the checks ----------------------------------------------------------------------------------

def check_powershell(script: Script, settings: RunSettings, *, probe: bool = True) -> Check:
    """Found on PATH (or at the configured path), and which version it says it is."""
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
        return ("PowerShell 7 (pwsh) is not installed on this server, or not on its PATH; the script is set to "
                "'Use PowerShell 7' in Halo. Install PowerShell 7, or set the PowerShell program path.")
    return ("Windows PowerShell (powershell.exe) is not on this server's PATH. Add its folder "
            "(C:\\Windows\\System32\\WindowsPowerShell\\v1.0) to PATH, or set the PowerShell program path.")


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
