"""Bugs the contract suite (tests/test_contract.py) found, each a failing test marked xfail(strict=True).

When a bug is fixed its test passes, strict xfail fails the suite, and the test moves to the file of what it
checks without its mark.
"""

from __future__ import annotations

import re

import pytest

from halointegrator.errors import SourceError
from integrations.sql import odbc
from integrations.sql.declarations import SQL_IMPORT_INTEGRATION
from tests.contract_standins import DroppingCursor
from tests.core_helpers import context_for
from tests.fake_halo import FakeHalo
from tests.sql_helpers import ASSET_TYPES, SITES, USERS, connection_fields


@pytest.mark.postgres
@pytest.mark.xfail(strict=True, reason=(
    "A connection lost while the rows are read (SQLSTATE 08S01 on fetch) is reported as 'The database server does "
    "not answer ... check the server name and port in Halo', sending the admin to settings that are right: "
    "integrations/sql/odbc.py explain() reads every 08 state as a failure to connect, and the sentence does not "
    "say that nothing was imported. It should say the connection was lost during the read."))
def test_a_connection_lost_part_way_through_the_rows_is_not_called_a_server_that_does_not_answer(
        postgres, monkeypatch) -> None:
    record = {"id": 30, "name": "Numbers", "table": "Device", "integrator_enabled": True,
              **connection_fields(postgres), "keyfield": "n", "defaultsite": 1,
              "sql": "SELECT n FROM generate_series(1, 500) AS n"}
    real_enter = odbc.RowStream.__enter__

    def enter(stream):
        opened = real_enter(stream)
        stream._cursor = DroppingCursor(stream._cursor)  # 50 rows arrive, then the connection drops
        return opened

    monkeypatch.setattr(odbc.RowStream, "__enter__", enter)
    ctx = context_for(FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES, "Users": USERS}),
                      local={"default_asset_type": "Laptop"})
    with pytest.raises(SourceError) as raised:
        SQL_IMPORT_INTEGRATION.read(ctx, record)
    message = str(raised.value)
    assert "does not answer" not in message and "check the server name and port" not in message
    assert re.search(r"nothing was (imported|written|changed)", message), message

