"""Which script file a queued run may start: one inside the scripts folder set on this computer, nowhere else.

Anyone who may edit PowerShell scripts in Halo sets a script's location, so the location alone decides
nothing. The one scripts folder is a shared local setting of the integration (settings.SCRIPT_FOLDER):
until it is set no script runs, and a script Halo adds cannot bring a folder of its own. A location runs
only when

- it is a full local path of a .ps1 file, not a UNC or device path (``\\\\host\\share\\x.ps1``,
  ``\\\\?\\...``, ``\\\\.\\...``, ``//host/...``): PowerShell would fetch the script from that share, and
  Windows would authenticate to it as the Integrator's account;
- its real path (symbolic links and junctions resolved) is inside the folder's real path;
- the file, the folder, and each folder between them may be changed by administrators only
  (halointegrator.local.writers): whoever may rewrite a script may run code as the Integrator.

The run then starts the real path it checked, not the location as Halo spells it.
"""

from __future__ import annotations

import os
from pathlib import Path

from halointegrator.local.writers import change_problem
from integrations.powershell.settings import WHERE_FOLDER

UNC_PREFIXES = ("\\\\", "//", "\\/", "/\\")


def unc_problem(text: str, what: str) -> str | None:
    """Why ``text`` (``what``: "The script's location", "The scripts folder") is a share or device path."""
    if not text.strip().startswith(UNC_PREFIXES):
        return None
    return (f"{what} {text!r} is a network share or device path (it starts with \\\\ or //). Scripts run only from "
            "a folder on this server's own disks: copy the script there and give its local path (e.g. "
            "C:\\Scripts\\New-User.ps1).")


def script_file_problem(location: str, script_folder: str = "") -> str | None:
    """Why the script at ``location`` cannot run here, or None when it can."""
    return resolve_script(location, script_folder)[1]


def resolve_script(location: str, script_folder: str) -> tuple[str, str | None]:
    """(the real path to start, None) when the script may run; ("", why not) otherwise."""
    problem = _location_problem(location) or folder_problem(script_folder)
    if problem:
        return "", problem
    real_folder = os.path.realpath(script_folder)
    real_path = os.path.realpath(location)
    problem = unc_problem(real_path, f"The script {location!r} resolves to") or \
        _outside_problem(location, real_path, script_folder, real_folder) or _readable_problem(Path(real_path)) \
        or _changeable_problem(Path(real_path), Path(real_folder))
    return ("", problem) if problem else (real_path, None)


def _location_problem(location: str) -> str | None:
    if not location:
        return "The script has no location in Halo: set it to the full path of its .ps1 file on this server."
    problem = unc_problem(location, "The script's location")
    if problem:
        return problem
    path = Path(location)
    if not path.is_absolute():
        return f"The script's location {location!r} is not a full path (e.g. C:\\Scripts\\New-User.ps1)."
    if path.suffix.lower() != ".ps1":
        return f"The script's location {location!r} is not a .ps1 file (PowerShell runs only .ps1 files with -File)."
    return None


def folder_problem(script_folder: str) -> str | None:
    """Why this computer's scripts folder setting lets no script run (None when it is usable)."""
    if not script_folder:
        return (f"No scripts folder is set on this computer, so no PowerShell script runs here. Put the scripts in "
                f"a folder only administrators may change and set it: {WHERE_FOLDER}.")
    problem = unc_problem(script_folder, "The scripts folder")
    if problem:
        return problem + f" Change it: {WHERE_FOLDER}."
    if not Path(script_folder).is_absolute():
        return f"The scripts folder {script_folder!r} is not a full path; correct it: {WHERE_FOLDER}."
    if not os.path.isdir(script_folder):
        return (f"The scripts folder {script_folder!r} does not exist on this server; create it or correct "
                f"{WHERE_FOLDER}.")
    return unc_problem(os.path.realpath(script_folder), f"The scripts folder {script_folder!r} resolves to")


def _outside_problem(location: str, real_path: str, folder: str, real_folder: str) -> str | None:
    if _inside(real_path, real_folder):
        return None
    resolved = f" (it resolves to {real_path!r})" if os.path.normcase(real_path) != os.path.normcase(location) else ""
    return (f"The script {location!r}{resolved} is outside the scripts folder {folder!r} set on this computer, so "
            f"it is not run. Move the script into that folder and correct its location in Halo, or change "
            f"{WHERE_FOLDER}.")


def _inside(real_path: str, real_folder: str) -> bool:
    path, folder = os.path.normcase(real_path), os.path.normcase(real_folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False


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


def _changeable_problem(real_path: Path, real_folder: Path) -> str | None:
    """The file, then each folder from its own up to the scripts folder: changeable by administrators only."""
    problem = change_problem(real_path, folder=False, what="the script file")
    folder = real_path.parent
    while problem is None:
        what = "the scripts folder" if folder == real_folder else "the folder"
        problem = change_problem(folder, folder=True, what=what)
        if folder == real_folder or folder == folder.parent:
            break
        folder = folder.parent
    return problem
