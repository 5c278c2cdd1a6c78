"""Helpers for the window's tests: a scripted dialog fake, fake integrations, pumping (the fixtures
``make_app`` and ``sandbox`` are in conftest.py).

The window is driven with ``invoke()`` and ``update()`` only (never ``mainloop``); waiting for the
worker means pumping ``update()`` until a condition holds, with a deadline so a hang fails the test.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import tkinter as tk
from pathlib import Path
from typing import Any, Callable

import pytest

from halointegrator.engine.model import (
    Check, ConnectionSource, Identity, Integration, KindRead, LocalSetting, Prerequisite, SourceRead, Wanted,
)
from halointegrator.errors import Cancelled
from halointegrator.halo.resources import users

FAKE = "fake_directory"
USER_KIND = users("third_party_guid")
FAKE_PEOPLE = (("fake-1", "Ada Lovelace"), ("fake-2", "Grace Hopper"), ("fake-3", "Alan Turing"))
PREREQUISITES = (Prerequisite("reachable", "Directory reachable"),
                 Prerequisite("password", "Bind password set on this computer"))
LOCAL_SETTINGS = (
    LocalSetting("bind_password", "Bind password", "secret", "Kept only on this computer"),
    LocalSetting("ca_file", "CA certificate file", "path", ""),
    LocalSetting("use_tls", "Use TLS", "bool", ""),
    LocalSetting("server", "Server", "text", ""),
)
WAIT_SECONDS = 30.0
TICK, CROSS, DOT = "\u2714", "\u2718", "\u2022"
AT_100, AT_150 = 96 / 72, 144 / 72  # Tk's scaling (pixels per point) at Windows' 100 % and 150 %
_DISPLAY_SCALING: dict[str, float] = {}  # the display's own, as the first root found it


class FakeDialogs:
    """Answers questions from a script and records every dialog; an unscripted question answers None."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.calls: list[tuple[str, str, str]] = []  # (kind, title, message)
        self.files: list[str] = []

    def _ask(self, kind: str, title: str, message: str) -> Any:
        self.calls.append((kind, title, message))
        return self.answers.pop(0) if self.answers else None

    def ask_yes_no_cancel(self, title: str, message: str) -> bool | None:
        return self._ask("ask_yes_no_cancel", title, message)

    def ask_yes_no(self, title: str, message: str) -> bool:
        return bool(self._ask("ask_yes_no", title, message))

    def error(self, title: str, message: str) -> None:
        self.calls.append(("error", title, message))

    def info(self, title: str, message: str) -> None:
        self.calls.append(("info", title, message))

    def open_file(self, title: str, initial: str = "") -> str:
        self.calls.append(("open_file", title, initial))
        return self.files.pop(0) if self.files else ""

    def of(self, kind: str) -> list[str]:
        return [message for called, _title, message in self.calls if called == kind]


def list_ldap_connections(halo: Any) -> list[dict]:
    answer = halo.get("LDAPConnection") or []  # a bare array: GET /api/LDAPConnection takes no paging
    return [dict(record) for record in (answer if isinstance(answer, list) else answer.get("records", []))]


def check_fake(ctx: Any, connection: dict) -> list[Check]:
    password = ctx.local_settings.get("bind_password")
    return [Check(PREREQUISITES[0].label, True, "the fake directory always answers", PREREQUISITES[0].key),
            Check(PREREQUISITES[1].label, bool(password), "set" if password else "enter it below and Save",
                  PREREQUISITES[1].key)]


def read_fake(ctx: Any, connection: dict) -> SourceRead:
    """Three people for Halo's users; the core plans and applies them (so a dry run logs "Would create")."""
    wanted = [Wanted(key, name, {"third_party_guid": key, "name": name, "site_id": 1}) for key, name in FAKE_PEOPLE]
    return SourceRead([KindRead(USER_KIND, wanted, Identity())])


