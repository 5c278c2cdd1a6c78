"""The benchmark keeps working: its pure parts, and the 1,000-user size of both sources (marker ``bench``).

The 1,000-user runs assert request counts, which are deterministic, and never wall times.
"""

from __future__ import annotations

import pytest

from bench.ldap_relay import split_messages
from bench.measure import count_requests, hosted_budget_time, simple_budget_time
from bench.targets import all_targets

USERS = 1000


# ---- pure parts -----------------------------------------------------------------------------------

def test_hosted_budget_lets_the_first_300_requests_through_at_once():
    assert hosted_budget_time([0.1 * n for n in range(300)], 0.0, wall=31.0) == 31.0


def test_hosted_budget_makes_request_301_wait_for_the_oldest_to_leave_the_window():
    times = [0.0] * 300 + [1.0]
    assert hosted_budget_time(times, 0.0, wall=2.0) == pytest.approx(2.0 + 299.0)


def test_hosted_budget_delays_every_later_request_by_the_wait():
    # 600 requests one second apart: the window never holds more than 300, so nothing waits.
    assert hosted_budget_time([float(n) for n in range(600)], 0.0, wall=600.0) == 600.0
    # 900 requests at once: two waits of a whole window.
    assert hosted_budget_time([0.0] * 900, 0.0, wall=1.0) == pytest.approx(601.0)


def test_simple_budget_formula():
    assert simple_budget_time(900, wall=1.0) == 600.0
    assert simple_budget_time(10, wall=1.0) == 1.0


def test_count_requests_splits_writes_by_what_they_write():
    entries = [
        {"kind": "token", "path": "/auth/token", "time": 2.0},
        {"kind": "other", "path": "/api/AuthInfo", "time": 1.0},
        {"kind": "read", "path": "/api/Users", "time": 3.0},
        {"kind": "write", "path": "/api/Users", "records": 100, "time": 4.0},
        {"kind": "write", "path": "/api/LDAPConnection", "records": 1, "time": 5.0},
        {"kind": "write", "path": "/api/IntegrationError", "records": 1, "time": 6.0},
    ]
    counted = count_requests(entries)
    assert (counted.read, counted.write, counted.token, counted.other, counted.total) == (1, 3, 1, 1, 6)
    assert (counted.data_writes, counted.writeback_writes, counted.error_writes) == (1, 1, 1)
    assert counted.records_written == 102
    assert counted.times == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_split_messages_names_each_complete_ldap_operation_and_keeps_the_rest():
    bind = bytes([0x30, 0x0C, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00])
    # a search whose length uses the long form (0x81 nn)
    search_body = bytes([0x02, 0x01, 0x02, 0x63, 0x03, 0x04, 0x01, 0x41]) + bytes(130)
    search = bytes([0x30, 0x81, len(search_body)]) + search_body
    unbind = bytes([0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00])
    buffer = bytearray(bind + search + unbind[:3])
    assert split_messages(buffer) == [0x60, 0x63]
    assert bytes(buffer) == unbind[:3]
    buffer += unbind[3:]
    assert split_messages(buffer) == [0x42]
    assert not buffer


def test_targets_say_missed_when_a_run_exceeds_them():
    run = {"runner": "auto", "scenario": "unchanged", "exit_code": 0, "peak_rss_mb": 10.0,
           "halo": {"total": 40, "read": 30, "data_writes": 1, "writeback_writes": 1}}
    statuses = {item["target"]: item["status"] for item in all_targets(
        [{"source": "azure", "users": 10000, "runs": [run]}], [])}
    assert statuses["unchanged: record writes"] == "MISSED"
    assert statuses["unchanged: Halo requests"] == "MISSED"  # 40 > ceil(10000 / 1000) + 10


