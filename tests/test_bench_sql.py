"""The benchmark's SQL source at its 1,000-row size (markers ``bench`` and ``postgres``, about 10 s): an SQL
import of 1,000 rows from PostgreSQL through the sandbox Halo; request counts, which are deterministic."""

from __future__ import annotations

import pytest

from bench.measure import ceil_div
from bench.sources import BATCH

ROWS = 1000
pytestmark = [pytest.mark.bench, pytest.mark.postgres]


@pytest.fixture(scope="module")
def outcome():
    from bench.harness import bench_one

    result = bench_one("sql", ROWS, naive=True, timeout=300, say=lambda text: None)
    if result.get("not_available"):
        pytest.skip(f"sql: {result['not_available']}")
    return result


def runs(outcome):
    return {run["scenario"]: run for run in outcome["runs"]}


def test_every_run_succeeded_and_there_is_no_naive_baseline(outcome):
    assert [(run["runner"], run["scenario"], run["exit_code"]) for run in outcome["runs"]] == [
        ("auto", scenario, 0) for scenario in ("first", "unchanged", "changed", "lost")]


def test_the_writes_are_batched_and_an_unchanged_resync_writes_nothing(outcome):
    by = runs(outcome)
    assert by["first"]["halo"]["data_writes"] == ceil_div(ROWS, BATCH)
    assert by["first"]["changes"]["create"] == ROWS
    assert by["unchanged"]["halo"]["data_writes"] == 0 and sum(by["unchanged"]["changes"].values()) == 0
    assert by["changed"]["halo"]["data_writes"] == 1 and by["changed"]["changes"]["update"] == outcome["changed_users"]
    assert all(run["halo"]["writeback_writes"] == 1 for run in outcome["runs"])  # Last Sync on the SQLImport


def test_a_lost_state_file_creates_nothing_and_rewrites_nothing_the_list_shows(outcome):
    lost = runs(outcome)["lost"]
    # Every field this import writes is in Device_List (asset fields with includeassetfields=true), so the
    # assets are found by key_field and compared with the list itself: nothing to rewrite.
    assert lost["changes"].get("create", 0) == 0 and lost["halo"]["data_writes"] == 0


def test_the_reads_are_the_lists_once_whatever_changed(outcome):
    by = runs(outcome)
    reads = {scenario: run["halo"]["read"] for scenario, run in by.items()}
    assert len(set(reads.values())) == 1, reads  # no read by id, whatever changed or was lost
    # Beyond the asset list (one page here), only fixed reads: InstanceInfo, the discovery of every registered
    # integration (two for SQL imports: the list and the one import's details), the sites and the asset types.
    assert reads["unchanged"] - ceil_div(ROWS, 1000) <= 14


def test_the_database_read_is_measured(outcome):
    for run in outcome["runs"]:
        assert run["source_read"]["rows"] == ROWS and run["source_read"]["rows_per_s"] > 0, run
