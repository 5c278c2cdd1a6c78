"""The built single-file executable, run the way users and Task Scheduler run it.

Marker ``frozen``: the session builds the binary once (about 30 s) unless HALO_FROZEN_BINARY names one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from halointegrator import __version__
from tests.fixtures_frozen import (
    RUN_TIMEOUT_SECONDS, SANDBOX_SECRET, archive_contents, configure, install_binary, log_text, run_binary,
    run_unattended,
)

pytestmark = pytest.mark.frozen


@pytest.fixture
def installed(frozen_binary: Path, tmp_path: Path) -> Path:
    """The executable copied into its own folder, as a user installs it."""
    return install_binary(frozen_binary, tmp_path / "HaloIntegrator")


def test_version_flag_prints_the_source_version(installed: Path, tmp_path: Path) -> None:
    result = run_binary(installed, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Halo Integrator {__version__}"


def test_auto_with_closed_streams_logs_in_the_start_in_folder(installed: Path, tmp_path: Path, halo) -> None:
    configure(installed, tmp_path, "--url", halo.url, "--client-id", "halo-integrator")
    assert (installed.parent / "HaloIntegrator.config").is_file()  # beside the exe, not in the temp unpack folder
    start_in = tmp_path / "start-in"
    start_in.mkdir()

    assert run_unattended(installed, "AUTO", cwd=start_in) == 0

    log = log_text(start_in)
    assert f"Halo Integrator {__version__} AUTO" in log
    assert f"Halo Integrator {__version__} AUTO" in log and "Halo version 2.184.21" in log
    assert log.count(f"Halo Integrator {__version__}") == 1  # the version is said once
    assert "No integration is enabled" in log
    summary = json.loads((start_in / "logs" / "last-run.json").read_text(encoding="utf-8"))
    assert (summary["exit_code"], summary["version"]) == (0, __version__)
    assert not (installed.parent / "logs").exists()


def test_auto_with_a_wrong_secret_exits_2_and_says_why(installed: Path, tmp_path: Path, halo) -> None:
    configure(installed, tmp_path, "--url", halo.url, "--client-id", "halo-integrator", secret="not-the-secret")

    assert run_unattended(installed, "AUTO", cwd=installed.parent) == 2

    log = log_text(installed.parent)
    assert "Halo refused the client ID or secret" in log
    assert "Exit code 2" in log
    assert "not-the-secret" not in log and SANDBOX_SECRET not in log


def test_auto_without_a_config_exits_2(installed: Path) -> None:
    assert run_unattended(installed, "AUTO", cwd=installed.parent) == 2
    assert "No configuration at" in log_text(installed.parent)


def test_no_test_code_is_bundled(frozen_binary: Path) -> None:
    names = archive_contents(frozen_binary)
    top_levels = {name.replace("\\", "/").split("/")[0].split(".")[0] for name in names}
    assert not top_levels & {"sandbox", "tests", "pytest", "_pytest", "responses", "hypothesis"}
    assert {"halointegrator.app.cli", "halointegrator.gui.app", "integrations"} <= set(names)
    assert any(name.replace("\\", "/") == "assets/halo.png" for name in names)


def test_gui_without_a_display_exits_2_with_a_log_line(installed: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    process = subprocess.run([str(installed)], cwd=installed.parent, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
    assert process.returncode == 2
    assert "Cannot open the window" in process.stderr
    assert "Traceback" not in process.stderr


@pytest.fixture
def display():
    """An X display: the one pytest-xvfb gives, or our own Xvfb when the plugin is off."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        pytest.skip("no DISPLAY and no Xvfb (apt-get install xvfb)")
    from pyvirtualdisplay import Display

    with Display(backend="xvfb", size=(1024, 768)) as virtual:
        yield f":{virtual.display}"


@pytest.mark.gui
def test_gui_opens_with_the_version_in_its_title_and_closes_itself(installed: Path, display: str) -> None:
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HALO_")}
    env.update(DISPLAY=display, HALO_SELFTEST_MS="5000")
    process = subprocess.Popen([str(installed)], cwd=installed.parent, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        title = f"^Halo Integrator {__version__}$".replace(".", r"\.")
        found = subprocess.run(["xdotool", "search", "--sync", "--name", title], env=env,
                               capture_output=True, text=True, timeout=30, check=False)
        _out, err = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        process.kill()
    assert found.returncode == 0 and found.stdout.strip(), "no window titled with the version"
    assert process.returncode == 0, err
    assert f"Halo Integrator {__version__}; configuration" in log_text(installed.parent)