def test_targets_count_reads_by_id_in_steady_state_and_creates_after_a_lost_status():
    runs = [{"runner": "auto", "scenario": "changed", "exit_code": 0, "peak_rss_mb": 10.0,
             "halo": {"total": 15, "read": 12, "data_writes": 1, "writeback_writes": 1, "reads_by_id": 3}},
            {"runner": "auto", "scenario": "lost", "exit_code": 0, "peak_rss_mb": 10.0, "changes": {"user create": 2},
             "halo": {"total": 15, "read": 12, "data_writes": 1, "writeback_writes": 1, "reads_by_id": 0}}]
    statuses = {item["target"]: item["status"] for item in all_targets(
        [{"source": "ldap", "users": 10000, "runs": runs, "changed_users": 100}], [])}
    assert statuses["changed: reads by id"] == "MISSED"
    assert statuses["status lost: records created"] == "MISSED"


def test_count_requests_counts_whole_record_reads():
    counted = count_requests([{"kind": "read", "method": "GET", "path": "/api/Users/12"},
                              {"kind": "read", "method": "GET", "path": "/api/Users"}])
    assert counted.reads_by_id == 1


# ---- the 1,000-user size, end to end ----------------------------------------------------------------

@pytest.fixture(scope="module", params=["azure", "ldap"])
def outcome(request):
    from bench.harness import bench_one

    result = bench_one(request.param, USERS, naive=True, timeout=300, say=lambda text: None)
    if result.get("not_available"):
        pytest.skip(f"{request.param}: {result['not_available']}")
    return result


def runs_of(outcome, runner):
    return {run["scenario"]: run for run in outcome["runs"] if run["runner"] == runner}


@pytest.mark.bench
def test_every_run_succeeded(outcome):
    assert [(run["runner"], run["scenario"], run["exit_code"], run.get("error")) for run in outcome["runs"]] == [
        (runner, scenario, 0, None) for scenario in ("first", "unchanged", "changed") for runner in ("auto", "naive")
    ] + [("auto", "lost", 0, None)]


@pytest.mark.bench
def test_auto_meets_the_request_targets(outcome):
    auto = runs_of(outcome, "auto")
    assert auto["first"]["halo"]["total"] <= 10 + 1 + 10  # ceil(1000/batch 100) + ceil(1000/page 1000) + 10
    assert auto["unchanged"]["halo"]["data_writes"] == 0
    assert auto["unchanged"]["halo"]["total"] <= 1 + 10
    assert auto["changed"]["halo"]["data_writes"] <= 2
    assert auto["unchanged"]["halo"]["reads_by_id"] == auto["changed"]["halo"]["reads_by_id"] == 0
    assert not any(name.endswith(" create") for name in auto["lost"]["changes"])
    assert [item for item in all_targets([outcome], []) if item["status"] == "MISSED"] == []


@pytest.mark.bench
def test_auto_wrote_what_the_scenarios_changed(outcome):
    auto = runs_of(outcome, "auto")
    assert auto["first"]["changes"]["create"] == USERS
    assert auto["first"]["halo"]["records_written"] == USERS + 1  # the users and the Last Sync write-back
    assert sum(auto["unchanged"]["changes"].values()) == 0
    assert auto["changed"]["changes"]["update"] == outcome["changed_users"] == USERS // 100


@pytest.mark.bench
def test_the_naive_baseline_costs_a_request_per_user(outcome):
    naive = runs_of(outcome, "naive")
    # a search per person, and a read by id of each one found (list items are lean)
    assert [naive[s]["halo"]["read"] for s in ("first", "unchanged", "changed")] == [USERS, 2 * USERS, 2 * USERS]
    assert [naive[s]["halo"]["data_writes"] for s in ("first", "unchanged", "changed")] == [USERS, 0, USERS // 100]
    assert naive["first"]["hosted_s"] > 300  # past the hosted budget: 2,001 requests cannot fit one window


@pytest.mark.bench
def test_the_source_was_read_and_counted(outcome):
    for run in outcome["runs"]:
        assert run["source_requests"] > 0, run
