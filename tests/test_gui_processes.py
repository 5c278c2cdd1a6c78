"""The window's Processes tab under Xvfb against the Halo sandbox (runs, Preview, Stop, log, schedule),
what happens outside the window (AUTO never imports it, no display), and the tabs' pure helpers.

Run: .venv/bin/python -m pytest -q tests/test_gui_processes.py --xvfb-backend=xvfb
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from halointegrator.local.lock import RunLock
from halointegrator.engine.model import Check, Prerequisite, Report
from halointegrator.local.paths import lock_path_for
from integrations import REGISTRY
from tests.gui_fixtures import (
    FAKE, Gate, enable_connection, fake_integration, idle, log_lines, log_text, new_root, pump, saved_app,
)

REPO = Path(__file__).resolve().parent.parent
gui = pytest.mark.gui


@gui
def test_start_processing_fills_the_log_the_progress_and_the_counts(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    processes = app.processes_tab
    processes.start_button.invoke()
    assert processes.stop_button.instate(["!disabled"])
    pump(app.root, lambda: not processes.running)
    idle(app)
    assert "Create user Ada Lovelace" in log_text(app)
    assert float(processes.progress.cget("value")) == 100
    (row,) = [processes.results.item(iid, "values") for iid in processes.results.get_children()]
    assert row[0] == "Fake Directory" and row[2].startswith("create 3")
    assert sorted(user["name"] for user in sandbox.records("users")) == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert sandbox.get("ldapconnections", 1).get("halointegrator_lastsync")
    assert processes.stop_button.instate(["disabled"])  # nothing left to stop
    assert processes.start_button.instate(["!disabled"])


@gui
def test_preview_changes_nothing_in_halo(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    with sandbox.lock:
        before = copy.deepcopy(sandbox.state)
    app.processes_tab.preview_button.invoke()
    pump(app.root, lambda: not app.processes_tab.running)
    idle(app)
    with sandbox.lock:
        assert sandbox.state == before
    assert "Would create user Grace Hopper" in log_text(app)
    (row,) = [app.processes_tab.results.item(i, "values") for i in app.processes_tab.results.get_children()]
    assert row[2].startswith("would create 3")


@gui
def test_stop_ends_the_run_between_batches(make_app, sandbox):
    enable_connection(sandbox)
    gate = Gate()
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(read=gate.read)})
    app.processes_tab.start_button.invoke()
    pump(app.root, gate.started.is_set)
    app.processes_tab.stop_button.invoke()
    pump(app.root, lambda: not app.processes_tab.running)
    assert gate.saw_cancel.is_set()
    assert app.processes_tab.stage.cget("text").startswith("Stopped")
    assert app.dialogs.of("error") == []  # stopping is not an error
    assert "Stopped" in log_text(app)


@gui
def test_closing_during_a_run_asks_then_stops_it_and_waits(make_app, sandbox):
    enable_connection(sandbox)
    gate = Gate()
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(read=gate.read)})
    app.processes_tab.start_button.invoke()
    pump(app.root, gate.started.is_set)
    app.dialogs.answers = [False]
    app.close()
    assert not app.closed and not gate.saw_cancel.is_set()
    app.dialogs.answers = [True]
    app.close()
    pump(app.root, lambda: app.closed)
    assert gate.saw_cancel.is_set()
    assert not app.worker._thread.is_alive()


@gui
def test_a_run_while_another_holds_the_lock_is_a_plain_message(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    with RunLock(lock_path_for(app.config_path)):
        app.processes_tab.start_button.invoke()
        pump(app.root, lambda: not app.processes_tab.running)
    (message,) = app.dialogs.of("error")
    assert message.startswith("Another Halo Integrator run is in progress")


@gui
def test_processing_with_unsaved_changes_asks_first(make_app, sandbox):
    app = saved_app(make_app, sandbox)
    app.config_tab.advanced.variables["page_size"].set("500")
    app.dialogs.answers = [None]
    app.processes_tab.start_button.invoke()
    assert app.dialogs.of("ask_yes_no_cancel") and not app.processes_tab.running


@gui
def test_an_internal_error_says_see_the_log_file_and_logs_the_traceback(make_app, tmp_path):
    app = make_app()

    def broken():
        raise RuntimeError("a bug in a button")

    app.processes_tab.open_logs_button.configure(command=broken)
    app.processes_tab.open_logs_button.invoke()
    (message,) = app.dialogs.of("error")
    assert message.startswith("Internal error: see the log file ") and str(tmp_path / "logs") in message
    log_file = next((tmp_path / "logs").glob("HaloIntegrator-*.log")).read_text(encoding="utf-8")
    assert "Traceback" in log_file and "RuntimeError: a bug in a button" in log_file


@gui
def test_open_log_folder_uses_the_opener(make_app, tmp_path):
    opened = []
    app = make_app(open_folder=opened.append)
    app.processes_tab.open_logs_button.invoke()
    assert opened == [tmp_path / "logs"]


@gui
def test_the_log_is_bounded_and_coloured(make_app):
    from halointegrator.gui.processes_tab import MAX_LOG_LINES

    app = make_app()
    processes = app.processes_tab
    for number in range(MAX_LOG_LINES + 10):
        processes.append_log(f"line {number}", logging.INFO)
    processes.append_log("careful", logging.WARNING)
    processes.append_log("broken", logging.ERROR)
    processes.append_log("Create user Ada", logging.INFO + 5)
    lines = log_lines(app)
    assert len(lines) == MAX_LOG_LINES and lines[-1] == "Create user Ada"
    text = processes.log_text
    assert text.tag_names(f"{MAX_LOG_LINES - 2}.0") == ("warning",)
    assert text.tag_names(f"{MAX_LOG_LINES - 1}.0") == ("error",)
    assert text.tag_names(f"{MAX_LOG_LINES}.0") == ("change",)
    assert text.cget("state") == "disabled"
    app.select_tab("processes")
    app.root.update()
    assert text.yview()[1] == 1.0  # filled while hidden, it shows its end once shown


@gui
def test_the_schedule_box_shows_the_task_settings_and_the_cron_line(make_app):
    app = make_app()
    values = app.processes_tab.schedule_values
    config = str(app.config_path)
    assert values["Program/script"] == sys.executable
    assert values["Add arguments"] == f"{REPO / 'integrator.py'} AUTO --config {config}"
    assert values["Start in"] == str(REPO)
    assert values["cron"].endswith(f"integrator.py AUTO --config {config}") and f"cd {REPO} &&" in values["cron"]


@gui
def test_on_windows_the_button_creates_the_task(make_app):
    created = []
    app = make_app(platform="win32", create_task=lambda task: created.append(task) or "SUCCESS: created")
    app.dialogs.answers = [True]
    assert "cron" not in app.processes_tab.schedule_values
    app.processes_tab.schedule_button.invoke()
    idle(app)
    assert created and "AUTO" in created[0].arguments
    assert app.dialogs.of("info") == ["SUCCESS: created"]


# --- outside the window ----------------------------------------------------------------------------

@gui
def test_selftest_variable_closes_the_window_with_exit_code_0(tmp_path):
    if not os.environ.get("DISPLAY"):
        new_root()  # skips, or fails in CI
    env = {**os.environ, "HALO_SELFTEST_MS": "300"}
    done = subprocess.run([sys.executable, str(REPO / "integrator.py"), "--config", str(tmp_path / "x.config")],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def test_auto_never_imports_the_window(tmp_path):
    probe = ("import sys; from halointegrator.app import cli; code = cli.main(['AUTO', '--config', sys.argv[1]]); "
             "print('gui imported' if any(m.startswith('halointegrator.gui') or m == 'tkinter' for m in sys.modules) "
             "else 'no gui'); sys.exit(code)")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "missing.config")], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert done.stdout.decode().strip() == "no gui"
    assert done.returncode == 2
    assert b"TclError" not in done.stderr and b"display" not in done.stderr.lower()


def test_without_a_display_the_window_says_what_to_use_instead(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    done = subprocess.run([sys.executable, str(REPO / "integrator.py"), "--config", str(tmp_path / "x.config")],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert done.returncode == 2
    assert b"AUTO" in done.stderr and b"Traceback" not in done.stderr


# --- the pure parts (no display needed) ------------------------------------------------------------

def test_merge_checks_puts_each_result_beside_its_prerequisite():
    from halointegrator.gui.integration_tab import merge_checks

    reach, ous = Prerequisite("reach", "Reach"), Prerequisite("ous", "Each mapped OU exists")
    checks = [Check("Mapped OU Staff exists", True, "ok", "ous"), Check("Extra", False, "why"),
              Check("Mapped OU Labs exists", False, "not run: the bind failed", "ous")]
    assert merge_checks((reach, ous), checks) == [
        (None, "Reach", ""), (True, "Mapped OU Staff exists", "ok"),
        (None, "Mapped OU Labs exists", "not run: the bind failed"), (False, "Extra", "why")]
    assert merge_checks((reach,), []) == [(None, "Reach", "not checked yet")]


@pytest.mark.parametrize("value, shown", [(None, "never"), ("", "never"), ("1900-01-01T00:00:00", "never"),
                                          ("2024-05-01T02:03:04.123Z", "2024-05-01 02:03:04")])
def test_display_time(value, shown):
    from halointegrator.gui.integration_tab import display_time

    assert display_time(value) == shown


def test_local_values_keep_other_keys_and_drop_empty_ones():
    from halointegrator.gui.integration_tab import local_values
    from tests.gui_fixtures import LOCAL_SETTINGS

    typed = {"bind_password": " pw ", "ca_file": "", "use_tls": False, "server": " dc1 "}
    assert local_values(LOCAL_SETTINGS, typed, {"ca_file": "/old", "other": 1}) == {
        "other": 1, "bind_password": " pw ", "server": "dc1"}


def test_a_switch_left_at_its_default_is_not_stored():
    from halointegrator.gui.integration_tab import local_values
    from integrations.active_directory import LOCAL_SETTINGS as AD_SETTINGS

    assert local_values(AD_SETTINGS, {"starttls": True, "allow_plain_ldap": False}, {}) == {}
    assert local_values(AD_SETTINGS, {"starttls": False, "allow_plain_ldap": True}, {}) == {
        "starttls": False, "allow_plain_ldap": True}


@pytest.mark.gui
def test_a_switch_on_by_default_shows_ticked_when_nothing_is_stored():
    from halointegrator.gui.widgets import SettingsForm
    from integrations.active_directory import LOCAL_SETTINGS as AD_SETTINGS
    from tests.gui_fixtures import FakeDialogs, new_root

    root = new_root()
    try:
        form = SettingsForm(root, AD_SETTINGS, dialogs=FakeDialogs())
        form.set_values({})
        assert form.values()["starttls"] is True and form.values()["allow_plain_ldap"] is False
    finally:
        root.destroy()


def test_settings_from_values_converts_numbers_and_names_a_bad_one():
    from halointegrator.local.config import HaloSettings
    from halointegrator.errors import ConfigError
    from halointegrator.gui.config_tab import form_values, settings_from_values

    values = form_values(HaloSettings())
    assert values["timeout_seconds"] == "60" and values["verify_tls"] is True
    settings = settings_from_values(HaloSettings(), {**values, "web_app_url": " https://h.example ", "page_size": "50"})
    assert settings.web_app_url == "https://h.example" and settings.page_size == 50
    with pytest.raises(ConfigError, match="Page size"):
        settings_from_values(HaloSettings(), {**values, "page_size": "-1"})


def test_report_line_says_failure_counts_and_guards():
    from halointegrator.gui.processes_tab import report_line

    assert report_line(Report("x", "c", failure="LDAP down")) == "Failed: LDAP down"
    held = Report("x", "c", refused=["too many"])
    held.counts["create"] = 2
    assert report_line(held).startswith("create 2; 1 change set(s) held back")


def test_selftest_delay_reads_the_variable():
    from halointegrator.gui.app import selftest_delay

    assert selftest_delay({"HALO_SELFTEST_MS": "800"}) == 800
    assert selftest_delay({"HALO_SELFTEST_MS": "soon"}) is None
    assert selftest_delay({}) is None


def test_entra_prerequisites_show_each_check_once_beside_its_prerequisite():
    from halointegrator.gui.integration_tab import merge_checks
    from integrations.entra import checks as entra
    checks = [Check("App secret stored locally", True, "stored", "secret"),
              Check("Microsoft token obtained", True, "t", "token"), Check("User.Read.All granted", True, "ok", "users"),
              Check(entra.DEVICES.label, True, "devices can be read", "devices"),
              Check(entra.ASSET_TYPE.label, True, "asset type 1", "assettype"),
              Check("Group 'Sales' exists in Entra ID", True, "1 group(s)", "groups"),
              Check("Site 1 exists in Halo", True, "HQ", "sites")]
    rows = merge_checks(REGISTRY["azure_ad"].prerequisites, checks)
    assert [mark for mark, _label, _detail in rows] == [True] * len(checks)  # no dot left for a check that ran
    labels = [label for _mark, label, _detail in rows]
    assert labels.index("Default asset type chosen (devices)") < labels.index("Group 'Sales' exists in Entra ID") \
        < labels.index("Site 1 exists in Halo")


def test_a_failed_token_leaves_the_later_prerequisites_as_not_checked():
    from halointegrator.gui.integration_tab import merge_checks

    checks = [Check("Microsoft token obtained", False, "no", "token")]
    rows = merge_checks(REGISTRY["azure_ad"].prerequisites, checks)
    assert (None, "Each mapped group exists in Entra ID", "") in rows
