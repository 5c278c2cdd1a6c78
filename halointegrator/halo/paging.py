"""Reading a paged Halo list completely, or not at all.

A list that silently stops early would make the engine create duplicates of the records it did not
see, so every inconsistency (a failed page, a page that repeats, fewer records than Halo counted)
raises instead of returning what was read so far.

A list that never ends must not eat the machine either: where Halo counts its records
(``record_count``), the pages may hold that many and one page more (records added while reading);
where it does not, ``max_list_records`` (a local setting) is the ceiling; and the answers of one list
may not add up to more than ``MAX_LIST_BYTES``. Past any of these the read fails, and nothing is used.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from halointegrator.errors import HaloError

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORDS = 200_000  # HaloSettings.max_list_records, for clients without settings
MAX_LIST_BYTES = 256 << 20  # the JSON of 200,000 lean users is about 150 MB


class PageReader:
    """``pageinate=true&page_size=N&page_no=k`` from k=1 until Halo's ``record_count`` or an empty page."""

    def __init__(self, client: Any, path: str, key: str | None, params: dict, page_size: int):
        self.client = client  # anything with get(path, params)
        self.path = path
        self.key = key
        self.params = params
        self.page_size = max(1, int(page_size))

    def read_all(self) -> list[dict]:
        records: list[dict] = []
        seen_ids: set[Any] = set()
        seen_pages: set[str] = set()
        record_count: int | None = None
        bounds = _Bounds(self.page_size, _max_records(self.client))
        page_no = 0
        while True:
            page_no += 1
            page, count = self._page(page_no)
            record_count = count if count is not None else record_count
            bounds.add_answer(getattr(self.client, "last_answer_bytes", 0), count)
            if not page:
                break
            signature = _signature(page)
            if signature in seen_pages:
                raise self._error(f"page {page_no} repeats an earlier page, so Halo's paging is not working")
            seen_pages.add(signature)
            _add_new(records, seen_ids, page)
            problem = bounds.problem(page_no, len(records))
            if problem:
                raise self._error(problem)
            log.debug("%s: page %d, %d records so far", self.path, page_no, len(records))
            if record_count is not None and len(records) >= record_count:
                break
            if record_count is None and len(page) != self.page_size:
                break  # short page: the last one; longer: Halo ignored paging and sent everything
        if record_count is not None and len(records) < record_count:
            raise self._error(
                f"Halo counted {record_count} records but the pages held {len(records)} different ones "
                "(records may have changed while they were read)"
            )
        return records

    def _page(self, page_no: int) -> tuple[list[dict], int | None]:
        params = {**self.params, "pageinate": "true", "page_size": self.page_size, "page_no": page_no}
        data = self.client.get(self.path, params)
        if isinstance(data, list):
            return self._records(data), None
        if not isinstance(data, dict):
            raise self._error(f"page {page_no} is not a list of records")
        count = _count(data.get("record_count"))
        items = data.get(self.key) if self.key else None
        if items is None:
            if count == 0:
                return [], 0
            expected = f"'{self.key}' list" if self.key else "list of records"
            raise self._error(f"page {page_no} has no {expected} (it has: {', '.join(sorted(map(str, data))[:10])})")
        return self._records(items), count

    def _records(self, items: Any) -> list[dict]:
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise self._error("a page holds something other than records")
        return items

    def _error(self, why: str) -> HaloError:
        return HaloError(
            f"Reading {self.path} from Halo failed: {why}. The incomplete list was not used; try again."
        )


class _Bounds:
    """How far one list may go: the first record_count Halo gave (plus a page), else the ceiling."""

    def __init__(self, page_size: int, ceiling: int) -> None:
        self.page_size, self.ceiling = page_size, ceiling
        self.first_count: int | None = None
        self.bytes = 0

    def add_answer(self, size: int, count: int | None) -> None:
        self.bytes += int(size or 0)
        if self.first_count is None and count is not None:
            self.first_count = count

    def problem(self, page_no: int, records: int) -> str:
        """Why the read must stop after this page ("" while it may go on)."""
        if self.bytes > MAX_LIST_BYTES:
            return (f"its pages added up to more than {MAX_LIST_BYTES >> 20} MB after {page_no} pages, more than "
                    "a list of Halo records takes; a proxy or a fault in Halo may be sending it")
        if self.first_count is not None and self.first_count <= self.ceiling:
            allowed = self.first_count + self.page_size
            if records > allowed or page_no > -(-allowed // self.page_size) + 1:
                return (f"Halo counted {self.first_count} records, but kept sending pages of new ones ({records} "
                        f"records in {page_no} pages), so its paging is not working")
        elif records > self.ceiling or page_no > -(-self.ceiling // self.page_size) + 1:
            counted = f"counted {self.first_count} records" if self.first_count is not None else "did not say how many"
            return (f"Halo {counted}, and kept sending pages ({records} records in {page_no} pages) past "
                    f"{self.ceiling} records, the most one list may hold "
                    f"(setting max_list_records). If your Halo really holds more, raise it: CONFIGURE --set "
                    f"max_list_records=N; otherwise Halo's paging is not working")
        return ""


def _max_records(client: Any) -> int:
    value = getattr(getattr(client, "settings", None), "max_list_records", None)
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_MAX_RECORDS


def _add_new(records: list[dict], seen_ids: set[Any], page: list[dict]) -> None:
    for record in page:
        record_id = record.get("id")
        if isinstance(record_id, (dict, list)):  # not an id Halo sends, but it must not break the read
            record_id = json.dumps(record_id, sort_keys=True, default=str)
        if record_id is not None:
            if record_id in seen_ids:
                continue
            seen_ids.add(record_id)
        records.append(record)


def _signature(page: list[dict]) -> str:
    ids = [record.get("id") for record in page]
    if all(record_id is not None for record_id in ids):
        return json.dumps(ids, default=str)
    return json.dumps(page, sort_keys=True, default=str)


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
