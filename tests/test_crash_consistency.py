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
import sys
import time
from pathlib import Path

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


# ---- the sync status: Active Directory through lean lists, and the state file itself ---------------------

AD_KILL_POINTS = [  # a create batch landed but the status was not saved; every write done, the status not saved
    ("POST", "/api/users", 1, "after"),
    ("POST", "/api/ldapconnection", 1, "after"),
]


@pytest.mark.slapd
@pytest.mark.parametrize("method, path, nth, when", AD_KILL_POINTS, ids=[f"{m} {p} #{n} {w}" for m, p, n, w in AD_KILL_POINTS])
def test_an_ad_run_killed_before_its_status_was_saved_then_run_again_equals_one_clean_run(
        tmp_path, fresh_slapd, method, path, nth, when):
    with HaloSandbox() as halo:
        clean_world = World(halo, tmp_path / "clean", directory=fresh_slapd, ldap_batch=20)
        assert clean_world.auto().returncode == 0, clean_world.log()
        clean_ad = clean_world.snapshot()
    with HaloSandbox() as halo:
        world = World(halo, tmp_path / "killed", directory=fresh_slapd, ldap_batch=20)
        killer = Killer(unprocessed=False)
        hooks = RequestHooks(halo).add(method, path, killer, nth=nth, when=when)
        killer.process = world.spawn_auto()
        assert killer.process.wait(timeout=60) == -signal.SIGKILL
        assert hooks.done.wait(10) and killer.killed
        result = world.auto()
        assert result.returncode == 0, world.run_log()
        assert not duplicates(halo)
        assert world.snapshot() == clean_ad
        assert world.auto().returncode == 0 and world.record_writes() == 0  # and the status is whole again


WRITER = """
import sys
from halointegrator.engine.status import ConnectionState, Entry, KindStatus, StatusStore
store = StatusStore(sys.argv[1])
for round_ in range(1_000_000):
    entries = {f"key-{n}": Entry(n + 1, {"department": f"{round_:016x}"}) for n in range(50_000)}
    store.save({"active_directory:1": ConnectionState({"user": KindStatus(entries)})})
    print(round_, flush=True)
"""


def test_a_kill_while_the_state_file_is_written_leaves_the_old_file_or_the_new(tmp_path):
    """The status of 50,000 users written over and over, killed at once-in-a-while moments: the file is
    always one whole status (the previous or the new), never set aside as damaged."""
    from halointegrator.engine.status import StatusStore

    path = tmp_path / "HaloIntegrator.state"
    checked = 0
    for delay in (0.4, 0.55, 0.7, 0.85, 1.0, 1.5, 2.5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                                  cwd=Path(__file__).resolve().parent.parent)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        if not path.exists():
            continue  # killed before the first save ended: there is no state yet, which is the truth
        states = StatusStore(path).load()
        entries = states["active_directory:1"].kinds["user"].entries
        assert len(entries) == 50_000 and len({entry.fields["department"] for entry in entries.values()}) == 1
        assert not [name for name in os.listdir(tmp_path) if ".damaged-" in name]
        checked += 1
    assert checked, "every writer was killed before its first save ended: nothing was checked (a slower machine?)"
