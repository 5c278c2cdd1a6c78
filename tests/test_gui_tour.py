"""HALO_SELFTEST_TOUR (halointegrator/gui/tour.py), which scripts/screenshots.py uses to photograph the real
program: every tab in turn with its button pressed, a handshake per screenshot, and never against a
Halo that is not on this computer (the tour presses Start Processing).

Run: .venv/bin/python -m pytest -q tests/test_gui_tour.py --xvfb-backend=xvfb
"""

from __future__ import annotations

import pytest

from halointegrator.gui.tour import Tour, is_local, tour_folder
from tests.gui_fixtures import FAKE, TICK, enable_connection, fill_halo, pump, saved_app

gui = pytest.mark.gui


@gui
def test_the_tour_shows_every_tab_with_its_work_done_and_waits_for_each_screenshot(make_app, sandbox, tmp_path):
    enable_connection(sandbox)
    app = saved_app(make_app, sandbox)
    folder = tmp_path / "tour"
    Tour(app, folder).start()
    seen = []

    def answer() -> bool:  # what scripts/screenshots.py does: a picture, then <name>.done
        for ready in sorted(folder.glob("*.ready")):
            if ready.stem not in seen:
                seen.append(ready.stem)
                shown = app.notebook.tab(app.notebook.select(), "text")
                assert not app.worker.busy and not app.processes_tab.running, ready.stem
                seen.append(shown)
                (folder / f"{ready.stem}.done").touch()
        return app.closed

    pump(app.root, answer, timeout=60)
    assert seen == ["1-configuration", "Configuration", "3-processes", "Processes", "2-fake-directory",
                    "Fake Directory"]
    assert {mark for mark, _text in app.config_tab.results.rows} == {TICK}
    assert app.processes_tab.last_result.exit_code == 0 and sandbox.records("users")
    assert app.integration_tabs[FAKE].results  # Check Configuration ran


@gui
def test_the_tour_refuses_a_halo_that_is_not_on_this_computer(make_app, tmp_path):
    app = make_app()
    fill_halo(app, type("Remote", (), {"url": "https://acme.halopsa.com", "client_id": "x", "tenant": ""})())
    app.save()
    Tour(app, tmp_path / "tour").start()
    pump(app.root, lambda: app.closed, timeout=10)
    assert app.exit_code == 2 and app.processes_tab.last_result is None
    assert not list((tmp_path / "tour").glob("*.ready"))


@pytest.mark.parametrize("url, local", [("http://127.0.0.1:8080", True), ("https://localhost", True),
                                        ("https://acme.halopsa.com", False), ("http://127.0.0.1.evil.example", False),
                                        ("", False)])
def test_only_loopback_addresses_are_local(url, local):
    assert is_local(url) is local


def test_tour_folder_reads_the_variable(tmp_path):
    assert tour_folder({"HALO_SELFTEST_TOUR": str(tmp_path)}) == tmp_path
    assert tour_folder({}) is None and tour_folder({"HALO_SELFTEST_TOUR": " "}) is None
