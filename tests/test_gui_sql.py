"""The window's SQL tabs with data: Halo's SQL imports and Lansweeper reaching the PostgreSQL sandbox,
Check Configuration run from the tab (under Xvfb: --xvfb-backend=xvfb)."""

from __future__ import annotations

import pytest

from integrations.sql.declarations import INTEGRATIONS
from sandbox.database import halo_sql_records
from tests.gui_fixtures import CROSS, TICK, idle, saved_app, screenshot

pytestmark = [pytest.mark.gui, pytest.mark.postgres]
SQL_REGISTRY = {integration.name: integration for integration in INTEGRATIONS}


def seed(sandbox, postgres) -> None:
    records = halo_sql_records(postgres)
    with sandbox.lock:
        sandbox.state["control"][1].update(records["control"][0])
        sandbox.state["control"][1]["halointegrator_lansweeper_lastsync"] = "2026-11-30T02:00:00Z"
        sandbox.state["sqlimports"].clear()
        for record in records["sqlimports"]:
            sandbox.add("sqlimports", {**record, "halointegrator_lastsync": "2026-11-30T03:00:00Z",
                                       "halointegrator_lasterror": ""})
    sandbox.state["sqlimports"][12]["halointegrator_lasterror"] = "The query failed in the database"


def fit(root) -> None:
    root.geometry(f"{min(960, root.winfo_screenwidth())}x{min(760, root.winfo_screenheight())}+0+0")


def test_the_sql_imports_tab_lists_each_enabled_import_and_checks_it_against_the_database(make_app, sandbox,
                                                                                          postgres) -> None:
    seed(sandbox, postgres)
    app = saved_app(make_app, sandbox, registry=SQL_REGISTRY)
    fit(app.root)
    tab = app.integration_tabs["sql_import"]
    app.select_tab("sql_import")
    idle(app)
    listed = [tab.tree.item(iid, "values") for iid in tab.tree.get_children()]
    assert [(row[0], row[1], row[2], row[3]) for row in listed] == [
        ("Lansweeper printers", "Yes", "2026-11-30 03:00:00", ""),
        ("HR people", "Yes", "2026-11-30 03:00:00", "The query failed in the database")]
    tab.check_button.invoke()
    idle(app)
    assert [tab.tree.item(iid, "values")[4] for iid in tab.tree.get_children()] == [TICK, TICK]
    rows = tab.prerequisites.rows
    assert all(mark == TICK for mark, _text in rows), rows
    texts = [text for _mark, text in rows]
    assert any(text.startswith("ODBC driver installed: 'PostgreSQL Unicode'") for text in texts)
    assert any(text.startswith("Query runs and returns the key column: columns serialnumber") for text in texts)
    assert any(text.startswith("Default site exists in Halo: site 1") for text in texts)
    screenshot(app.root, "sql-imports-checked")
    tab.tree.selection_set("12")
    app.root.update()
    assert tab.prerequisite_box.cget("text") == "Prerequisites: HR people"
    assert any(text.startswith("Query runs and returns the key column: columns email, fullname, office, phone")
               for _mark, text in tab.prerequisites.rows)
    assert app.dialogs.of("error") == []


def test_a_wrong_password_on_this_computer_is_the_login_cross(make_app, sandbox, postgres) -> None:
    seed(sandbox, postgres)
    with sandbox.lock:
        del sandbox.state["sqlimports"][11]["sisqlpassword"]  # Halo does not return it: the local one is used
    app = saved_app(make_app, sandbox, registry=SQL_REGISTRY)
    tab = app.integration_tabs["sql_import"]
    app.select_tab("sql_import")
    idle(app)
    tab.tree.selection_set("11")
    app.root.update()
    tab.form.variables["password"].set("not the password")
    tab.save_button.invoke()
    tab.check_button.invoke()
    idle(app)
    tab.tree.selection_set("11")
    app.root.update()
    marks = {text.split(":")[0]: mark for mark, text in tab.prerequisites.rows}
    assert marks["Database server answers"] == TICK and marks["Login accepted"] == CROSS
    login = next(text for _mark, text in tab.prerequisites.rows if text.startswith("Login accepted"))
    assert "refused the SQL login" in login and "not the password" not in login


def test_the_lansweeper_tab_shows_the_last_sync_halo_keeps_on_the_control_record(make_app, sandbox, postgres) -> None:
    seed(sandbox, postgres)
    app = saved_app(make_app, sandbox, registry=SQL_REGISTRY)
    tab = app.integration_tabs["lansweeper"]
    app.select_tab("lansweeper")
    idle(app)
    (values,) = [tab.tree.item(iid, "values") for iid in tab.tree.get_children()]
    assert values[2] == "2026-11-30 02:00:00"
