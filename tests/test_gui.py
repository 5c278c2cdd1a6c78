"""The window, driven under Xvfb against the Halo sandbox: tabs, Test/Check Configuration, Save, runs, closing.

Run: .venv/bin/python -m pytest -q tests/test_gui.py --xvfb-backend=xvfb
Screenshots of every tab land in HALO_SCREENSHOT_DIR (default test-artifacts/screenshots).
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from halointegrator import __version__, commands
from halointegrator.config import ConfigStore
from halointegrator.lock import RunLock
from halointegrator.logs import setup_logging
from halointegrator.model import Check, Report
from halointegrator.paths import lock_path_for
from sandbox.halo_server import HaloSandbox
from tests.gui_fixtures import (
    FAKE, FakeDialogs, Gate, enable_connection, fake_integration, fill_halo, idle, new_root, pump, screenshot,
)

REPO = Path(__file__).resolve().parent.parent
TICK, CROSS = "\u2714", "\u2718"
gui = pytest.mark.gui


@pytest.fixture
def sandbox():
    with HaloSandbox() as halo:
        yield halo


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    from halointegrator.gui.app import App

    made = []

    def make(registry=None, *, dialogs=None, **options):
        registry = {FAKE: fake_integration()} if registry is None else registry
        monkeypatch.setattr(commands, "registry", lambda: registry)  # the runner reads the same registry
        root = new_root()
        log = setup_logging(tmp_path / "logs")
        app = App(root, tmp_path / "HaloIntegrator.config", registry=registry, log=log, log_dir=tmp_path / "logs",
                  dialogs=dialogs or FakeDialogs(), **options)
        made.append(app)
        root.update()
        return app

    yield make
    for app in made:
        if not app.closed:
            app.destroy()


def saved_app(make_app, sandbox, **options):
    """A window with the sandbox's settings typed in and saved."""
    app = make_app(**options)
    fill_halo(app, sandbox)
    assert app.save(), app.dialogs.calls
    return app


def rows(app):
    return app.config_tab.results.rows


def log_text(app):
    return "\n".join(app.processes_tab.log_lines())


# --- the window ------------------------------------------------------------------------------------

@gui
def test_title_and_tabs_come_from_the_registry(make_app):
    app = make_app()
    assert app.root.title() == f"Halo Integrator {__version__}"
    tabs = [app.notebook.tab(tab, "text") for tab in app.notebook.tabs()]
    assert tabs == ["Configuration", "Fake Directory", "Processes"]


@gui
def test_an_empty_registry_still_has_configuration_and_processes(make_app):
    app = make_app(registry={})
    assert [app.notebook.tab(tab, "text") for tab in app.notebook.tabs()] == ["Configuration", "Processes"]


@gui
def test_advanced_section_opens_and_closes(make_app):
    app = make_app()
    assert not app.config_tab.advanced_shown
    app.config_tab.advanced_toggle.invoke()
    assert app.config_tab.advanced_shown
    app.config_tab.advanced_toggle.invoke()
    assert not app.config_tab.advanced_shown


@gui
def test_client_secret_is_masked_until_show_is_ticked(make_app):
    app = make_app()
    form = app.config_tab.basic
    entry = form.inputs["client_secret"]
    toggle = next(w for w in form.winfo_children() if "text" in w.keys() and w.cget("text") == "Show")
    assert entry.cget("show") == "\u2022"
    toggle.invoke()
    assert entry.cget("show") == ""
    toggle.invoke()
    assert entry.cget("show") == "\u2022"


# --- Test Configuration ----------------------------------------------------------------------------

@gui
def test_configuration_shows_ticks_for_a_good_setup(make_app, sandbox):
    app = make_app()
    fill_halo(app, sandbox)
    app.config_tab.test_button.invoke()
    idle(app)
    marks = [mark for mark, _text in rows(app)]
    assert marks and set(marks) == {TICK}, rows(app)
    text = "\n".join(t for _m, t in rows(app))
    assert "Halo version 2.184.21" in text and "administrator" in text


@gui
def test_configuration_shows_the_cross_for_a_wrong_secret(make_app, sandbox):
    app = make_app()
    fill_halo(app, sandbox, secret="wrong-secret-123")
    app.config_tab.test_button.invoke()
    idle(app)
    crossed = [text for mark, text in rows(app) if mark == CROSS]
    assert crossed and crossed[0].startswith("Client ID and secret accepted"), rows(app)
    assert all("wrong-secret-123" not in text for _m, text in rows(app))


