"""Reading Halo's PowerShell scripts, their parameter mappings and the queue (reads only).

- ``GET /PowerShellScript`` (no paging parameters in the document: one GET), then each script whole
  by ``GET /PowerShellScript/{id}?includedetails=true`` (a list item may be lean, as Users_List is).
- Parameter mappings from the whole record's ``fieldmappings_powershell``; when Halo leaves that out,
  ``GET /PowerShellScriptCriteria?script_id=N``.
- The queue: ``GET /PowerShellScriptProcessing?outstandingonly=true&includeparameters=true`` (and
  ``script_id`` for one script), paged. The document names no envelope key for this list, so the
  reader takes a bare array, or the envelope's one list of records (``records`` first).
  Entries Halo sends although they are processed or of another script are dropped here, so a Halo
  that ignores a filter never makes a processed entry run.
"""

from __future__ import annotations

from typing import Any, Mapping

from halointegrator.errors import HaloError
from halointegrator.values import as_id
from integrations.powershell.records import QueueEntry, Script, entry_from, script_from

SCRIPT_PATH = "PowerShellScript"
CRITERIA_PATH = "PowerShellScriptCriteria"
QUEUE_PATH = "PowerShellScriptProcessing"
QUEUE_PAGE_SIZE = 100
QUEUE_KEYS = ("records", "powershellscriptprocessing", "processing")  # tried first; the document names none


def list_script_records(halo: Any) -> list[dict]:
    """Every PowerShellScript, each read whole by id."""
    return [record for row in listed_scripts(halo) if (record := script_details(halo, row)) is not None]


def script_details(halo: Any, row: dict) -> dict:
    """One listed script whole (the core asks only for scripts this Integrator may run); as listed when
    Halo no longer has it."""
    return read_script_record(halo, as_id(row["id"]) or 0) or row


def listed_scripts(halo: Any) -> list[dict]:
    """The items of ``GET /PowerShellScript`` (one GET, as listed), those with a usable id."""
    answer = halo.get(SCRIPT_PATH)
    rows = answer if isinstance(answer, list) else _records_in(answer, SCRIPT_PATH, ("scripts", "records"))
    return [row for row in rows if isinstance(row, dict) and (as_id(row.get("id")) or 0) > 0]


def read_script_record(halo: Any, script_id: int) -> dict | None:
    """One PowerShellScript whole, or None when Halo has no script with that id (404)."""
    try:
        record = halo.get(f"{SCRIPT_PATH}/{int(script_id)}", {"includedetails": "true"})
    except HaloError as error:
        if error.status == 404:
            return None
        raise
    return record if isinstance(record, dict) and as_id(record.get("id")) == int(script_id) else None


def read_criteria(halo: Any, script_id: int) -> list[dict]:
    answer = halo.get(CRITERIA_PATH, {"script_id": int(script_id)})
    rows = answer if isinstance(answer, list) else _records_in(answer, CRITERIA_PATH, ("records", "criteria"))
    return [row for row in rows if as_id(row.get("pssid")) in (None, int(script_id))]


def load_script(halo: Any, record: Mapping[str, Any]) -> Script:
    """A Script with its parameter mappings, read apart when the record does not carry them."""
    if isinstance(record.get("fieldmappings_powershell"), list):
        return script_from(record)
    return script_from(record, read_criteria(halo, as_id(record.get("id")) or 0))


def read_queue(halo: Any, script_id: int | None = None, *, parameters: bool = True) -> list[QueueEntry]:
    """The outstanding (unprocessed) queue entries, of one script or all, oldest first.

    ``parameters=False`` leaves the ticket values out (the whole queue read for counting, or for runs of
    scripts Halo no longer has, needs none of other scripts' values).
    """
    params: dict[str, Any] = {"outstandingonly": "true"}
    if parameters:
        params["includeparameters"] = "true"
    if script_id is not None:
        params["script_id"] = int(script_id)
    first = halo.get(QUEUE_PATH, {**params, "pageinate": "true", "page_size": QUEUE_PAGE_SIZE, "page_no": 1})
    if isinstance(first, list):
        rows = first
    else:
        key, rows = _queue_page(first)
        count = as_id(first.get("record_count")) if isinstance(first, dict) else None
        if key and count is not None and count > len(rows):
            rows = halo.list(QUEUE_PATH, key, params, QUEUE_PAGE_SIZE)
    entries = [entry for entry in map(entry_from, _dicts(rows)) if entry is not None and not entry.processed]
    if script_id is not None:
        entries = [entry for entry in entries if entry.script_id == int(script_id)]
    return sorted({entry.id: entry for entry in entries}.values(), key=lambda entry: entry.id)


def read_entry(halo: Any, entry_id: int) -> QueueEntry | None:
    """One queue entry by id, or None when Halo no longer has it (404)."""
    try:
        record = halo.get(f"{QUEUE_PATH}/{int(entry_id)}")
    except HaloError as error:
        if error.status == 404:
            return None
        raise
    return entry_from(record) if isinstance(record, dict) else None


def _queue_page(answer: Any) -> tuple[str | None, list]:
    if not isinstance(answer, dict):
        raise HaloError(f"Reading {QUEUE_PATH} from Halo failed: the answer is not a list of queued runs.")
    key = next((name for name in QUEUE_KEYS if isinstance(answer.get(name), list)), None)
    if key is None:
        lists = [name for name, value in answer.items() if isinstance(value, list)]
        if len(lists) > 1 or (not lists and as_id(answer.get("record_count")) not in (None, 0)):
            raise HaloError(f"Reading {QUEUE_PATH} from Halo failed: cannot tell which list holds the queued runs "
                            f"(the answer has: {', '.join(sorted(map(str, answer))[:10])}).")
        key = lists[0] if lists else None
    return key, (answer.get(key) or []) if key else []


def _records_in(answer: Any, path: str, keys: tuple[str, ...]) -> list:
    if isinstance(answer, dict):
        for key in keys:
            if isinstance(answer.get(key), list):
                return answer[key]
    if answer in (None, {}):
        return []
    raise HaloError(f"Reading {path} from Halo failed: the answer is not a list of records.")


def _dicts(rows: Any) -> list[dict]:
    if not isinstance(rows, list):
        raise HaloError(f"Reading {QUEUE_PATH} from Halo failed: the answer is not a list of queued runs.")
    return [row for row in rows if isinstance(row, dict)]
