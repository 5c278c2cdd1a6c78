"""Run integrator.py as a user (or Task Scheduler) would: a subprocess in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INTEGRATOR = REPO / "integrator.py"
HALO_SECRET = "sandbox-secret"


def integrator(*args: str, cwd: Path, env: dict | None = None, stdin: str | None = None,
               close_streams: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python integrator.py ARGS`` in ``cwd``; with close_streams, stdout and stderr are closed (a windowed exe)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DISPLAY", None)
    command = [sys.executable, str(INTEGRATOR), *args]
    if close_streams:
        quoted = " ".join(_quote(part) for part in command)
        return subprocess.run(["/bin/sh", "-c", f"exec {quoted} >&- 2>&-"], cwd=cwd, env=full_env,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    return subprocess.run(command, cwd=cwd, env=full_env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def configure(config: Path, url: str, *, cwd: Path, secret: str = HALO_SECRET, client_id: str = "halo-integrator",
              extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    result = integrator("CONFIGURE", "--config", str(config), "--url", url, "--client-id", client_id,
                        "--secret-env", "client_secret=HALO_TEST_SECRET", *extra,
                        cwd=cwd, env={"HALO_TEST_SECRET": secret})
    assert result.returncode == 0, result.stderr
    return result


def log_text(folder: Path) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in sorted((folder / "logs").glob("HaloIntegrator-*.log")))
