"""The main window: Configuration | one tab per registered integration | Processes, over one worker.

``main()`` opens it; ``App`` is what the tests build, with the registry, config path, dialogs and
folder opener injected. The window keeps the in-memory ``Config`` the tabs edit, tells which tabs have
unsaved changes, saves the encrypted config, and reports errors: an ``IntegratorError`` as its plain
message, anything else as "Internal error: see the log file <path>" with the traceback in that file.
"""

from __future__ import annotations

import copy
import logging
import sys
import tkinter as tk
from pathlib import Path
from tkinter import ttk
from typing import Any, Callable

from halointegrator import PRODUCT_NAME, __version__
from halointegrator.engine.endpoint_approval import approvals_kept
from halointegrator.local.config import Config, ConfigStore, UnreadableSecrets, validate_halo_settings
from halointegrator.errors import EXIT_CONFIG, EXIT_OK, ConfigError, IntegratorError
from halointegrator.local.logs import add_handler, add_secret, current_log_file, remove_handler
from halointegrator.engine.model import Integration
from halointegrator.local.schedule import ScheduledTask, create_windows_task, task_for_this_program

from . import geometry
from .config_tab import ConfigTab
from .integration_tab import IntegrationTab
from .processes_tab import ProcessesTab
from .startup import selftest_delay, set_window_icon, window_log_dir
from .tour import Tour, tour_folder
from .widgets import Dialogs, make_dpi_aware, open_folder, use_native_theme
from .worker import QueueLogHandler, Worker

class GuiUnavailable(IntegratorError):
    """No display to open the window on (a server without a desktop)."""

    exit_code = EXIT_CONFIG


