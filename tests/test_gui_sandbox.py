"""The window with the real integrations against real servers: Check Configuration against slapd as an
admin sees it, and every tab against the whole sandbox (Halo, Graph, OpenLDAP) for the screenshots that
README shows (docs/screenshots/linux/; regenerate them with
HALO_SCREENSHOT_DIR=docs/screenshots/linux .venv/bin/python -m pytest -q tests/test_gui_sandbox.py
--xvfb-backend=xvfb -k screenshots).

Run: .venv/bin/python -m pytest -q tests/test_gui_sandbox.py --xvfb-backend=xvfb
"""

from __future__ import annotations

import pytest

from halointegrator.engine.checking import prerequisites_of
from integrations import REGISTRY
from integrations.active_directory import checks as ad_checks
from sandbox.directory import connection_record
from tests.fixtures_directory import require_slapd
from tests.gui_fixtures import CROSS, DOT, TICK, idle, log_lines, pump, saved_app, screenshot

pytestmark = [pytest.mark.gui, pytest.mark.slapd]
AD = "active_directory"
SITES = [2, 3, 1]  # London, New York, Head Office in the sandbox's seed


def checked_ad_tab(make_app, sandbox, slapd):
    """The Active Directory tab after Check Configuration, with the CA file typed in and saved as a user would."""
    with sandbox.lock:
        sandbox.state["ldapconnections"][1] = connection_record(slapd, SITES, name="Head office domain")
    app = saved_app(make_app, sandbox, registry={AD: REGISTRY[AD]})
    tab = app.integration_tabs[AD]
    app.select_tab(AD)
    idle(app)
    tab.form.variables["ca_file"].set(slapd.ca_file)
    tab.save_button.invoke()
    tab.check_button.invoke()
    idle(app)
    return app, tab


def test_check_configuration_against_slapd_ticks_every_step(make_app, sandbox, slapd):
    app, tab = checked_ad_tab(make_app, sandbox, slapd)
    rows = tab.prerequisites.rows
    assert not [text for mark, text in rows if mark == CROSS], rows
    ticked = [text for mark, text in rows if mark == TICK]
    for step in prerequisites_of(REGISTRY[AD]):  # Halo's switches, then the directory step by step
        if step.key not in (ad_checks.OUS.key, ad_checks.SITES.key):
            assert any(text.startswith(step.label) for text in ticked), (step.label, rows)
    assert f"Bind with the connection's account: as {slapd.bind_dn}" in ticked
    for ou in ("Staff", "Contractors", "Labs"):
        assert any(text.startswith(f"Mapped OU {ou} exists") for text in ticked), rows
    assert sum(text.startswith("Site ") for text in ticked) == len(SITES)
    (values,) = [tab.tree.item(iid, "values") for iid in tab.tree.get_children()]
    assert values[1] == "Yes" and values[4] == TICK
    assert app.status.cget("text") == "Active Directory: 1 of 1 connection(s) ready."


def test_slapd_check_shows_each_mapped_ou_in_the_place_of_its_prerequisite(make_app, sandbox, slapd):
    """The defect of issue 17 (fixed by checks that name their prerequisite): a grey 'Each mapped OU
    exists' row stayed, and the real OU ticks came last."""
    _app, tab = checked_ad_tab(make_app, sandbox, slapd)
    rows = tab.prerequisites.rows
    assert [text for mark, text in rows if mark == DOT] == [], rows
    texts = [text for _mark, text in rows]
    bind = next(number for number, text in enumerate(texts) if text.startswith("Bind with"))
    assert [text.split(" exists")[0] for text in texts[bind + 1:bind + 4]] == [
        "Mapped OU Staff", "Mapped OU Contractors", "Mapped OU Labs"], rows
    assert all(text.startswith("Site ") for text in texts[bind + 4:]), rows


# --- every tab with data, for README ---------------------------------------------------------------

def test_screenshots_of_every_tab_against_the_sandbox(make_app, tmp_path):
    from sandbox.__main__ import sandbox_world

    require_slapd()
    with sandbox_world(tmp_path / "sandbox", users=240, ldap_users=90) as world:
        app = make_app(registry=REGISTRY, config_path=world.config)
        app.root.geometry(f"{min(960, app.root.winfo_screenwidth())}x{min(760, app.root.winfo_screenheight())}+0+0")
        app.config_tab.test_button.invoke()
        idle(app)
        assert {mark for mark, _text in app.config_tab.results.rows} == {TICK}, app.config_tab.results.rows
        screenshot(app.root, "sandbox-1-configuration")
        app.select_tab("processes")
        app.processes_tab.start_button.invoke()
        pump(app.root, lambda: not app.processes_tab.running, timeout=240)
        idle(app)
        assert app.processes_tab.last_result.exit_code == 0, log_lines(app)[-20:]
        screenshot(app.root, "sandbox-4-processes")
        for number, name in ((2, AD), (3, "azure_ad")):
            tab = app.integration_tabs[name]
            app.select_tab(name)
            idle(app)
            tab.check_button.invoke()
            idle(app)
            (values,) = [tab.tree.item(iid, "values") for iid in tab.tree.get_children()]
            assert values[1] == "Yes" and values[2] != "never" and values[4] == TICK, values
            screenshot(app.root, f"sandbox-{number}-{name.replace('_', '-')}")
        assert app.dialogs.of("error") == []