def fake_integration(**changes: Any) -> Integration:
    fields = dict(name=FAKE, title="Fake Directory", description="Imports fake people into Halo users (tests only).",
                  connections=ConnectionSource("LDAPConnection", list_ldap_connections), prerequisites=PREREQUISITES,
                  local_settings=LOCAL_SETTINGS, check=check_fake, read=read_fake)
    fields.update(changes)
    return Integration(**fields)


class Gate:
    """A sync that says it started, then waits for Stop (the cancel event) as a real one does between batches."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.saw_cancel = threading.Event()

    def read(self, ctx: Any, connection: dict) -> SourceRead:
        self.started.set()
        ctx.log.info("Gate: waiting between batches")
        if ctx.cancel.wait(WAIT_SECONDS):
            self.saw_cancel.set()
            raise Cancelled("Stopped by the user between batches.")
        return SourceRead([])


def pump(root: tk.Misc, until: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    """Process Tk events until ``until()`` holds; fail the test past the deadline."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"the window did not get there within {timeout} s")
        root.update()
        time.sleep(0.005)  # let the worker thread run; nothing here waits on a timer


def idle(app: Any) -> None:
    """Pump until the worker has nothing left, and its last callbacks ran."""
    app.root.update()  # deliver queued events (a tab change starts a read) before looking
    pump(app.root, lambda: not app.worker.busy)
    app.root.update()


def new_root(scaling: float | None = None) -> tk.Tk:
    """A Tk root (at ``scaling`` pixels per point, e.g. AT_150); without a display the test skips, except
    in CI where it must fail."""
    try:
        root = tk.Tk()
    except tk.TclError as error:
        if os.environ.get("CI"):
            pytest.fail(f"No display for the GUI tests in CI ({error}): run pytest with --xvfb-backend=xvfb.")
        pytest.skip(f"no display: {error}")
    # Tk keeps one scaling per display, past the root that set it: every root sets the one it wants.
    _DISPLAY_SCALING.setdefault("default", float(root.tk.call("tk", "scaling")))
    root.tk.call("tk", "scaling", _DISPLAY_SCALING["default"] if scaling is None else scaling)
    return root


def fill_halo(app: Any, sandbox: Any, secret: str = "sandbox-secret") -> None:
    """Type the sandbox's Web App URL, client id and secret into the Configuration tab."""
    variables = app.config_tab.basic.variables
    variables["web_app_url"].set(sandbox.url)
    variables["client_id"].set(sandbox.client_id)
    variables["client_secret"].set(secret)
    app.config_tab.advanced.variables["tenant"].set(sandbox.tenant or "")


def enable_connection(sandbox: Any, connection_id: int = 1) -> None:
    with sandbox.lock:
        sandbox.state["ldapconnections"][connection_id]["halointegratorenabled"] = True


def screenshot(root: tk.Tk, name: str) -> Path | None:
    """Save a PNG of the window into HALO_SCREENSHOT_DIR (default test-artifacts/screenshots)."""
    folder = Path(os.environ.get("HALO_SCREENSHOT_DIR") or Path(__file__).resolve().parent.parent / "test-artifacts"
                  / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    root.deiconify()
    root.lift()
    for _ in range(5):
        root.update()
    window = root.wm_frame() or hex(root.winfo_id())
    target = folder / f"{name}.png"
    done = subprocess.run(["import", "-window", str(window), str(target)], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return target


def saved_app(make_app, sandbox, **options):
    """A window with the sandbox's settings typed in and saved."""
    app = make_app(**options)
    fill_halo(app, sandbox)
    assert app.save(), app.dialogs.calls
    return app


def rows(app):
    """(mark, text) of each Test Configuration step shown."""
    return app.config_tab.results.rows


def log_lines(app) -> list[str]:
    """The lines the Processes tab's log shows, as its text widget holds them."""
    return app.processes_tab.log_text.get("1.0", "end-1c").splitlines()


def log_text(app):
    return "\n".join(log_lines(app))
