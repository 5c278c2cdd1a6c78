"""What a Halo admin meets in the window's first hour (issue 17), under Xvfb against the Halo sandbox:
a failed run that looks failed, notes that say why a table is empty, columns and messages that are not
cut off, a status line per tab, Test ticks that belong to the settings shown, Last Sync after a run.

Run: .venv/bin/python -m pytest -q tests/test_gui_tabs.py --xvfb-backend=xvfb
"""

from __future__ import annotations

import tkinter as tk
from pathlib import Path
from tkinter import font as tkfont
from tkinter import ttk

import pytest

from halointegrator.engine.model import Check, ConnectionSource
from halointegrator.errors import HaloError
from tests.gui_fixtures import (
    CROSS, DOT, FAKE, PREREQUISITES, TICK, enable_connection, fake_integration, fill_halo, idle, pump, saved_app,
)

gui = pytest.mark.gui
LONG_FAILURE = ("Halo refused the request for the connections of this integration because the module is not "
                "licensed on this instance; ask Halo support to enable it, then run again (HTTP 403).")


def run_and_wait(app, button):
    button.invoke()
    pump(app.root, lambda: not app.processes_tab.running)
    idle(app)


def fully_shown(label: tk.Misc) -> bool:
    """A label shows all its text: it wraps within the width it got, and got the height it asked for."""
    label.update_idletasks()
    wrap = int(str(label.cget("wraplength")) or 0)
    return 0 < wrap <= label.winfo_width() and label.winfo_height() >= label.winfo_reqheight()


def refusing_listing(_halo):
    raise HaloError(LONG_FAILURE)


# --- Processes tab ---------------------------------------------------------------------------------

@gui
def test_a_failed_run_looks_failed_and_its_whole_message_is_readable(make_app, sandbox):
    refusing = fake_integration(connections=ConnectionSource("LDAPConnection", refusing_listing))
    app = saved_app(make_app, sandbox, registry={FAKE: refusing})
    app.select_tab("processes")
    processes = app.processes_tab
    run_and_wait(app, processes.start_button)
    assert processes.last_result.exit_code == 1
    assert str(processes.progress.cget("style")) == "Failed.Horizontal.TProgressbar"
    assert ttk.Style(app.root).lookup("Failed.Horizontal.TProgressbar", "background") == "#c62828"
    assert str(processes.stage.cget("foreground")) == "#c62828"
    assert LONG_FAILURE in processes.stage.cget("text")
    assert fully_shown(processes.stage), (processes.stage.cget("wraplength"), processes.stage.winfo_width())


