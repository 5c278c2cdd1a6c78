"""The benchmark's Graph requests figure for Entra runs (bench/measure.py graph_requests)."""

from __future__ import annotations

import pytest

from bench.measure import graph_requests


def test_graph_requests_are_totalled_by_kind():
    counted = graph_requests({"token": 1, "delta": 2, "user": 3, "groups": 3, "members": 9, "odd": 1})
    assert counted["total"] == 19 and counted["delta"] == 2 and counted["user"] == 3 and counted["other"] == 1
    assert counted["users"] == 0 and counted["device"] == 0


@pytest.mark.bench
def test_an_entra_delta_run_reports_its_graph_requests():
    from bench.harness import bench_one

    outcome = bench_one("azure", 1000, naive=False, timeout=300, say=lambda text: None)
    runs = {run["scenario"]: run["graph_requests"] for run in outcome["runs"]}
    assert all(counted["total"] == run["source_requests"] for counted, run in zip(runs.values(), outcome["runs"]))
    assert runs["first"]["users"] >= 1 and runs["first"]["delta"] == 1  # full read, then $deltatoken=latest
    assert runs["changed"]["users"] == 0 and runs["changed"]["delta"] >= 1
    assert runs["changed"]["user"] == 0  # 1% job titles changed: partial items of owned users need no read by id
