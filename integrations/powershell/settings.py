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

LOCAL_SETTINGS = (
    LocalSetting("timeout_minutes", "Time limit per run (minutes)", "text",
                 "A run still going after this long is ended with everything it started, and reported failed.",
                 default=DEFAULT_TIMEOUT_MINUTES),
    LocalSetting("script_folder", "Scripts folder", "path",
                 "When set, only a script file inside this folder runs; a location elsewhere is refused."),
    LocalSetting("powershell_path", "PowerShell program", "path",
                 "The full path of powershell.exe or pwsh.exe, when it is not on this server's PATH."),
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
                       script_folder=str(local.get("script_folder") or "").strip(),
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
    """"time limit 10 min per run; scripts from any folder; PowerShell found on PATH"."""
    minutes = settings.timeout_seconds / 60
    limit = f"{minutes:g} min" if minutes >= 1 else f"{settings.timeout_seconds:g} s"
    folder = f"scripts only from {settings.script_folder}" if settings.script_folder else "scripts from any folder"
    program = f"PowerShell program {settings.powershell_path}" if settings.powershell_path else \
        "PowerShell found on PATH"
    return f"time limit {limit} per run; {folder}; {program}"
