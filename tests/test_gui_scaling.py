"""The window at Windows' 150 % (144 DPI) as at 100 %: Tk scales the fonts, and every size the window
gives in pixels (column widths, wrap lengths, its own size, paddings, table rows) follows.

Tk's scaling is set as Windows' would make it (pixels per point: 96/72 at 100 %, 144/72 at 150 %).
Run: .venv/bin/python -m pytest -q tests/test_gui_scaling.py --xvfb-backend=xvfb
"""

from __future__ import annotations

from tkinter import font as tkfont
from tkinter import ttk

import pytest

from tests.gui_fixtures import AT_100, AT_150, FAKE, idle, saved_app

gui = pytest.mark.gui


def table_of(make_app, sandbox, scaling):
    sandbox.add("ldapconnections", {"name": "Synced domain", "halointegratorenabled": True,
                                    "halointegrator_lastsync": "2026-12-01T09:00:00Z"})
    app = saved_app(make_app, sandbox, scaling=scaling)
    app.select_tab(FAKE)
    idle(app)
    return app, app.integration_tabs[FAKE].tree


@gui
@pytest.mark.parametrize("scaling", [AT_100, AT_150], ids=["100%", "150%"])
def test_the_connection_table_fits_its_text_at_any_scaling(make_app, sandbox, scaling):
    app, tree = table_of(make_app, sandbox, scaling)
    heading, cells = tkfont.nametofont("TkHeadingFont"), tkfont.nametofont("TkDefaultFont")
    assert int(tree.column("check", "width")) > heading.measure("Check")
    (synced,) = [iid for iid in tree.get_children() if tree.set(iid, "last_sync") != "never"]
    assert int(tree.column("last_sync", "width")) > cells.measure(tree.set(synced, "last_sync"))
    assert int(ttk.Style(app.root).lookup("Treeview", "rowheight")) >= cells.metrics("linespace") + 2


@gui
def test_column_widths_grow_with_the_scaling(make_app, sandbox):
    widths = {}
    for scaling in (AT_100, AT_150):
        app, tree = table_of(make_app, sandbox, scaling)
        widths[scaling] = {key: int(tree.column(key, "width")) for key in ("enabled", "last_sync", "check")}
        app.destroy()
    for key, width in widths[AT_100].items():
        assert widths[AT_150][key] >= 1.35 * width, (key, widths)


@gui
@pytest.mark.parametrize("scaling, factor", [(AT_100, 1.0), (AT_150, 1.5)], ids=["100%", "150%"])
def test_window_size_wrap_lengths_and_bar_follow_the_scaling(make_app, scaling, factor):
    app = make_app(scaling=scaling)  # one scaling per test: Tk keeps one scaling per display
    app.root.update()
    # the screen less the window's frame and title bar and the taskbar
    room = (app.root.winfo_screenwidth() - round(24 * factor), app.root.winfo_screenheight() - round(96 * factor))
    assert app.min_size() == (min(round(780 * factor), room[0]), min(round(600 * factor), room[1]))
    wanted = round(960 * factor), round(760 * factor)
    assert (app.root.winfo_width(), app.root.winfo_height()) == (min(wanted[0], room[0]), min(wanted[1], room[1]))
    helps = [widget for widget in app.config_tab.basic.winfo_children()
             if "wraplength" in widget.keys() and str(widget.cget("foreground")) == "#6b6b6b"]
    assert helps and {int(str(widget.cget("wraplength"))) for widget in helps} == {round(300 * factor)}
    assert int(str(app.processes_tab.progress.cget("length"))) == round(260 * factor)