@gui
def test_configuration_shows_the_cross_for_an_agent_that_is_not_an_administrator(make_app):
    with HaloSandbox(agent_is_admin=False) as halo:
        app = make_app()
        fill_halo(app, halo)
        app.config_tab.test_button.invoke()
        idle(app)
    crossed = [text for mark, text in rows(app) if mark == CROSS]
    assert len(crossed) == 1 and "not an administrator" in crossed[0], rows(app)


@gui
def test_a_number_that_is_not_one_is_a_plain_message(make_app):
    app = make_app()
    app.config_tab.advanced.variables["request_budget"].set("lots")
    app.config_tab.test_button.invoke()
    assert any("Request budget must be a whole number" in m for m in app.dialogs.of("error"))


# --- Save and unsaved changes ----------------------------------------------------------------------

@gui
def test_save_writes_an_encrypted_config_without_the_secret(make_app, sandbox):
    app = make_app()
    fill_halo(app, sandbox, secret="s3cret-value-for-the-file")
    assert app.notebook.tab(app.config_tab, "text") == "Configuration *"
    assert "Unsaved changes" in app.status.cget("text")
    app.config_tab.save_button.invoke()
    path = app.config_path
    assert path.exists() and b"s3cret-value-for-the-file" not in path.read_bytes()
    assert ConfigStore(path).load().halo.client_secret == "s3cret-value-for-the-file"
    assert app.notebook.tab(app.config_tab, "text") == "Configuration"
    assert not app.dirty


@gui
def test_save_refuses_settings_that_cannot_work(make_app):
    app = make_app()
    app.config_tab.basic.variables["web_app_url"].set("http://halo.example.com")
    assert not app.save()
    assert not app.config_path.exists()
    assert any("https" in message for message in app.dialogs.of("error"))


@gui
@pytest.mark.parametrize("answer, closed, saved", [(None, False, False), (False, True, False), (True, True, True)])
def test_closing_with_unsaved_changes_asks(make_app, sandbox, answer, closed, saved):
    app = make_app()
    fill_halo(app, sandbox)
    app.dialogs.answers = [answer]
    app.close()
    assert [kind for kind, _t, _m in app.dialogs.calls] == ["ask_yes_no_cancel"]
    assert app.closed is closed
    assert app.config_path.exists() is saved


@gui
def test_window_size_and_last_tab_are_remembered(make_app, sandbox):
    app = saved_app(make_app, sandbox)
    app.select_tab("processes")
    app.root.geometry("990x770")
    app.root.update()
    app.close()
    assert app.closed
    gui_state = ConfigStore(app.config_path).load().gui
    assert gui_state["tab"] == "processes" and gui_state["size"] == "990x770"
    again = make_app()
    assert again.current_tab() is again.processes_tab


@gui
def test_an_unreadable_config_is_reported_and_kept_aside_before_it_is_replaced(make_app, sandbox, tmp_path):
    (tmp_path / "HaloIntegrator.config").write_text("{ not json", encoding="utf-8")
    app = make_app()
    app.root.update()
    assert any("damaged" in message for message in app.dialogs.of("error"))
    fill_halo(app, sandbox)
    app.dialogs.answers = [True]  # keep it aside and save
    assert app.save()
    assert list(tmp_path.glob("HaloIntegrator.config.unreadable-*"))


# --- integration tab -------------------------------------------------------------------------------

@gui
def test_integration_tab_lists_connections_and_check_marks_a_disabled_one(make_app, sandbox):
    sandbox.add("ldapconnections", {"name": "Second domain", "halointegratorenabled": True,
                                    "halointegrator_lastsync": "2024-05-01T02:00:00Z",
                                    "halointegrator_lasterror": "bind failed"})
    app = saved_app(make_app, sandbox)
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)  # the first visit reads the connections
    assert len(tab.tree.get_children()) == 2
    tab.check_button.invoke()
    idle(app)
    first, second = (tab.tree.item(iid, "values") for iid in tab.tree.get_children())
    assert first[1].startswith("No: not enabled") and first[4] == CROSS
    assert second[1] == "Yes" and second[2] == "2024-05-01 02:00:00" and second[3] == "bind failed"
    tab.tree.selection_set(tab.tree.get_children()[0])
    app.root.update()
    assert tab.prerequisites.rows[0][0] == CROSS and "Enabled for the Halo Integrator" in tab.prerequisites.rows[0][1]
    assert any(line for line in app.processes_tab.log_lines() if "WARNING" in line and "not enabled" in line)
    assert any(line for line in app.processes_tab.log_lines() if "Bind password set on this computer" in line)


