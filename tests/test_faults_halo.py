"""Halo misbehaving while `integrator.py AUTO` syncs Entra ID into it: throttling storms, random 500s, slow
answers, resets, a token revoked mid-run, a proxy's HTML page, truncated JSON, one refused record.

Each case checks the exit code, the Last Error written back to Halo, the log, and what Halo holds after
the run and after a clean run that follows (which must equal one clean run: nothing lost, nothing twice).
"""

from __future__ import annotations

import random
import re
import time

import pytest
import requests
import responses

from halointegrator.http import RetryPolicy
from tests.e2e_world import RequestHooks, World, duplicates

USERS, ASSETS = 60, 12


def recovers(world: World, clean: dict) -> None:
    """Faults off: the next run succeeds and leaves exactly what one clean run leaves."""
    world.halo.faults.clear()
    result = world.auto()
    assert result.returncode == 0, world.log()
    assert world.last_error() == ""
    assert world.snapshot() == clean


def no_traceback(world: World) -> None:
    log = world.run_log()
    assert "Traceback" not in log and "Internal error" not in log


def test_a_storm_of_30_throttled_answers_is_ridden_out(graph_world, clean_graph_snapshot):
    world = graph_world
    world.halo.faults.fail_next(30, status=429, path_prefix="/api/", retry_after=0)
    started = time.monotonic()
    result = world.auto()
    assert result.returncode == 0, world.log()
    assert time.monotonic() - started < 30  # Retry-After 0: no waiting beyond the answers themselves
    assert [entry["status"] for entry in world.halo.requests].count(429) == 30
    assert world.log().count("HTTP 429; trying again") == 30
    assert world.last_error() == "" and world.last_sync()
    assert world.snapshot() == clean_graph_snapshot
    no_traceback(world)


def test_a_throttled_create_is_repeated_and_lands_once(graph_world, clean_graph_snapshot):
    world = graph_world
    # Queued while Halo answers the last read, so the storm meets the first POST /api/Users (a create).
    RequestHooks(world.halo).add("GET", "/api/asset", lambda: world.halo.faults.fail_next(
        30, status=429, path_prefix="/api/users", retry_after=0))
    assert world.auto().returncode == 0, world.log()
    posts = [entry for entry in world.halo.requests if entry["method"] == "POST" and entry["path"] == "/api/Users"]
    assert [entry["status"] for entry in posts].count(429) == 30 and posts[-1]["status"] == 201
    assert world.snapshot() == clean_graph_snapshot and not duplicates(world.halo)


def test_random_server_errors_fail_runs_cleanly_and_never_corrupt_halo(graph_world, clean_graph_snapshot):
    world = graph_world
    for seed in (1, 2, 3):
        world.halo.faults.fail_ratio(0.2, status=500, seed=seed, path_prefix="/api/")
        result = world.auto()
        log = world.run_log()
        assert result.returncode in (0, 1, 2), log  # never 4: a server error is not our bug
        no_traceback(world)
        assert not duplicates(world.halo)
        # A failed read never looks like people leaving: the only inactive users are the tenant's disabled
        # accounts, created inactive by a run that got through.
        disabled = {key for key, user in world.graph.tenant.users.items() if user.get("accountEnabled") is False}
        assert world.inactive_users() <= disabled
        if result.returncode:
            assert "HTTP 500" in log
            # Said where the user looks: the connection's Last Error, or the run's own message when no
            # integration got to run; the write-back may itself meet a 500, and then the log says so.
            said = world.last_error() + world.summary()["message"]
            assert "HTTP 500" in said or "Could not write Last Sync" in log, log
    assert any(entry.get("fault") == "fail" for entry in world.halo.requests)
    recovers(world, clean_graph_snapshot)


def test_a_read_slower_than_the_timeout_is_repeated(halo, graph, tmp_path, clean_graph_snapshot):
    world = World(halo, tmp_path, graph=graph, settings=("timeout_seconds=0.5",))
    hooks = RequestHooks(halo).add("GET", "/api/users", lambda: time.sleep(1.5))
    result = world.auto()
    assert result.returncode == 0, world.log()
    assert "no answer within the timeout; trying again" in world.log()
    hooks.done.wait(5)
    assert world.snapshot() == clean_graph_snapshot


def test_a_create_slower_than_the_timeout_is_not_repeated(halo, graph, tmp_path, clean_graph_snapshot):
    world = World(halo, tmp_path, graph=graph, settings=("timeout_seconds=0.5",))
    hooks = RequestHooks(halo).add("POST", "/api/users", lambda: time.sleep(1.5))
    result = world.auto()
    assert result.returncode == 1, world.log()
    assert "no answer within the timeout (0.5 s)" in world.last_error()
    assert "not repeated: Halo may have processed it" in world.last_error()
    hooks.done.wait(5)  # Halo finishes the slow create after the Integrator stopped waiting
    assert len(halo.records("users")) == USERS and not halo.records("assets")
    assert [e["method"] for e in halo.requests if e["path"] == "/api/Users"].count("POST") == 1
    recovers(world, clean_graph_snapshot)


def test_a_connection_reset_on_a_read_is_repeated(graph_world, clean_graph_snapshot):
    world = graph_world
    world.halo.faults.reset_next(1, path_prefix="/api/users")  # one: each repeat waits a backoff of 1-2 s
    result = world.auto()
    assert result.returncode == 0, world.log()
    assert re.search(r"127\.0\.0\.1:\d+: the connection (was reset|closed before an answer arrived); trying again",
                     world.run_log())
    assert world.snapshot() == clean_graph_snapshot


