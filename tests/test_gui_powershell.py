"""The PowerShell scripts tab, built from the declaration alone, against the Halo sandbox with the stand-in
powershell / pwsh on PATH: Halo's scripts, which this Integrator may run, Check Configuration's ticks."""

from __future__ import annotations

import os

import pytest

from integrations.powershell import INTEGRATION, NAME
from integrations.powershell.checks import SCRIPT_FILE
from tests.gui_fixtures import CROSS, TICK, idle, saved_app, screenshot
from tests.powershell_standin import install, script_text

pytestmark = [pytest.mark.gui, pytest.mark.skipif(os.name == "nt", reason="the stand-in is a POSIX script")]


def test_the_powershell_tab_lists_the_scripts_and_checks_the_one_we_may_run(make_app, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{install(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    script = tmp_path / "New-User.ps1"
    script.write_text(script_text(stdout="done\n"), encoding="utf-8")
    sandbox.add("powershellscripts", {"id": 7, "name": "Onboard", "location": str(script),
                                      "halointegrator_allowedclientids": sandbox.client_id,
                                      "fieldmappings_powershell": [{"pssid": 7, "parametername": "FullName"}]})
    sandbox.add("powershellqueue", {"id": 70, "pssid": 7, "faultid": 12, "processed": False})
    app = saved_app(make_app, sandbox, registry={NAME: INTEGRATION})
    app.root.geometry(f"{min(960, app.root.winfo_screenwidth())}x{min(760, app.root.winfo_screenheight())}+0+0")
    tab = app.integration_tabs[NAME]
    app.select_tab(NAME)
    idle(app)
    tab.shared_form.variables["script_folder"].set(str(tmp_path))  # once, for every script
    assert app.config.connections["powershell:*"] == {"script_folder": str(tmp_path)}
    assert app.save(), app.dialogs.calls
    tab.check_button.invoke()
    idle(app)
    shown = {tab.tree.item(iid, "values")[0]: tab.tree.item(iid, "values") for iid in tab.tree.get_children()}
    assert shown["Onboard (script 7)"][1] == "Yes" and shown["Onboard (script 7)"][4] == TICK
    assert shown["New AD user (example) (script 1)"][1].startswith("No: Halo allows only other")  # cut to fit
    tab.tree.selection_set("7")
    app.root.update()
    rows = dict((text.partition(": ")[0], (mark, text.partition(": ")[2])) for mark, text in tab.prerequisites.rows)
    assert rows["PowerShell is installed on this server"][0] == TICK
    assert rows["PowerShell is installed on this server"][1].startswith("Windows PowerShell (powershell.exe) 5.1.19041")
    assert rows[SCRIPT_FILE.label] == (TICK, str(script))
    assert rows["Its parameter names are valid PowerShell parameter names"] == (TICK, "FullName")
    assert rows["Queued runs"][0] == TICK and rows["Queued runs"][1].startswith("1 queued run waits")
    assert [form_key for form_key in tab.form.variables] == ["timeout_minutes", "powershell_path"]
    assert sandbox.get("powershellqueue", 70)["processed"] is False  # checking runs nothing
    screenshot(app.root, "7-powershell-checked")
    tab.tree.selection_set("1")
    app.root.update()
    assert tab.prerequisites.rows[0][0] == CROSS and "another-integrator" in tab.prerequisites.rows[0][1]
    assert app.dialogs.of("error") == []