@gui
def test_local_settings_of_a_connection_are_saved_encrypted(make_app, sandbox):
    app = saved_app(make_app, sandbox)
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    form = tab.form
    assert form.inputs["bind_password"].cget("show") == "\u2022"
    form.variables["bind_password"].set("ldap-pa55word")
    form.variables["use_tls"].set(True)
    app.dialogs.files = ["/etc/ssl/ca.pem"]
    next(w for w in form.winfo_children() if "text" in w.keys() and w.cget("text") == "Browse\u2026").invoke()
    assert app.notebook.tab(tab, "text") == "Fake Directory *"
    tab.save_button.invoke()
    assert app.notebook.tab(tab, "text") == "Fake Directory"
    assert b"ldap-pa55word" not in app.config_path.read_bytes()
    stored = ConfigStore(app.config_path).load().connections[f"{FAKE}:1"]
    assert stored == {"bind_password": "ldap-pa55word", "use_tls": True, "ca_file": "/etc/ssl/ca.pem"}
    tab.check_button.invoke()
    idle(app)
    assert (TICK, "Bind password set on this computer: set") in tab.prerequisites.rows


# --- Processes -------------------------------------------------------------------------------------

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
    assert row[0] == "Fake Directory" and row[2] == "create 3"
    assert sorted(user["name"] for user in sandbox.records("users")) == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert sandbox.get("ldapconnections", 1).get("halointegrator_lastsync")


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
    assert row[2] == "would create 3"


@gui
def test_stop_ends_the_run_between_batches(make_app, sandbox):
    enable_connection(sandbox)
    gate = Gate()
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(sync=gate.sync)})
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
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(sync=gate.sync)})
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
    lines = processes.log_lines()
    assert len(lines) == MAX_LOG_LINES and lines[-1] == "Create user Ada"
    text = processes.log_text
    assert text.tag_names(f"{MAX_LOG_LINES - 2}.0") == ("warning",)
    assert text.tag_names(f"{MAX_LOG_LINES - 1}.0") == ("error",)
    assert text.tag_names(f"{MAX_LOG_LINES}.0") == ("change",)
    assert text.cget("state") == "disabled"


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


# --- every tab, for a person to look at --------------------------------------------------------------

@gui
def test_screenshots_of_every_tab(make_app, sandbox):
    enable_connection(sandbox)
    sandbox.add("ldapconnections", {"name": "Branch office domain", "halointegratorenabled": False})
    app = saved_app(make_app, sandbox)
    app.root.geometry("960x760+0+0")
    app.config_tab.test_button.invoke()
    idle(app)
    app.config_tab.toggle_advanced()
    assert screenshot(app.root, "1-configuration").stat().st_size > 0
    app.select_tab(FAKE)
    idle(app)
    app.integration_tabs[FAKE].check_button.invoke()
    idle(app)
    screenshot(app.root, "2-integration")
    app.select_tab("processes")
    app.processes_tab.preview_button.invoke()
    pump(app.root, lambda: not app.processes_tab.running)
    idle(app)
    screenshot(app.root, "3-processes")


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
    probe = ("import sys; from halointegrator import cli; code = cli.main(['AUTO', '--config', sys.argv[1]]); "
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

    checks = [Check("Enabled for the Halo Integrator", False, "not enabled"), Check("Bind", True, "ok"),
              Check("Extra", False, "why")]
    assert merge_checks(("Reach", "Bind"), checks) == [
        (False, "Enabled for the Halo Integrator", "not enabled"), (None, "Reach", ""), (True, "Bind", "ok"),
        (False, "Extra", "why")]
    assert merge_checks(("Reach",), []) == [(None, "Reach", "not checked yet")]


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
        "other": 1, "bind_password": " pw ", "use_tls": False, "server": "dc1"}


def test_settings_from_values_converts_numbers_and_names_a_bad_one():
    from halointegrator.config import HaloSettings
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