@gui
def test_a_good_run_after_a_failed_one_looks_good_again(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    processes = app.processes_tab
    processes.show_stage("Not finished: broken", failed=True)
    run_and_wait(app, processes.preview_button)
    assert processes.last_result.exit_code == 0
    assert str(processes.progress.cget("style")) == "Horizontal.TProgressbar"
    assert str(processes.stage.cget("foreground")) == ""


@gui
def test_open_log_folder_without_a_file_manager_says_where_the_logs_are(make_app, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no xdg-open, as on a server without a desktop
    app = make_app()  # the real opener
    app.processes_tab.open_logs_button.invoke()
    (said,) = [message for _kind, _title, message in app.dialogs.calls]
    assert "xdg-open is not installed" in said and str(tmp_path / "logs") in said
    assert "Errno" not in said and app.dialogs.of("error") == []


def test_the_window_logs_where_its_scheduled_task_starts(tmp_path, monkeypatch):
    from halointegrator.gui.app import window_log_dir
    from halointegrator.local.schedule import task_for_this_program

    elsewhere = tmp_path / "started-from-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # e.g. a shortcut whose "Start in" is another folder
    config = tmp_path / "HaloIntegrator.config"
    folder, note = window_log_dir(config)
    assert folder == Path(task_for_this_program(config).start_in) / "logs" and note == ""
    assert not (elsewhere / "logs").exists()


# --- integration tabs ------------------------------------------------------------------------------

@gui
def test_an_empty_connection_table_says_why_before_anything_is_configured(make_app):
    app = make_app()
    app.select_tab(FAKE)
    app.root.update()
    tab = app.integration_tabs[FAKE]
    assert tab.tree.get_children() == ()
    assert tab.connection_note.cget("text").startswith("Fill in the Configuration tab")


@gui
def test_columns_fit_their_headings_and_a_long_reason_is_cut_with_its_whole_text_below(make_app, sandbox):
    sandbox.add("ldapconnections", {"name": "Synced domain", "halointegratorenabled": True,
                                    "halointegrator_lastsync": "2026-12-01T09:00:00Z"})
    app = saved_app(make_app, sandbox)
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    heading, cells = tkfont.nametofont("TkHeadingFont"), tkfont.nametofont("TkDefaultFont")
    for key in ("name", "enabled", "last_sync", "last_error", "check"):
        width = int(tab.tree.column(key, "width"))
        assert width >= heading.measure(tab.tree.heading(key, "text")) + 8, key
        for iid in tab.tree.get_children():
            assert cells.measure(tab.tree.set(iid, key)) + 8 <= width, (key, tab.tree.set(iid, key))
    disabled, synced = tab.tree.get_children()
    assert tab.tree.set(synced, "last_sync") == "2026-12-01 09:00:00"
    assert tab.tree.set(disabled, "enabled").startswith("No: not enabled")
    tab.tree.selection_set(disabled)
    app.root.update()
    assert "not run by this Integrator: not enabled for the Halo Integrator in Halo" in tab.connection_note.cget("text")


@gui
def test_a_connection_that_never_synced_is_not_said_to_have_synced_without_error(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    note = tab.connection_note.cget("text")
    assert "never synced" in note and "no error at the last sync" not in note, note


@gui
def test_after_start_processing_the_tab_shows_the_new_last_sync(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    (iid,) = tab.tree.get_children()
    assert tab.tree.set(iid, "last_sync") == "never"
    run_and_wait(app, app.processes_tab.start_button)
    idle(app)  # the refresh the run queued
    assert tab.tree.set(iid, "last_sync") not in ("never", "")
    assert "no error at the last sync" in tab.connection_note.cget("text")


def stops_at_the_token(_ctx, _connection):
    """Like Entra ID's checks: the steps after a failed one are not returned at all."""
    return [Check("Directory reachable", False, "the token was refused", PREREQUISITES[0].key)]


@gui
def test_checks_not_run_after_a_failed_step_say_so(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(check=stops_at_the_token)})
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    tab.check_button.invoke()
    idle(app)
    assert tab.prerequisites.rows[-1] == (DOT, "Bind password set on this computer: not run: "
                                                "'Directory reachable' failed")


@gui
def test_entra_checks_not_run_after_the_missing_app_secret_say_why(make_app, sandbox):
    from integrations import REGISTRY

    with sandbox.lock:
        sandbox.state["azureadconnections"][1]["halointegratorenabled"] = True
    app = saved_app(make_app, sandbox, registry={"azure_ad": REGISTRY["azure_ad"]})
    tab = app.integration_tabs["azure_ad"]
    app.select_tab("azure_ad")
    idle(app)
    tab.check_button.invoke()
    idle(app)
    rows = tab.prerequisites.rows
    secret = next(number for number, (_mark, text) in enumerate(rows) if text.startswith("App secret stored locally"))
    assert rows[secret][0] == CROSS and all(mark == TICK for mark, _text in rows[:secret]), rows
    later = rows[secret + 1:]  # the Graph steps need the secret; Halo's sites are checked without it
    assert [text for mark, text in later if mark == DOT and ": not run: " in text], rows
    assert all(mark == TICK or (mark == DOT and ": not run: " in text) for mark, text in later), rows


@gui
def test_the_status_line_belongs_to_the_tab_it_speaks_of(make_app, sandbox):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox, registry={FAKE: fake_integration(),
                                                 "other": fake_integration(name="other", title="Other Directory")})
    app.select_tab(FAKE)
    idle(app)
    app.integration_tabs[FAKE].check_button.invoke()
    idle(app)
    assert app.status.cget("text").startswith("Fake Directory: ")
    app.select_tab("other")
    idle(app)
    assert "Fake Directory" not in app.status.cget("text")
    app.select_tab(FAKE)
    app.root.update()
    assert app.status.cget("text").startswith("Fake Directory: ")


# --- Configuration tab -----------------------------------------------------------------------------

@gui
def test_ticks_of_the_last_test_leave_when_the_url_changes_and_come_back_when_it_is_undone(make_app, sandbox):
    app = make_app()
    fill_halo(app, sandbox)
    config = app.config_tab
    config.test_button.invoke()
    idle(app)
    ticks = list(config.results.rows)
    assert ticks and {mark for mark, _text in ticks} == {TICK}
    config.basic.variables["web_app_url"].set("https://acme.halopsa.com")
    assert [mark for mark, _text in config.results.rows] == [DOT]
    assert config.results.rows[0][1].startswith("Not tested with these settings")
    config.basic.variables["web_app_url"].set(sandbox.url)
    assert config.results.rows == ticks


@gui
def test_opening_advanced_shows_its_last_row(make_app):
    app = make_app()
    app.root.geometry("960x760")
    app.root.update()
    config = app.config_tab
    config.toggle_advanced()
    app.root.update()
    last = config.advanced.inputs["timeout_seconds"]
    canvas = config.scroller.canvas
    assert last.winfo_rooty() >= canvas.winfo_rooty()
    assert last.winfo_rooty() + last.winfo_height() <= canvas.winfo_rooty() + canvas.winfo_height()


# --- every button ----------------------------------------------------------------------------------

def buttons_of(widget):
    for child in widget.winfo_children():
        if isinstance(child, ttk.Button):
            yield child
        yield from buttons_of(child)


@gui
def test_long_buttons_have_room_beside_their_label(make_app, sandbox):
    from halointegrator.gui.widgets import px

    app = saved_app(make_app, sandbox)
    app.root.update_idletasks()
    font = tkfont.nametofont("TkDefaultFont")
    for button in buttons_of(app.root):
        side = (button.winfo_reqwidth() - font.measure(button.cget("text"))) / 2
        assert side >= px(app.root, 10), (button.cget("text"), side)
