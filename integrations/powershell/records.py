"""Halo's PowerShell records read as this Integrator needs them (pure: no I/O).

Field names are the document's (halo-api-v2.json): ``PowerShellScript`` (id, name, location,
resultstring, resultpartialmatch, resultstatus, resultfailedstatus, fieldmappings_powershell,
usepowershellseven, halointegrator_allowedclientids(list), ...), ``PowerShellScriptCriteria`` (pssid,
parametername, fiid, finame, filabel) and ``PowerShellScriptProcessing`` (id, pssid, faultid, processed,
success, result_message, execution_parameters, requeued, ...).

The script text never comes from Halo: the document has no field for it, only ``location``, a file on
the Integrator's server. ``type``, ``method`` and ``customtableid`` have undocumented meanings and are
not used to decide anything (shown only).
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping

from halointegrator.values import as_bool, as_id

MAX_PARAMETER_NAME = 100


class EntryRefused(Exception):
    """An entry that cannot be run as Halo queued it; the message becomes its result_message."""


@dataclass(frozen=True)
class Script:
    """One PowerShellScript, with the parameter names its criteria map to ticket fields."""

    id: int
    name: str
    location: str
    use_seven: bool
    result_string: str
    partial_match: bool
    result_status: int | None
    failed_status: int | None
    parameters: tuple[str, ...] = ()  # criteria parametername, in Halo's order, "$"/"-" stripped
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"'{self.name}' (id {self.id})" if self.name else f"script {self.id}"

    @property
    def interpreter(self) -> str:
        return "PowerShell 7 (pwsh)" if self.use_seven else "Windows PowerShell (powershell.exe)"


@dataclass(frozen=True)
class QueueEntry:
    """One PowerShellScriptProcessing record: a queued run of a script for a ticket."""

    id: int
    script_id: int | None
    ticket_id: int | None
    parameters: Mapping[str, Any] | None  # execution_parameters (None: Halo sent none)
    processed: bool
    requeued: bool

    @property
    def label(self) -> str:
        ticket = f" for ticket {self.ticket_id}" if self.ticket_id is not None else ""
        return f"queued run {self.id}{ticket}"


def bare_name(name: Any) -> str:
    """A parameter name as a person may type it in Halo ("$TicketId", "-TicketId") -> "TicketId"."""
    text = str(name or "").strip()
    return text[1:].strip() if text[:1] in ("$", "-") else text


def script_from(record: Mapping[str, Any], criteria: list[Mapping[str, Any]] | None = None) -> Script:
    """A Script from Halo's record; ``criteria`` when read apart, else the record's fieldmappings."""
    rows = criteria if criteria is not None else record.get("fieldmappings_powershell") or []
    names = tuple(bare_name(row.get("parametername")) for row in rows
                  if isinstance(row, Mapping) and bare_name(row.get("parametername")))
    return Script(
        id=as_id(record.get("id")) or 0,
        name=str(record.get("name") or "").strip(),
        location=str(record.get("location") or "").strip(),
        use_seven=bool(as_bool(record.get("usepowershellseven"))),
        result_string=str(record.get("resultstring") or ""),
        partial_match=bool(as_bool(record.get("resultpartialmatch"))),
        result_status=as_id(record.get("resultstatus")),
        failed_status=as_id(record.get("resultfailedstatus")),
        parameters=names,
        record=dict(record),
    )


def entry_from(record: Mapping[str, Any]) -> QueueEntry | None:
    """A QueueEntry, or None for a record without a usable id (it cannot be answered)."""
    entry_id = as_id(record.get("id"))
    if entry_id is None or entry_id <= 0:
        return None
    parameters = record.get("execution_parameters")
    return QueueEntry(
        id=entry_id,
        script_id=as_id(record.get("pssid")),
        ticket_id=as_id(record.get("faultid")),
        parameters=parameters if isinstance(parameters, Mapping) else None,
        processed=bool(as_bool(record.get("processed"))),
        requeued=bool(as_bool(record.get("requeued"))),
    )


# ---- parameters ----------------------------------------------------------------------------------

def valid_parameter_name(name: str) -> bool:
    """A name PowerShell binds from ``-Name:`` on its command line: a letter or _, then word characters.

    Both hosts read ``-File`` arguments as ``-<name>:`` + value; Windows PowerShell only when the name
    matches .NET's ``\\w+`` (letters, combining marks, digits, connector punctuation).
    """
    if not name or len(name) > MAX_PARAMETER_NAME:
        return False
    first, rest = name[0], name[1:]
    if not (first == "_" or unicodedata.category(first).startswith("L")):
        return False
    return all(_is_word_char(char) for char in rest)


def _is_word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category.startswith("L") or category in ("Mn", "Nd", "Pc")


def parameter_text(value: Any) -> str:
    """A value from execution_parameters as the text the script receives (every -File argument is text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def script_arguments(script: Script, entry: QueueEntry) -> list[tuple[str, str]]:
    """(parameter name as the script declares it, value text) for each execution parameter.

    Raises EntryRefused for a parameter the script's criteria do not map (it would reach the script as
    something it does not expect), an invalid name, or the same name twice.
    """
    declared = {name.casefold(): name for name in script.parameters}
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw_name, value in (entry.parameters or {}).items():
        name = bare_name(raw_name)
        if not valid_parameter_name(name):
            raise EntryRefused(f"Halo sent a parameter named {_shown(raw_name)}, which is not a valid PowerShell "
                               "parameter name (a letter or _, then letters, digits or _).")
        key = name.casefold()
        if key not in declared:
            mapped = ", ".join(script.parameters) or "none"
            raise EntryRefused(f"Halo sent the parameter {_shown(name)}, which the script's parameter mappings "
                               f"in Halo do not declare (declared: {mapped}). Add it to the script's mappings "
                               "in Halo, then queue the script again.")
        if key in seen:
            raise EntryRefused(f"Halo sent the parameter {_shown(name)} twice.")
        seen.add(key)
        pairs.append((declared[key], parameter_text(value)))
    return pairs


def _shown(name: Any) -> str:
    text = str(name)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def invalid_parameter_names(script: Script) -> list[str]:
    """The script's mapped parameter names PowerShell cannot bind, and names mapped twice."""
    problems, seen = [], set()
    for name in script.parameters:
        if not valid_parameter_name(name):
            problems.append(f"{_shown(name)} is not a valid PowerShell parameter name")
        elif name.casefold() in seen:
            problems.append(f"{_shown(name)} is mapped twice")
        seen.add(name.casefold())
    return problems


# ---- outcomes ------------------------------------------------------------------------------------

def outcome_record(entry_id: int, success: bool, message: str) -> dict[str, Any]:
    """The PowerShellScriptProcessing update that tells Halo how a queued run ended."""
    return {"id": int(entry_id), "processed": True, "success": bool(success), "result_message": message}


def ticket_status_change(script: Script, entry: QueueEntry, success: bool) -> dict[str, Any] | None:
    """The Tickets update for ``resultstatus`` / ``resultfailedstatus``, or None when none is set.

    Not posted by default: the queue record alone tells Halo the outcome, and Halo holds both statuses
    on the script (the processing record's ``failactionadded`` suggests Halo acts on outcomes itself).
    Offered for the lead to post (POST /Tickets [{id, status_id}]) if a real Halo proves it does not.
    """
    status = script.result_status if success else script.failed_status
    if status is None or status <= 0 or entry.ticket_id is None:
        return None
    return {"id": entry.ticket_id, "status_id": status}