class App:
    """The window and the state the tabs share."""

    def __init__(
        self,
        root: tk.Tk,
        config_path: Path,
        *,
        registry: dict[str, Integration],
        log: logging.Logger,
        log_dir: Path,
        dialogs: Any = None,
        open_folder: Callable[[Path], None] = open_folder,
        platform: str = sys.platform,
        create_task: Callable[[ScheduledTask], str] = create_windows_task,
    ) -> None:
        self.root, self.config_path, self.registry = root, Path(config_path), dict(registry)
        self.log, self.log_dir, self.platform = log, Path(log_dir), platform
        self.dialogs = dialogs if dialogs is not None else Dialogs(root)
        self.open_folder, self.create_task = open_folder, create_task
        self.exit_code = EXIT_OK
        self.closing = self.closed = False
        self.statuses: dict[str, str] = {}  # each tab's status line: its own news and the window's
        self.store = ConfigStore(self.config_path)
        self.secrets_unreadable = False
        self.config, self.load_problem = self._load_config()
        self.saved_connections = copy.deepcopy(self.config.connections)
        root.title(f"{PRODUCT_NAME} {__version__}")
        root.report_callback_exception = self.report_callback_exception
        use_native_theme(root)
        self.worker = Worker(root, on_error=self.report_error, on_busy=self._busy_changed)
        self._build()
        self.log_handler = add_handler(QueueLogHandler(self.worker, self.processes_tab.append_log))
        self._restore_window()
        root.protocol("WM_DELETE_WINDOW", self.close)
        root.bind("<Control-s>", lambda _event: self.save())
        self.log.info("%s %s; configuration %s; logs in %s", PRODUCT_NAME, __version__, self.config_path, self.log_dir)
        if self.load_problem:
            root.after_idle(self._explain_load_problem)  # once the window is there to explain it in

    # --- building ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.root.minsize(*self.min_size())
        self.root.columnconfigure(0, weight=1)
        self.root.rowconfigure(0, weight=1)
        self.notebook = ttk.Notebook(self.root)
        self.notebook.grid(row=0, column=0, sticky="nsew", padx=6, pady=(6, 0))
        self.config_tab = ConfigTab(self.notebook, self)
        self.integration_tabs = {name: IntegrationTab(self.notebook, self, integration)
                                 for name, integration in self.registry.items()}
        self.processes_tab = ProcessesTab(self.notebook, self)
        self.tabs: dict[str, Any] = {"configuration": self.config_tab, **self.integration_tabs,
                                     "processes": self.processes_tab}
        for key, tab in self.tabs.items():
            underline = {"configuration": 0, "processes": 0}.get(key, -1)
            self.notebook.add(tab, text=tab.title, underline=underline)
        self.notebook.enable_traversal()  # Ctrl+Tab, and Alt+C / Alt+P
        self.notebook.bind("<<NotebookTabChanged>>", lambda _event: self._tab_changed())
        bar = ttk.Frame(self.root, padding=(8, 4))
        bar.grid(row=1, column=0, sticky="ew")
        bar.columnconfigure(0, weight=1)
        self.status = ttk.Label(bar, text="")
        self.status.grid(row=0, column=0, sticky="w")
        self.busy_label = ttk.Label(bar, text="")
        self.busy_label.grid(row=0, column=1, sticky="e")
        self.config_tab.load(self.config.halo)
        self.set_status(f"Configuration: {self.config_path}" if self.store.exists() else
                        "No configuration saved yet: fill in the Configuration tab, test it, then Save.")

    def _load_config(self) -> tuple[Config, str]:
        """The saved config and "" or, when it cannot be used, an empty one and the reason."""
        try:
            config = self.store.load()
        except UnreadableSecrets as error:
            self.secrets_unreadable = True
            return Config(), str(error)
        except ConfigError as error:
            return Config(), str(error)
        for note in self.store.notes:
            self.log.warning(note)
        self.register_secrets(config.secret_values())
        return config, ""

    def _explain_load_problem(self) -> None:
        """Say why the config could not be used; offer to open it without the secrets that cannot be read."""
        if not self.secrets_unreadable:
            self.dialogs.error(PRODUCT_NAME, self.load_problem)
            return
        question = f"{self.load_problem}\n\nOpen the other settings and re-enter the secrets now?"
        if not self.dialogs.ask_yes_no(PRODUCT_NAME, question):
            return
        try:
            config = self.store.load(discard_unreadable_secrets=True)
        except ConfigError as error:
            self.report_error(error)
            return
        self.config, self.load_problem, self.secrets_unreadable = config, "", False
        self.saved_connections = copy.deepcopy(config.connections)
        self.config_tab.load(config.halo)
        self.set_status("Re-enter the secrets that could not be decrypted, then Save.")

    # --- shared state ------------------------------------------------------------------------------
    def register_secrets(self, values: Any) -> None:
        for value in values:
            if value:
                add_secret(value)

    def halo_configured(self) -> bool:
        values = self.config_tab.values()
        return bool((values["web_app_url"] or values["api_url"]) and values["client_id"] and values["client_secret"])

    def working_config(self) -> Config:
        """A copy of the config with the settings as shown (saved or not) for the worker; ConfigError if unusable."""
        config = copy.deepcopy(self.config)
        config.halo = self.config_tab.settings()
        self.register_secrets(config.secret_values())
        return config

    def config_for_run(self) -> Config | None:
        """The config a run uses; asks to save unsaved changes first. None when the user cancels."""
        if self.dirty:
            answer = self.dialogs.ask_yes_no_cancel(
                "Unsaved changes", "Save the changes before processing?\n\n"
                "No runs with the settings as shown, without saving them.")
            if answer is None or (answer and not self.save()):
                return None
        try:
            return self.working_config()
        except ConfigError as error:
            self.report_error(error)
            return None

    @property
    def dirty(self) -> bool:
        return any(getattr(tab, "dirty", False) for tab in self.tabs.values())

    def refresh_dirty(self) -> None:
        """Mark tabs with unsaved changes with "*" and say so in the status line."""
        tabs = getattr(self, "tabs", {})
        for tab in tabs.values():
            if hasattr(tab, "dirty"):
                self.notebook.tab(tab, text=tab.title + (" *" if tab.dirty else ""))
        if tabs and self.dirty:
            self.set_status("Unsaved changes: press Save (Ctrl+S) to keep them.")

    def save(self) -> bool:
        """Store the encrypted config; False (after saying why) when it was not saved."""
        try:
            halo = self.config_tab.settings()
        except ConfigError as error:
            self.report_error(error)
            return False
        problems, warnings = validate_halo_settings(halo)
        if problems:
            self.dialogs.error("Not saved", " ".join(problems))
            return False
        if self.load_problem and not self._replace_unreadable():
            return False
        self.config.halo = halo
        self.config.gui = self.window_state()
        try:
            self._keep_approvals_on_disk()
            self.store.save(self.config)
        except ConfigError as error:
            self.report_error(error)
            return False
        self.register_secrets(self.config.secret_values())
        for note in self.store.notes + list(warnings):
            self.log.warning(note)
        self.config_tab.load(halo)
        self.saved_connections = copy.deepcopy(self.config.connections)
        for tab in self.tabs.values():
            if hasattr(tab, "show_local_settings"):
                tab.show_local_settings()  # with the approvals kept from the file
        self.refresh_dirty()
        self.set_status(f"Saved to {self.config_path}.")
        return True

    def _keep_approvals_on_disk(self) -> None:
        """Runs and checks write approved endpoints into the file, not into this window's config: keep them."""
        if not self.load_problem and self.store.exists():
            self.config.connections = approvals_kept(self.store, self.config.connections, self.saved_connections)

    def _replace_unreadable(self) -> bool:
        question = (f"The configuration file could not be read:\n{self.load_problem}\n\n"
                    "Keep that file aside as a copy and save these settings in its place?")
        if not self.dialogs.ask_yes_no("Replace the configuration?", question):
            return False
        if self.store.exists():
            kept = self.store.keep_aside("unreadable")
            self.log.warning("The unreadable configuration was kept as %s.", kept)
        self.load_problem = ""
        return True

    def scheduled_task(self) -> ScheduledTask:
        return task_for_this_program(self.config_path)

    # --- status and errors -------------------------------------------------------------------------
    def set_status(self, text: str, tab: Any = None) -> None:
        """The status line of ``tab`` (what its own buttons found) or, without one, of every tab (the
        window's news: saved, unsaved changes). Each tab shows its own when it is chosen."""
        tabs = getattr(self, "tabs", {})
        keys = [key for key, shown in tabs.items() if shown is tab] if tab is not None else list(tabs)
        for key in keys:
            self.statuses[key] = text
        if tab is None or tab is self.current_tab():
            self.status.configure(text=text)

    def _busy_changed(self, job: str) -> None:
        self.busy_label.configure(text=f"Working: {job}\u2026" if job else "")
        for tab in self.tabs.values():
            tab_busy = getattr(tab, "set_busy", None)
            if tab_busy:
                tab_busy(bool(job))

    def error_text(self, error: BaseException) -> str:
        if isinstance(error, IntegratorError):
            return str(error)
        return f"Internal error: see the log file {current_log_file() or self.log_dir}"

    def report_error(self, error: BaseException, *, dialog: bool = True, tab: Any = None) -> None:
        """A plain message for an expected error; "Internal error" and a logged traceback for a bug."""
        if isinstance(error, IntegratorError):
            self.log.error("%s", error)
        else:
            self.log.error("Internal error", exc_info=(type(error), error, error.__traceback__))
        self.set_status(self.error_text(error), tab=tab)
        if dialog and not self.closed:
            self.dialogs.error(PRODUCT_NAME, self.error_text(error))

    def show_error(self, error: BaseException) -> None:
        self.report_error(error)

    def report_callback_exception(self, kind: type, value: BaseException, traceback: Any) -> None:
        """Tk calls this for an exception in a callback: the same handling as everywhere else."""
        self.report_error(value)

    # --- window state ------------------------------------------------------------------------------
    def _tab_changed(self) -> None:
        tab = self.current_tab()
        key = next((key for key, shown in self.tabs.items() if shown is tab), "")
        self.status.configure(text=self.statuses.get(key, ""))
        if hasattr(tab, "on_shown"):
            tab.on_shown()

    def current_tab(self) -> Any:
        selected = self.notebook.select()
        return next((tab for tab in self.tabs.values() if str(tab) == selected), None)

    def select_tab(self, key: str) -> None:
        if key in self.tabs:
            self.notebook.select(self.tabs[key])

    def window_state(self) -> dict[str, Any]:
        self.root.update_idletasks()
        key = next((key for key, tab in self.tabs.items() if tab is self.current_tab()), "configuration")
        return {"size": f"{self.root.winfo_width()}x{self.root.winfo_height()}", "tab": key}

    def min_size(self) -> tuple[int, int]:
        return geometry.min_size(self.root)

    def _restore_window(self) -> None:
        width, height = geometry.restored_size(self.root, self.config.gui.get("size"))
        self.root.geometry(f"{width}x{height}")
        self.select_tab(str(self.config.gui.get("tab", "configuration")))

    def _remember_window(self) -> None:
        """Write the window size and tab into the saved config (only one that exists and reads)."""
        state = self.window_state()
        if state == self.config.gui or self.load_problem or not self.store.exists():
            return
        try:
            stored = self.store.load()
            stored.gui = state
            self.store.save(stored)
        except ConfigError as error:
            self.log.warning("Could not remember the window size: %s", error)

    # --- closing -----------------------------------------------------------------------------------
    def close(self) -> None:
        """The window's close button: ask about unsaved changes and a running run, then close cleanly."""
        if self.closing:
            return
        if self.dirty:
            answer = self.dialogs.ask_yes_no_cancel("Unsaved changes", "Save the changes before closing?")
            if answer is None or (answer and not self.save()):
                return
        if self.processes_tab.running:
            question = "A run is in progress. Stop it after the current batch and close the window?"
            if not self.dialogs.ask_yes_no("Close", question):
                return
            self.processes_tab.stop()
            self.closing = True
            self.set_status("Closing once the run has stopped\u2026")
            self._close_when_idle()
            return
        self.destroy()

    def _close_when_idle(self) -> None:
        if self.processes_tab.running:
            self.root.after(100, self._close_when_idle)
        else:
            self.destroy()

    def destroy(self) -> None:
        """Close now, without questions (after close() asked them, or from the self-test timer)."""
        if self.closed:
            return
        self.closing = True
        try:
            self._remember_window()
        finally:
            self.closed = True
            remove_handler(self.log_handler)
            self.worker.stop(timeout=2.0)  # a read still in progress is abandoned: nothing waits on it
            self.root.destroy()


def main(config_path: Path | None = None) -> int:
    """Open the window; returns the exit code when it is closed."""
    from halointegrator.app.services import default_registry
    from halointegrator.local.logs import setup_logging
    from halointegrator.local.paths import default_config_path

    make_dpi_aware()
    config_path = Path(config_path) if config_path else default_config_path()
    log_dir, note = window_log_dir(config_path)
    log = setup_logging(log_dir)
    if note:
        log.warning(note)
    try:
        root = tk.Tk()
    except tk.TclError as error:
        unavailable = GuiUnavailable(f"Cannot open the window ({error}). On a computer without a desktop, use "
                                     "HaloIntegrator CONFIGURE, CHECK and AUTO instead (HaloIntegrator --help).")
        log.error("%s", unavailable)
        raise unavailable from None
    set_window_icon(root)
    app = App(root, config_path, registry=default_registry(), log=log, log_dir=log_dir)
    delay = selftest_delay()
    if delay is not None:
        root.after(delay, app.destroy)
    folder = tour_folder()
    if folder is not None:
        Tour(app, folder).start()
    root.mainloop()
    return app.exit_code
