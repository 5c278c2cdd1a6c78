"""Which imports an Entra ID connection runs (users, Intune devices), as Halo's record says."""

from __future__ import annotations

import re
from typing import Any, Mapping

from halointegrator.values import rows_of


def imports_of(connection: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """Which imports run ({"users", "devices"}) and notes on anything not understood."""
    words = re.split(r"[,;]", str(connection.get("halo_integrator_import_list") or ""))
    for pair in rows_of(connection.get("halo_integrator_import_types")):
        words += [str(pair.get("value") or ""), str(pair.get("label") or "")]
    chosen, notes = set(), []
    for word in (w.strip().lower() for w in words if w and w.strip()):
        if "device" in word or "intune" in word or "asset" in word:
            chosen.add("devices")
        elif "user" in word:
            chosen.add("users")
        elif not word.isdigit():
            notes.append(f"Import '{word}' is not one this Integrator runs (users, devices); skipped")
    if not chosen:
        chosen = {"users", "devices"} if connection.get("intune_enabled") else {"users"}
    return chosen, notes
