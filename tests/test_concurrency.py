"""Runs at the same time: the window's Start Processing and a scheduled AUTO, two AUTOs, CONFIGUREs racing.

The second run is refused at once (exit 3, "another run is in progress" with the holder's pid), writes
nothing to Halo, and the first run finishes as if alone. The window's run is the function its Start
Processing button runs on the worker thread (halointegrator.gui.jobs.run_processing), here on a thread.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from halointegrator.local import fileio
from halointegrator.local import keystore
from halointegrator.local.config import ConfigStore
from halointegrator.errors import ConfigError, LockBusy
from halointegrator.gui.jobs import run_processing
from halointegrator.local.logs import setup_logging
from halointegrator.engine.runner import RunOptions
from tests.cli_helpers import INTEGRATOR
from tests.e2e_world import RequestHooks, duplicates, own_logger

WAIT = 30


class Gate:
    """Holds one Halo request until opened: the run that sent it is mid-apply meanwhile."""

    def __init__(self) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        assert self.opened.wait(WAIT)


def gated(world, method: str = "POST", path: str = "/api/users") -> Gate:
    gate = Gate()
    RequestHooks(world.halo).add(method, path, gate)
    return gate


def window_run(world, outcome: dict) -> threading.Thread:
    """Start Processing, as the window's worker thread runs it."""
    config = ConfigStore(world.config).load()

    def work() -> None:
        try:
            outcome["result"] = run_processing(config, world.config, RunOptions(), outcome["log"],
                                               cancel=threading.Event(), progress=lambda *args: None)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcome["error"] = error

    thread = threading.Thread(target=work, name="window-run")
    thread.start()
    return thread


def test_auto_while_the_window_runs_is_refused_and_changes_nothing(graph_world, clean_graph_snapshot):
    world = graph_world
    gate = gated(world)
    with own_logger():
        outcome = {"log": setup_logging(world.folder / "window-logs")}
        thread = window_run(world, outcome)
        assert gate.reached.wait(WAIT)
        tokens_before = world.halo.counts()["token"]
        auto = subprocess.run([sys.executable, str(INTEGRATOR), "AUTO", "--config", str(world.config)],
                              cwd=world.folder, capture_output=True, text=True, timeout=WAIT)
        tokens_after = world.halo.counts()["token"]
        gate.opened.set()
        thread.join(WAIT)
    assert auto.returncode == 3
    assert f"Another Halo Integrator run is in progress (pid {os.getpid()}" in world.log()
    assert world.summary()["exit_code"] == 3
    assert tokens_after == tokens_before  # the refused run did not even log in to Halo
    assert "error" not in outcome and outcome["result"].exit_code == 0
    assert world.snapshot() == clean_graph_snapshot and not duplicates(world.halo)


def test_the_window_while_auto_runs_is_told_to_wait(graph_world, clean_graph_snapshot):
    world = graph_world
    gate = gated(world)
    auto = world.spawn_auto()
    try:
        assert gate.reached.wait(WAIT)
        with own_logger():
            outcome = {"log": setup_logging(world.folder / "window-logs")}
            window_run(world, outcome).join(WAIT)
    finally:
        gate.opened.set()
        assert auto.wait(WAIT) == 0
    assert isinstance(outcome.get("error"), LockBusy) and outcome["error"].exit_code == 3
    assert f"pid {auto.pid}" in str(outcome["error"])
    assert world.snapshot() == clean_graph_snapshot


def test_two_autos_at_once_one_runs_one_is_refused(graph_world, clean_graph_snapshot):
    world = graph_world
    gate = gated(world)
    first = world.spawn_auto()
    try:
        assert gate.reached.wait(WAIT)
        second = subprocess.run([sys.executable, str(INTEGRATOR), "AUTO", "--config", str(world.config)],
                                cwd=world.folder, capture_output=True, text=True, timeout=WAIT)
    finally:
        gate.opened.set()
        assert first.wait(WAIT) == 0
    assert second.returncode == 3 and f"Another Halo Integrator run is in progress (pid {first.pid}" in world.log()
    assert world.snapshot() == clean_graph_snapshot and not duplicates(world.halo)


@pytest.mark.parametrize("existing", [False, True], ids=["new config", "existing config"])
def test_configures_racing_each_other_leave_a_readable_config(tmp_path, existing):
    """Six CONFIGUREs at once (say, a deployment script run twice): each exits 0, the file and its key
    stay readable, and the saved settings are one of theirs, whole."""
    config = tmp_path / "HaloIntegrator.config"
    env = {**os.environ, "HALO_TEST_SECRET": "racing-secret-value"}
    command = [sys.executable, str(INTEGRATOR), "CONFIGURE", "--config", str(config), "--client-id", "racer",
               "--secret-env", "client_secret=HALO_TEST_SECRET"]
    if existing:
        subprocess.run([*command, "--url", "https://start.halopsa.com"], env=env, check=True, capture_output=True)
    racers = [subprocess.Popen([*command, "--url", f"https://racer{n}.halopsa.com"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(6)]
    outcomes = [(racer.wait(WAIT), racer.stderr.read()) for racer in racers]
    for racer in racers:
        racer.stdout.close()
        racer.stderr.close()
    assert [code for code, _ in outcomes] == [0] * 6, outcomes
    saved = ConfigStore(config).load()
    assert saved.halo.web_app_url in {f"https://racer{n}.halopsa.com" for n in range(6)}
    assert saved.halo.client_secret == "racing-secret-value"
    assert not [path.name for path in tmp_path.iterdir() if ".tmp-" in path.name]  # no temp files left behind


def _load_key_when_released(path: str, barrier, answers) -> None:
    barrier.wait()
    try:
        answers.put(keystore.load_key(Path(path), create=True))
    except ConfigError as error:
        answers.put(f"error: {error}")


def _slow_write_all(fd: int, data: bytes) -> None:
    """A slow disk: half the bytes, a pause, the rest (so a half-written file is there to be seen)."""
    half = len(data) // 2
    fileio.write_all(fd, data[:half])
    time.sleep(0.05)
    fileio.write_all(fd, data[half:])


@pytest.mark.skipif(os.name == "nt", reason="the racers inherit the slow disk through fork")
def test_processes_racing_to_make_the_key_all_get_the_same_whole_key(tmp_path, monkeypatch):
    """The losers of the race used to read the winner's key file half-written ("damaged")."""
    monkeypatch.setattr(keystore, "write_all", _slow_write_all)
    context = multiprocessing.get_context("fork")
    for trial in range(3):
        path = tmp_path / f"race-{trial}.key"
        barrier, answers = context.Barrier(8), context.Queue()
        racers = [context.Process(target=_load_key_when_released, args=(str(path), barrier, answers))
                  for _ in range(8)]
        for racer in racers:
            racer.start()
        keys = [answers.get(timeout=WAIT) for _ in racers]
        for racer in racers:
            racer.join(WAIT)
        assert len(set(keys)) == 1 and isinstance(keys[0], bytes), keys
        assert keystore.load_key(path, create=False) == keys[0]