def test_a_reset_create_is_not_repeated_and_the_next_run_creates_it(graph_world, clean_graph_snapshot):
    world = graph_world
    RequestHooks(world.halo).add("GET", "/api/asset", lambda: world.halo.faults.reset_next(1, path_prefix="/api/users"))
    result = world.auto()
    assert result.returncode == 1, world.log()
    assert re.search(r"Cannot reach Halo at 127\.0\.0\.1:\d+: the connection (was reset|closed before an answer)",
                     world.last_error())
    assert "not repeated: Halo may have processed it" in world.last_error()
    assert not world.halo.records("users")  # the sandbox drops a reset request unprocessed
    recovers(world, clean_graph_snapshot)


def test_a_token_revoked_mid_run_is_replaced_once(graph_world, clean_graph_snapshot):
    world = graph_world
    RequestHooks(world.halo).add("POST", "/api/users", world.halo.expire_tokens)
    result = world.auto()
    assert result.returncode == 0, world.log()
    assert world.halo.counts()["token"] == 2
    assert "Halo refused the token (expired?)" in world.log()
    assert world.snapshot() == clean_graph_snapshot and not duplicates(world.halo)


def test_a_proxy_login_page_instead_of_json_stops_before_any_write(graph_world, clean_graph_snapshot):
    world = graph_world
    world.halo.faults.html_next(1, path_prefix="/api/users")
    result = world.auto()
    assert result.returncode == 1
    assert "HTML page instead of JSON" in world.last_error() and "proxy" in world.last_error()
    assert world.record_writes() == 0 and not world.halo.records("users")
    assert "HTML page instead of JSON" in world.log()
    no_traceback(world)
    recovers(world, clean_graph_snapshot)


def test_a_proxy_page_at_the_first_request_is_a_configuration_problem(graph_world):
    world = graph_world
    world.halo.faults.html_next(1, path_prefix="/api/instanceinfo")
    assert world.auto().returncode == 2
    assert "proxy" in world.summary()["message"] and "proxy" in world.log()
    assert world.last_sync() == "" and not world.halo.records("users")


def test_truncated_json_in_a_list_stops_before_any_write(graph_world, clean_graph_snapshot):
    world = graph_world
    world.halo.faults.truncate_next(1, path_prefix="/api/asset")
    result = world.auto()
    assert result.returncode == 1
    assert "incomplete JSON" in world.last_error()
    assert world.record_writes() == 0
    no_traceback(world)
    recovers(world, clean_graph_snapshot)


def test_a_truncated_answer_to_a_create_is_not_a_duplicate_next_time(graph_world, clean_graph_snapshot):
    world = graph_world
    RequestHooks(world.halo).add("GET", "/api/asset", lambda: world.halo.faults.truncate_next(1, path_prefix="/api/users"))
    result = world.auto()
    assert result.returncode == 1
    assert "incomplete JSON" in world.last_error()
    assert len(world.halo.records("users")) == USERS  # applied: only the answer was cut
    recovers(world, clean_graph_snapshot)
    assert not duplicates(world.halo)


def test_one_refused_record_is_reported_and_the_rest_of_its_batch_lands(graph, tmp_path, halo, clean_graph_snapshot):
    world = World(halo, tmp_path, graph=graph)
    victim = sorted(user["displayName"] for user in graph.tenant.users.values())[7]
    halo.faults.reject_records(lambda record: record.get("name") == victim)
    result = world.auto()
    assert result.returncode == 1
    names = {user["name"] for user in halo.records("users")}
    assert victim not in names and len(halo.records("users")) == USERS - 1
    assert len(halo.records("assets")) == ASSETS  # the devices were still imported
    assert world.last_error().startswith(f"1 record(s) refused by Halo; first: Create user {victim}")
    assert f"Halo refused: Create user {victim}" in world.log()
    errors = halo.records("integrationerrors")
    assert len(errors) == 1 and victim in errors[0]["entity_name"]
    recovers(world, clean_graph_snapshot)


# ---- the rule behind the storm: throttling is waited out by time, not by count -----------------------------

class FakeTime:
    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("retry_after, answers, sleeps", [
    ("1", [429] * 30 + [200], [1.0] * 30),  # a storm longer than max_attempts, ridden out
    ("0", [429] * 200, [0.0] * 99),  # a server that never asks to wait: stopped by the safety count
    ("100", [429] * 20, [100.0] * 6),  # long waits: stopped by the total wait budget (600 s)
])
def test_throttling_is_ridden_out_for_as_long_as_the_wait_budget_lasts(retry_after, answers, sleeps):
    time_ = FakeTime()
    policy = RetryPolicy(max_attempts=8, sleep=time_.sleep, clock=lambda: time_.now)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for status in answers:
            mock.get("https://halo.example.com/api/Users", status=status, headers={"Retry-After": retry_after})
        answer = policy.send(requests.Session(), "GET", "https://halo.example.com/api/Users")
        assert answer.status_code == answers[len(sleeps)]
    assert time_.sleeps == sleeps


def test_other_transient_failures_still_stop_at_max_attempts():
    time_ = FakeTime()
    policy = RetryPolicy(max_attempts=8, sleep=time_.sleep, clock=lambda: time_.now, rng=random.Random(1))
    with responses.RequestsMock() as mock:
        mock.get("https://halo.example.com/api/Users", status=503, headers={"Retry-After": "1"})
        assert policy.send(requests.Session(), "GET", "https://halo.example.com/api/Users").status_code == 503
    assert len(time_.sleeps) == 7
