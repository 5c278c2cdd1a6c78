"""The PowerShell queue's local settings (kept in the Integrator's config, never in Halo)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from halointegrator.engine.model import LocalSetting
from halointegrator.errors import ConfigError
from integrations.powershell.process import OUTPUT_LIMIT

DEFAULT_TIMEOUT_MINUTES = 10
MAX_TIMEOUT_MINUTES = 24 * 60

SCRIPT_FOLDER = "script_folder"
WHERE_FOLDER = ("the PowerShell tab's 'Settings kept on this computer for every script' > Scripts folder, or "
                "CONFIGURE --connection powershell --set script_folder=C:\\Scripts")

LOCAL_SETTINGS = (
    LocalSetting("timeout_minutes", "Time limit per run (minutes)", "text",
                 "A run still going after this long is ended with everything it started, and reported failed "
                 "(sooner when the whole run's time limit, run_time_limit_minutes, comes first).",
                 default=DEFAULT_TIMEOUT_MINUTES),
    LocalSetting("powershell_path", "PowerShell program", "path",
                 "The full path of powershell.exe or pwsh.exe, when it is not in its usual place (Program Files, "
                 "System32) nor on this server's PATH."),
)

SHARED_SETTINGS = (  # one for every script: a script Halo adds cannot bring a folder of its own
    LocalSetting(SCRIPT_FOLDER, "Scripts folder", "path",
                 "Scripts run only from this folder (and its subfolders); a script whose location in Halo is "
                 "elsewhere is refused. Until it is set, no script runs. Only administrators may be able to "
                 "change the folder and the scripts in it."),
)


@dataclass(frozen=True)
class RunSettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_MINUTES * 60.0
    script_folder: str = ""
    powershell_path: str = ""
    output_limit: int = OUTPUT_LIMIT  # bytes kept per stream (not a user setting)


def settings_from(local: Mapping[str, Any] | None) -> RunSettings:
    """RunSettings from one script's stored local settings; a bad time limit is a ConfigError."""
    local = local or {}
    raw = local.get("timeout_minutes")
    minutes = DEFAULT_TIMEOUT_MINUTES if raw in (None, "") else _minutes(raw)
    return RunSettings(timeout_seconds=minutes * 60.0,
                       script_folder=str(local.get(SCRIPT_FOLDER) or "").strip(),
                       powershell_path=str(local.get("powershell_path") or "").strip())


def _minutes(raw: Any) -> float:
    try:
        minutes = float(str(raw).strip().replace(",", "."))
    except ValueError:
        minutes = math.nan
    if not (math.isfinite(minutes) and 0 < minutes <= MAX_TIMEOUT_MINUTES):
        raise ConfigError(f"The PowerShell time limit {str(raw)!r} is not a number of minutes above 0 and at most "
                          f"{MAX_TIMEOUT_MINUTES}: correct 'Time limit per run (minutes)' in the Integrator.")
    return minutes


def describe_settings(settings: RunSettings) -> str:
    """"time limit 10 min per run; scripts only from C:\\Scripts; PowerShell found in its usual place or on PATH"."""
    minutes = settings.timeout_seconds / 60
    limit = f"{minutes:g} min" if minutes >= 1 else f"{settings.timeout_seconds:g} s"
    folder = f"scripts only from {settings.script_folder}" if settings.script_folder else \
        "no scripts folder set, so no script runs"
    program = f"PowerShell program {settings.powershell_path}" if settings.powershell_path else \
        "PowerShell found in its usual place or on PATH"
    return f"time limit {limit} per run; {folder}; {program}"
