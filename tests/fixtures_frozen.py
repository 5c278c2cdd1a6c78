"""Building the PyInstaller executable once per session, and running it the way Task Scheduler does.

The fixture ``frozen_binary`` (conftest.py) builds it; ``HALO_FROZEN_BINARY=/path/to/HaloIntegrator``
tests a binary that is already built instead of building one (about 30 seconds). ``halo`` (conftest.py)
is the sandbox Halo these helpers configure against (SANDBOX_CLIENT_ID / SANDBOX_SECRET).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from halointegrator import __version__

REPO = Path(__file__).resolve().parent.parent
BINARY_NAME = "HaloIntegrator.exe" if os.name == "nt" else "HaloIntegrator"
BUILD_TIMEOUT_SECONDS = 900
RUN_TIMEOUT_SECONDS = 120
SANDBOX_CLIENT_ID = "halo-integrator"
SANDBOX_SECRET = "sandbox-secret"


def build_binary(root: Path, version: str | None = None) -> Path:
    """Build build.spec into ``root``/dist; ``version`` makes a copy of the app claiming that version."""
    env = {key: value for key, value in os.environ.items() if key != "HALO_BUILD_VERSION"}
    if version:
        env["HALO_BUILD_VERSION"] = version
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(root / "dist"), "--workpath", str(root / "work"), str(REPO / "build.spec")]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT_SECONDS, check=False)
    binary = root / "dist" / BINARY_NAME
    if result.returncode != 0 or not binary.is_file():
        pytest.fail(f"PyInstaller failed (exit code {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return binary


def install_binary(binary: Path, folder: Path) -> Path:
    """Copy the executable into ``folder``, as a user does (over an older one, if there is one)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / BINARY_NAME
    shutil.copy2(binary, target)
    return target


def run_binary(binary: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run with output captured (for --version, CONFIGURE)."""
    return subprocess.run([str(binary), *args], cwd=cwd, env=_env(env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)


def _close_output_streams() -> None:
    """In the child before exec: no stdout, no stderr, as for a windowed exe that Task Scheduler starts."""
    os.close(1)
    os.close(2)


def run_unattended(binary: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Run like a Scheduled Task: in ``cwd`` (its "Start in"), stdout and stderr closed; the exit code.

    ``stdout=DEVNULL`` would still give the program an open file; closing descriptors 1 and 2 is what
    makes Python's sys.stdout None, as in the real windowed executable on Windows.
    """
    process = subprocess.run([str(binary), *args], cwd=cwd, env=_env(env), stdin=subprocess.DEVNULL,
                             preexec_fn=_close_output_streams, timeout=RUN_TIMEOUT_SECONDS, check=False)
    return process.returncode


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HALO_")}
    env.update(extra or {})
    return env


def configure(binary: Path, cwd: Path, *extra: str, secret: str = SANDBOX_SECRET) -> None:
    """``CONFIGURE`` with the secret passed through an environment variable, never on the command line."""
    result = run_binary(binary, "CONFIGURE", *extra, "--secret-env", "client_secret=HALO_TEST_SECRET",
                        cwd=cwd, env={"HALO_TEST_SECRET": secret})
    assert result.returncode == 0, result.stdout + result.stderr


def log_text(folder: Path) -> str:
    """Every daily log file in ``folder``/logs, oldest first."""
    return "".join(path.read_text(encoding="utf-8") for path in sorted((folder / "logs").glob("HaloIntegrator-*.log")))


def archive_contents(binary: Path) -> list[str]:
    """The names inside the executable's archive (pyi-archive_viewer --recursive --brief)."""
    result = subprocess.run([sys.executable, "-m", "PyInstaller.utils.cliutils.archive_viewer", "-r", "-b", str(binary)],
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=True)
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def next_patch_version(version: str = __version__) -> str:
    """1.0.0 -> 1.0.1: the version of the "newer" build in the upgrade test."""
    numbers = [int(part) for part in version.split(".")[:3]]
    numbers += [0] * (3 - len(numbers))
    numbers[2] += 1
    return ".".join(map(str, numbers))
