"""An in-memory Halo with the HaloClient methods the core uses (``get``, ``list``, ``post``), recording each call.

It answers as the sandbox does (tests/test_fake_halo.py holds it to that): a list item of /Users,
/Asset or /Site carries only its ``*_List`` schema's fields (``list_shape="whole"`` for records that
show everything), ``get("Users/5")`` is the whole record, a posted record with an ``id`` is a partial
update and one without is created with the next free id. Tests make it refuse records (``reject``: a
400 naming the record, the whole request refused, as Halo refuses a request) or fail whole requests
(``fail``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from halointegrator.errors import HaloError
from sandbox.halo_server import load_subset
from sandbox.halo_store import RESOURCES
from sandbox.halo_strict import DEFAULT_SUBSET_PATH

INACTIVE_BY_DEFAULT_FALSE = {"users", "client", "site", "asset"}  # what Halo (and the sandbox) creates active
SCHEMA_OF_PATH = {resource.path.strip("/").casefold(): resource.schema for resource in RESOURCES}


@dataclass(frozen=True)
class Call:
    method: str  # "list", "get" or "post"
    path: str
    payloads: tuple = ()
    idempotent: bool | None = None
    params: tuple = ()


class FakeHalo:
    """Halo's records by resource path (case-insensitive, like Halo's routes)."""

    def __init__(
        self,
        records: dict[str, list[dict]] | None = None,
        *,
        reject: Callable[[str, dict], str | None] | None = None,
        fail: Callable[[str, list[dict]], Exception | None] | None = None,
        first_new_id: int = 1000,
        list_shape: str = "lean",
    ) -> None:
        self.tables: dict[str, dict[Any, dict]] = {}
        for path, rows in (records or {}).items():
            table = self._table(path)
            for row in rows:
                table[row["id"]] = copy.deepcopy(row)
        self.reject = reject  # (path, payload) -> the 400 message for a record Halo refuses, or None
        self.fail = fail  # (path, payloads) -> an exception for the whole request, or None
        self.list_shape = list_shape
        known_ids = [key for table in self.tables.values() for key in table if isinstance(key, int)]
        self.next_id = max([first_new_id] + [key + 1 for key in known_ids])
        self.calls: list[Call] = []

    def list(
        self, path: str, key: str | None = None, params: dict | None = None, page_size: int | None = None
    ) -> list[dict]:
        self.calls.append(Call("list", path, params=tuple(sorted((params or {}).items()))))
        return [self._listed(path, row) for _, row in sorted(self._table(path).items())]

    def get(self, path: str, params: dict | None = None) -> Any:
        self.calls.append(Call("get", path, params=tuple(sorted((params or {}).items()))))
        head, _, last = path.strip("/").rpartition("/")
        if head and last.isdigit():
            table = self._table(head)
            if int(last) not in table:
                raise HaloError(f"Halo answered HTTP 404: {head} {last} not found", status=404)
            return copy.deepcopy(table[int(last)])
        return [self._listed(path, row) for _, row in sorted(self._table(path).items())]

    def post(self, path: str, payloads: list[dict], *, idempotent: bool = False) -> list[dict]:
        self.calls.append(Call("post", path, tuple(copy.deepcopy(payloads)), idempotent))
        failure = self.fail(path, payloads) if self.fail else None
        if failure is not None:
            raise failure
        table, creates_active = self._table(path), path.strip("/").casefold() in INACTIVE_BY_DEFAULT_FALSE
        for payload in payloads:
            message = self.reject(path, payload) if self.reject else None
            if message:
                raise HaloError(f"Halo refused the request to /api/{path} (400): {message}", status=400)
            if "id" in payload and payload["id"] not in table:
                raise HaloError(f"Halo refused the request to /api/{path} (404): no record {payload['id']}", status=404)
        return [copy.deepcopy(self._write(table, payload, creates_active)) for payload in payloads]

    # What the tests look at.

    @property
    def posts(self) -> list[Call]:
        return [call for call in self.calls if call.method == "post"]

    @property
    def reads_by_id(self) -> list[Call]:
        return [call for call in self.calls if call.method == "get" and call.path.rpartition("/")[2].isdigit()]

    def records(self, path: str) -> list[dict]:
        return [copy.deepcopy(row) for _, row in sorted(self._table(path).items())]

    def record(self, path: str, halo_id: Any) -> dict:
        return copy.deepcopy(self._table(path)[halo_id])

    def _listed(self, path: str, row: dict) -> dict:
        schema = SCHEMA_OF_PATH.get(path.strip("/").casefold())
        fields = load_subset(str(DEFAULT_SUBSET_PATH)).list_fields.get(schema) if schema else None
        if self.list_shape != "lean" or not fields:
            return copy.deepcopy(row)
        return {name: copy.deepcopy(value) for name, value in row.items() if name in fields}

    def _table(self, path: str) -> dict[Any, dict]:
        return self.tables.setdefault(path.strip("/").casefold(), {})

    def _write(self, table: dict[Any, dict], payload: dict, creates_active: bool) -> dict:
        if "id" in payload:
            table[payload["id"]].update(copy.deepcopy(payload))
            return table[payload["id"]]
        row = {**({"inactive": False} if creates_active else {}), **copy.deepcopy(payload), "id": self.next_id}
        self.next_id += 1
        table[row["id"]] = row
        return row
