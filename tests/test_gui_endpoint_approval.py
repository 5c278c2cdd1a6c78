"""The window and a locally kept secret's approved endpoint (engine/endpoint_approval.py).

The window keeps its config in memory while its runs (and a scheduled AUTO) write the approval into the
config file: a run must check the file's approval, and the window's Save must keep it. Review 2, finding 1.
The log is read from its records (``Records``), not the window's log: secrets other tests registered may
mask pieces of its lines.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from halointegrator.engine.endpoint_approval import APPROVED_ENDPOINT, APPROVED_ENDPOINT_SETTING, require_approved
from halointegrator.engine.model import SourceRead
from halointegrator.local.config import ConfigStore
from tests.gui_fixtures import FAKE, LOCAL_SETTINGS, enable_connection, fake_integration, idle, pump, saved_app

gui = pytest.mark.gui
KEY = f"{FAKE}:1"
DB1, EVIL = "SQL server=db1, port=1433", "SQL server=evil.example, port=1433"


class LocalSecretSource:
    """A source that does what the SQL and AD sources do before they send a locally kept secret."""

    def __init__(self) -> None:
        self.halo_names, self.sent_to = DB1, []

    def read(self, ctx: Any, connection: dict) -> SourceRead:
        require_approved(ctx, self.halo_names, "SQL password", "store the SQL password again")
        self.sent_to.append(self.halo_names)
        return SourceRead([])


class Records(logging.Handler):
    """The messages logged to the window's logger, unredacted (it does not propagate to caplog's root)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger("halointegrator")  # the window's logger (local.logs.setup_logging)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def window(make_app, sandbox, source: LocalSecretSource):
    enable_connection(sandbox)
    integration = fake_integration(read=source.read, local_settings=LOCAL_SETTINGS + (APPROVED_ENDPOINT_SETTING,))
    return saved_app(make_app, sandbox, registry={FAKE: integration})


def press(app, button) -> None:
    button.invoke()
    pump(app.root, lambda: not app.processes_tab.running)
    idle(app)


def approved_on_disk(app) -> str | None:
    return ConfigStore(app.config_path).load().connections.get(KEY, {}).get(APPROVED_ENDPOINT)


@gui
def test_a_second_run_in_the_same_window_sends_nothing_to_a_server_halo_changed_to(make_app, sandbox, records):
    """Start Processing approves db1 (in the file); a Halo editor then names their own server; Start
    Processing again in the same open window sends nothing there and keeps the file's approval."""
    source = LocalSecretSource()
    app = window(make_app, sandbox, source)
    press(app, app.processes_tab.start_button)
    assert source.sent_to == [DB1] and approved_on_disk(app) == DB1
    source.halo_names = EVIL  # changed in Halo by its editor
    press(app, app.processes_tab.start_button)
    assert source.sent_to == [DB1], "the local password went to the server Halo changed to"
    assert approved_on_disk(app) == DB1
    assert "changed in Halo since the SQL password was stored" in records.text


@gui
def test_saving_in_the_window_after_a_run_keeps_the_approved_endpoint(make_app, sandbox):
    """A run approved db1 (in the file); Save in the window, then an edit of another local setting and
    Save again: the approval stays in the file, and the form shows it."""
    source = LocalSecretSource()
    app = window(make_app, sandbox, source)
    press(app, app.processes_tab.start_button)
    assert app.save(), app.dialogs.calls
    assert approved_on_disk(app) == DB1
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    assert tab.form.variables[APPROVED_ENDPOINT].get() == DB1
    tab.form.variables["server"].set("dc1.example")
    tab.save_button.invoke()
    assert ConfigStore(app.config_path).load().connections[KEY] == {"server": "dc1.example", APPROVED_ENDPOINT: DB1}


@gui
def test_clearing_the_approved_server_in_the_window_is_saved(make_app, sandbox):
    """The way to re-approve a Windows login: empty the field, Save; the file's approval is then gone."""
    source = LocalSecretSource()
    app = window(make_app, sandbox, source)
    press(app, app.processes_tab.start_button)
    assert app.save(), app.dialogs.calls
    tab = app.integration_tabs[FAKE]
    app.select_tab(FAKE)
    idle(app)
    tab.form.variables[APPROVED_ENDPOINT].set("")
    tab.save_button.invoke()
    assert approved_on_disk(app) is None


@gui
def test_preview_of_a_never_approved_connection_approves_nothing(make_app, sandbox, records):
    """Preview reads as a real run would but approves no server: the first real run does, and says so."""
    source = LocalSecretSource()
    app = window(make_app, sandbox, source)
    press(app, app.processes_tab.preview_button)
    assert source.sent_to == [DB1] and approved_on_disk(app) is None
    assert "the first real run approves that server" in records.text
    source.halo_names = EVIL
    press(app, app.processes_tab.start_button)
    assert approved_on_disk(app) == EVIL  # trust on first (real) use
