"""kill -9 during `integrator.py AUTO`, at ten points of a run, then a normal run: Halo must end up exactly as
one clean run leaves it (no duplicate users or assets, nothing lost), and the log must say the previous
run died.

The kill happens inside the Halo sandbox while it holds the Integrator's request, so the point is exact:
"before" kills and leaves the request unprocessed (the process died before Halo saw it), "after" kills
once Halo applied it (the process died before reading the answer, the worst case for duplicates).
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_api import halo_error
from sandbox.halo_server import HaloSandbox
from tests.e2e_world import APP_ID, APP_SECRET, TENANT_ID, RequestHooks, World, clean_snapshot_of, duplicates

# 250 users in batches of 100 and 30 devices: three user writes, one asset write, one write-back.
USERS, DEVICES = 250, 30
KILL_POINTS = [  # (method, path prefix, which one, when)
    ("POST", "/auth/token", 1, "before"),
    ("GET", "/api/users", 1, "before"),
    ("POST", "/api/users", 1, "before"),
    ("POST", "/api/users", 1, "after"),
    ("POST", "/api/users", 2, "before"),
    ("POST", "/api/users", 2, "after"),
    ("POST", "/api/users", 3, "after"),
    ("POST", "/api/asset", 1, "before"),
    ("POST", "/api/asset", 1, "after"),
    ("POST", "/api/azureadconnection", 1, "after"),
]


def tenant():
    return generate_tenant(users=USERS, groups=3, devices=DEVICES, seed=11)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    return clean_snapshot_of(tmp_path_factory.mktemp("clean"), tenant())


class Killer:
    """Kills the AUTO process from inside the sandbox, while Halo holds its request."""

    def __init__(self, unprocessed: bool) -> None:
        self.process: subprocess.Popen | None = None
        self.unprocessed = unprocessed
        self.killed = False

    def __call__(self):
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.killed = True
        return halo_error(503, "the client is gone") if self.unprocessed else None


@pytest.mark.parametrize("method, path, nth, when", KILL_POINTS,
                         ids=[f"{m} {p} #{n} {w}" for m, p, n, w in KILL_POINTS])
def test_killed_mid_run_then_run_again_equals_one_clean_run(tmp_path, clean, method, path, nth, when):
    with HaloSandbox() as halo, GraphServer(tenant(), tenant_id=TENANT_ID, client_id=APP_ID,
                                            client_secret=APP_SECRET) as graph:
        world = World(halo, tmp_path, graph=graph)
        killer = Killer(unprocessed=when == "before")
        hooks = RequestHooks(halo).add(method, path, killer, nth=nth, when=when)
        killer.process = world.spawn_auto()
        assert killer.process.wait(timeout=60) == -signal.SIGKILL
        # The process may be reaped here before the sandbox thread that killed it records so: wait for it.
        assert hooks.done.wait(10) and killer.killed
        assert not duplicates(halo)

        result = world.auto()
        assert result.returncode == 0, world.run_log()
        assert "ended without finishing (killed or crashed); its lock was taken over" in world.run_log()
        assert not duplicates(halo)
        assert world.snapshot() == clean
