"""`python -m sandbox --serve` (README: open the window against the sandbox): everything stays up, the
Integrator is configured for it, and Ctrl-C (or SIGTERM) stops it all cleanly."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.cli_helpers import REPO
from tests.fixtures_directory import require_slapd

READY = "Press Ctrl-C here to stop the sandbox."


def serve(workdir):
    return subprocess.Popen([sys.executable, "-m", "sandbox", "--serve", "--users", "30", "--ldap-users", "20",
                             "--workdir", str(workdir)], cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until_ready(process, timeout=120.0) -> str:
    lines, deadline = [], time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if line.strip() == READY:
            return "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("--serve ended before it was up:\n" + "".join(lines))


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slapd
@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_keeps_the_sandbox_up_for_the_window_then_stops_cleanly(tmp_path, stop_with):
    require_slapd()
    process = serve(tmp_path / "serve")
    try:
        said = read_until_ready(process)
        window = f"{sys.executable} {REPO / 'integrator.py'} --config {tmp_path / 'serve' / 'HaloIntegrator.config'}"
        assert window in said, said  # how to open the window, copy-pasteable
        ports = [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", said.splitlines()[0])]
        assert len(ports) == 3 and all(port_open(port) for port in ports), said  # Halo, Graph, OpenLDAP
        check = subprocess.run([sys.executable, str(REPO / "integrator.py"), "CHECK", "--config",
                                str(tmp_path / "serve" / "HaloIntegrator.config")], cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr  # every prerequisite of both connections holds
        process.send_signal(stop_with)
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert "Traceback" not in rest and rest.rstrip().endswith("OpenLDAP are down."), rest
    assert not any(port_open(port) for port in ports)
