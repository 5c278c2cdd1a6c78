"""A real PostgreSQL for the SQL import tests, reached through unixODBC and the PostgreSQL ODBC driver.

Import the fixture into a test module (``from tests.fixtures_database import postgres``). Where
PostgreSQL or the driver is missing the tests are skipped with the reason, except on CI (env CI set),
where that is a failure, as for the directory servers.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from sandbox.database import DatabaseHandle, DatabaseUnavailable, postgres_available, start_postgres
from tests.fixtures_directory import unavailable

_RUNNING: dict[str, DatabaseHandle] = {}


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[DatabaseHandle]:
    """PostgreSQL seeded with 3,000 Lansweeper-like assets, 1,500 SCCM machines and 400 people; shared:
    tests must not change its data (halo_audit aside, which the write tests count)."""
    if reason := postgres_available():
        unavailable(reason)
    if "postgres" not in _RUNNING:
        try:
            _RUNNING["postgres"] = start_postgres(tmp_path_factory.mktemp("postgres"))
        except DatabaseUnavailable as error:
            unavailable(str(error))
    yield _RUNNING["postgres"]
    handle = _RUNNING.pop("postgres", None)
    if handle is not None:
        handle.stop()
