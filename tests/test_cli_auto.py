"""integrator.py as a scheduled task runs it: AUTO, CONFIGURE, CHECK, exit codes, logs in the Start-in folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from halointegrator.local.lock import RunLock
from halointegrator.local.paths import lock_path_for
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import HALO_SECRET, REPO, configure, integrator, log_text


@pytest.fixture(scope="module")
def halo():
    with HaloSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def start_in(tmp_path):
    folder = tmp_path / "start-in"
    folder.mkdir()
    return folder


@pytest.fixture
def config(tmp_path, halo, start_in):
    path = tmp_path / "app" / "HaloIntegrator.config"
    path.parent.mkdir()
    configure(path, halo.url, cwd=start_in)
    return path


def test_configure_encrypts_the_secret_and_never_takes_it_from_argv(tmp_path, halo, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, halo.url, cwd=start_in)
    for written in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert HALO_SECRET.encode() not in written.read_bytes()
    refused = integrator("CONFIGURE", "--config", str(path), "--set", "client_secret=visible", cwd=start_in)
    assert refused.returncode == 2 and "never on the command line" in refused.stderr


def test_auto_with_nothing_enabled_exits_0_and_logs_where_it_ran(config, start_in):
    result = integrator("auto", "--config", str(config), cwd=start_in)
    assert result.returncode == 0, result.stderr
    log = log_text(start_in)
    assert "No integration is enabled" in log
    assert "Halo version 2.184.21" in log
    summary = json.loads((start_in / "logs" / "last-run.json").read_text())
    assert summary["exit_code"] == 0


def test_auto_with_stdout_and_stderr_closed(config, start_in):
    result = integrator("AUTO", "--config", str(config), cwd=start_in, close_streams=True)
    assert result.returncode == 0
    assert "No integration is enabled" in log_text(start_in)


def test_wrong_secret_exits_2_with_a_clear_log_line(tmp_path, halo, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, halo.url, cwd=start_in, secret="not-the-secret")
    result = integrator("AUTO", "--config", str(path), cwd=start_in)
    assert result.returncode == 2
    log = log_text(start_in)
    assert "Halo refused the client ID or secret" in log
    assert "not-the-secret" not in log


def test_missing_config_exits_2_and_says_how_to_create_one(tmp_path, start_in):
    result = integrator("AUTO", "--config", str(tmp_path / "none.config"), cwd=start_in)
    assert result.returncode == 2
    assert "CONFIGURE" in log_text(start_in)


def test_second_run_while_one_holds_the_lock_exits_3(config, start_in):
    with RunLock(lock_path_for(config)):
        result = integrator("AUTO", "--config", str(config), cwd=start_in)
    assert result.returncode == 3
    assert "Another Halo Integrator run is in progress" in log_text(start_in)


def test_unreachable_halo_exits_2(tmp_path, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, "http://127.0.0.1:9", cwd=start_in)
    result = integrator("AUTO", "--config", str(path), cwd=start_in)
    assert result.returncode == 2
    assert "127.0.0.1:9" in log_text(start_in)


def test_check_prints_ticks(config, start_in):
    result = integrator("CHECK", "--config", str(config), cwd=start_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\u2714" in result.stdout and "Agent" in result.stdout


def test_version_and_help(start_in):
    from halointegrator import __version__

    assert __version__ in integrator("--version", cwd=start_in).stdout
    help_text = integrator("--help", cwd=start_in).stdout
    assert "AUTO" in help_text and "Exit codes" in help_text


def test_auto_does_not_import_the_gui(config, start_in):
    code = ("import sys; from halointegrator.app.cli import main; rc = main(['AUTO', '--config', sys.argv[1]]); "
            "print('gui imported' if 'halointegrator.gui' in sys.modules or 'tkinter' in sys.modules else 'no gui'); "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(config)], cwd=start_in, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
                            timeout=60)
    assert "no gui" in result.stdout, result.stdout + result.stderr
