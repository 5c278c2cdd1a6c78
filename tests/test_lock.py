"""The run lock, held by a real second process, and taken over after that process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from halointegrator.errors import ConfigError, LockBusy
from halointegrator.local.lock import RunLock

REPO_ROOT = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from halointegrator.local.lock import RunLock
    lock = RunLock(Path(sys.argv[1])).acquire()
    print("held", flush=True)
    sys.stdin.read()  # hold until the parent closes stdin (or kills us)
    lock.release()
    print("released", flush=True)
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    """A second process holding the lock; yields (process, lock path)."""
    path = tmp_path / "HaloIntegrator.lock"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout.readline().strip() == "held"
        yield process, path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdin.close()
        process.stdout.close()


def test_a_second_process_is_refused_at_once_with_its_pid(holder):
    process, path = holder
    with pytest.raises(LockBusy) as caught:
        RunLock(path).acquire()
    message = str(caught.value)
    assert message.startswith("Another Halo Integrator run is in progress")
    assert f"pid {process.pid}, started at 20" in message
    assert caught.value.exit_code == 3


def test_the_lock_is_free_after_the_holder_releases_it(holder):
    process, path = holder
    process.stdin.close()
    assert process.stdout.readline().strip() == "released"
    process.wait(timeout=10)
    with RunLock(path) as lock:
        assert lock.held and lock.previous is None and lock.takeover_note() == ""


def test_a_killed_holders_lock_is_taken_over(holder):
    process, path = holder
    if os.name == "nt":
        process.kill()  # TerminateProcess
    else:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    with RunLock(path) as lock:
        assert lock.previous["pid"] == process.pid
        assert f"pid {process.pid}" in lock.takeover_note() and "taken over" in lock.takeover_note()
        assert f'"pid": {os.getpid()}' in path.read_text()


def test_same_process_cannot_hold_it_twice(tmp_path: Path):
    path = tmp_path / "HaloIntegrator.lock"
    with RunLock(path):
        with pytest.raises(LockBusy, match=f"pid {os.getpid()}"):
            RunLock(path).acquire()
    with RunLock(path) as again:  # released by the with block
        assert again.held
    assert not again.held


def test_acquire_twice_on_one_object_is_a_bug(tmp_path: Path):
    lock = RunLock(tmp_path / "x.lock").acquire()
    try:
        with pytest.raises(RuntimeError):
            lock.acquire()
    finally:
        lock.release()
    lock.release()  # harmless


def test_released_lock_file_stays_and_says_released(tmp_path: Path):
    path = tmp_path / "HaloIntegrator.lock"
    with RunLock(path):
        pass
    assert '"released"' in path.read_text()
    with RunLock(path) as lock:
        assert lock.previous is None


def test_garbled_lock_file_is_taken_over(tmp_path: Path):
    path = tmp_path / "HaloIntegrator.lock"
    path.write_bytes(b"\x00garbage")
    with RunLock(path) as lock:
        assert lock.previous is None


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="Cannot open the run lock file"):
        RunLock(tmp_path / "no" / "such" / "HaloIntegrator.lock").acquire()
