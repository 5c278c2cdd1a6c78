"""Reading a paged Halo list completely, or not at all.

A list that silently stops early would make the engine create duplicates of the records it did not
see, so every inconsistency (a failed page, a page that repeats, fewer records than Halo counted)
raises instead of returning what was read so far.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from halointegrator.errors import HaloError

log = logging.getLogger(__name__)

MAX_PAGES = 100_000  # a paging loop that never ends is a server fault, not a big tenant


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
        for page_no in range(1, MAX_PAGES + 1):
            page, count = self._page(page_no)
            record_count = count if count is not None else record_count
            if not page:
                break
            signature = _signature(page)
            if signature in seen_pages:
                raise self._error(f"page {page_no} repeats an earlier page, so Halo's paging is not working")
            seen_pages.add(signature)
            _add_new(records, seen_ids, page)
            log.debug("%s: page %d, %d records so far", self.path, page_no, len(records))
            if record_count is not None and len(records) >= record_count:
                break
            if record_count is None and len(page) != self.page_size:
                break  # short page: the last one; longer: Halo ignored paging and sent everything
        else:
            raise self._error(f"it still had more after {MAX_PAGES} pages")
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
