"""The window under Xvfb against the Halo sandbox: tabs, Test/Check Configuration, Save, closing, screenshots.

Run: .venv/bin/python -m pytest -q tests/test_gui.py tests/test_gui_processes.py --xvfb-backend=xvfb
Screenshots of every tab land in HALO_SCREENSHOT_DIR (default test-artifacts/screenshots).
"""

from __future__ import annotations

import pytest

from halointegrator import __version__
from halointegrator.local.config import ConfigStore
from sandbox.halo_server import HaloSandbox
from tests.gui_fixtures import (
    CROSS, FAKE, TICK, FakeDialogs, enable_connection, fill_halo, idle, log_lines, pump, rows, saved_app, new_root,
    screenshot,
)

gui = pytest.mark.gui


def fit_screen(root, width=960, height=760):
    """The usual window size, or the screen's when Xvfb's is smaller (pytest-xvfb's default is 800x600)."""
    root.geometry(f"{min(width, root.winfo_screenwidth())}x{min(height, root.winfo_screenheight())}+0+0")


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
def test_control_s_saves_from_the_keyboard(make_app, sandbox):
    app = make_app()
    fill_halo(app, sandbox)
    entry = app.config_tab.basic.inputs["client_id"]
    app.root.deiconify()
    app.root.update()
    entry.focus_force()
    app.root.update()
    entry.event_generate("<Control-s>", when="tail")
    app.root.update()
    assert app.config_path.exists() and not app.dirty


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


@gui
def test_a_config_whose_secrets_cannot_be_decrypted_opens_without_them(make_app, sandbox, tmp_path):
    first = saved_app(make_app, sandbox)
    first.destroy()
    (tmp_path / "HaloIntegrator.key").unlink()  # e.g. the config was copied without its key
    dialogs = FakeDialogs()
    dialogs.answers = [True]  # open the rest and re-enter the secrets
    app = make_app(dialogs=dialogs)
    app.root.update()
    (question,) = dialogs.of("ask_yes_no")
    assert "key file" in question and "sandbox-secret" not in question
    assert app.config_tab.values()["web_app_url"] == sandbox.url
    assert app.config_tab.values()["client_secret"] == ""
    app.config_tab.basic.variables["client_secret"].set("sandbox-secret")
    assert app.save()
    assert list(tmp_path.glob("HaloIntegrator.config.unreadable-*"))
    assert ConfigStore(app.config_path).load().halo.client_secret == "sandbox-secret"


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
    assert any(line for line in log_lines(app) if "WARNING" in line and "not enabled" in line)
    assert any(line for line in log_lines(app) if "Bind password set on this computer" in line)


@gui
def test_local_settings_of_a_connection_are_saved_encrypted(make_app, sandbox):
    enable_connection(sandbox)  # a disabled connection's checks are skipped, never run
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



# --- every tab, for a person to look at --------------------------------------------------------------

@gui
def test_screenshots_of_every_tab(make_app, sandbox):
    enable_connection(sandbox)
    sandbox.add("ldapconnections", {"name": "Branch office domain", "halointegratorenabled": False})
    app = saved_app(make_app, sandbox)
    fit_screen(app.root)
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


@gui
def test_the_real_integrations_get_their_tabs_and_checks(make_app, sandbox):
    from integrations import REGISTRY

    app = saved_app(make_app, sandbox, registry=REGISTRY)
    fit_screen(app.root)
    titles = [app.notebook.tab(tab, "text") for tab in app.notebook.tabs()]
    assert titles == ["Configuration", *(integration.title for integration in REGISTRY.values()), "Processes"]
    for number, (name, tab) in enumerate(app.integration_tabs.items(), start=4):
        app.select_tab(name)
        idle(app)
        tab.check_button.invoke()
        idle(app)
        listed = [tab.tree.item(iid, "values") for iid in tab.tree.get_children()]
        if name == "sql_import":  # Halo lists only the SQL imports enabled for the Integrator: the seed's are not
            assert listed == [] and tab.prerequisites.rows[0][1].startswith("No SQL imports connection in Halo")
            screenshot(app.root, f"{number}-{name}")
            continue
        (values,) = listed
        first_mark, first_text = tab.prerequisites.rows[0]
        if name == "powershell":  # no switch in Halo: the seed's script allows only another Integrator
            assert values[1].startswith("No: Halo allows only other") and values[4] == CROSS  # cut to fit, and
            assert "Halo allows only other Integrator client ids" in tab.connection_note.cget("text")  # whole below
            assert first_mark == CROSS and first_text.startswith("Allows this Integrator's client id"), \
                tab.prerequisites.rows
        else:
            assert values[1].startswith("No: not enabled") and values[4] == CROSS  # the seed's connections are off
            assert first_mark == CROSS and first_text.startswith("Enabled for the Halo Integrator"), \
                tab.prerequisites.rows
        screenshot(app.root, f"{number}-{name}")
    assert app.dialogs.of("error") == []


@pytest.mark.gui
def test_window_icon_is_the_halo_icon():
    from halointegrator.gui.app import set_window_icon

    root = new_root()
    try:
        photo = set_window_icon(root)
        assert photo is not None and photo.width() >= 48
    finally:
        root.destroy()


@pytest.mark.gui
def test_save_accepts_the_address_test_configuration_called_valid(make_app):
    app = make_app()
    app.config_tab.basic.variables["web_app_url"].set("acme.halopsa.com")
    app.config_tab.basic.variables["client_id"].set("id")
    app.config_tab.basic.variables["client_secret"].set("secret-1")
    assert app.save(), app.dialogs.calls
    assert ConfigStore(app.config_path).load().halo.web_app_url == "https://acme.halopsa.com"
