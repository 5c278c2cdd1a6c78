"""HALO_SELFTEST_TOUR=<folder>: the window shows every tab in turn, its button pressed, for screenshots.

A test hook, like HALO_SELFTEST_MS: scripts/screenshots.py sets it to photograph the real program (from
source, or HaloIntegrator.exe under wine) against ``python -m sandbox --serve``. For each tab the window
presses its button (Test Configuration; Start Processing; Check Configuration), waits until the work is
done, writes ``<folder>/<name>.ready`` and waits for ``<folder>/<name>.done`` (the screenshot is taken)
before the next tab; then it closes. It runs only against a Halo on this computer: Start Processing
writes, and the tour must never write into somebody's real Halo.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

TOUR_VARIABLE = "HALO_SELFTEST_TOUR"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
POLL_MS = 100
SETTLE_MS = 1500  # after the work is done: time to draw it (wine on a busy machine lags behind Tk)
WAIT_FOR_SCREENSHOT_SECONDS = 120.0


def tour_folder(environ: Any = os.environ) -> Path | None:
    text = str(environ.get(TOUR_VARIABLE, "")).strip()
    return Path(text) if text else None


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class Tour:
    """Steps through the tabs on the Tk thread with after(); never blocks the window."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app, self.folder = app, Path(folder)
        keys = list(app.tabs)
        number = {key: position for position, key in enumerate(keys, start=1)}
        # Processing before the integration tabs, so they show the Last Sync it wrote.
        order = ["configuration", "processes"] + [key for key in keys if key in app.integration_tabs]
        self.steps = [(f"{number[key]}-{key.replace('_', '-')}", key) for key in order]

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        halo = self.app.config.halo
        if not is_local(halo.api_url or halo.web_app_url):
            self.app.log.error("%s is set, but Halo is not on this computer: the tour presses Start Processing, "
                               "so it runs only against the sandbox.", TOUR_VARIABLE)
            self.app.exit_code = 2
            self.app.root.after_idle(self.app.destroy)
            return
        self.app.root.after(SETTLE_MS, self._next)

    def _next(self) -> None:
        if not self.steps or self.app.closed:
            self.app.destroy()
            return
        name, key = self.steps.pop(0)
        self.app.select_tab(key)
        self._press(key)
        self._when(self._idle, lambda: self._shown(name, key))

    def _press(self, key: str) -> None:
        if key == "configuration":
            self.app.config_tab.test_button.invoke()
        elif key == "processes":
            self.app.processes_tab.start_button.invoke()
        else:
            self.app.integration_tabs[key].check_button.invoke()

    def _idle(self) -> bool:
        return not self.app.worker.busy and not self.app.processes_tab.running

    def _shown(self, name: str, key: str) -> None:
        if key == "configuration" and not self.app.config_tab.advanced_shown:
            self.app.config_tab.toggle_advanced()  # after the test: its results no longer move it down

        def ready() -> None:
            self.app.root.update_idletasks()
            (self.folder / f"{name}.ready").write_text(self.app.root.title(), encoding="utf-8")
            deadline = time.monotonic() + WAIT_FOR_SCREENSHOT_SECONDS
            done = self.folder / f"{name}.done"
            self._when(lambda: done.exists() or time.monotonic() > deadline, self._next)

        self.app.root.after(SETTLE_MS, ready)

    def _when(self, condition: Callable[[], bool], then: Callable[[], None]) -> None:
        if self.app.closed:
            return
        if condition():
            then()
        else:
            self.app.root.after(POLL_MS, lambda: self._when(condition, then))
