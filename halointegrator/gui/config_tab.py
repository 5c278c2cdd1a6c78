"""The Configuration tab: the Halo connection (Web App URL, Client ID, Client Secret, advanced overrides),
Test Configuration with a tick or cross per step, and Save."""

from __future__ import annotations

import dataclasses
import tkinter as tk
from tkinter import ttk
from typing import Any, Mapping

from halointegrator.errors import ConfigError
from halointegrator.engine.model import Check, LocalSetting
from halointegrator.local.settings import HaloSettings, proxy_secrets

from . import jobs
from .widgets import GREY, ChecklistView, ScrollableFrame, SettingsForm, WrappingLabel, mark_of

INTEGRATOR_PAGE = "Configuration > Integrations > Halo Integrator"
BASIC_FIELDS = (
    LocalSetting("web_app_url", "Web App URL", "text", "Your Halo address, e.g. https://yourcompany.halopsa.com"),
    LocalSetting("client_id", "Client ID", "text", f"Shown in Halo under {INTEGRATOR_PAGE}"),
    LocalSetting("client_secret", "Client Secret", "secret", "Generated on the same page (Halo shows it once)"),
)
ADVANCED_FIELDS = (
    LocalSetting("api_url", "API URL", "text", "Blank: found from the Web App URL. Hosted Halo shows it on the module page"),
    LocalSetting("auth_url", "Auth URL", "text", "Blank: found from the Web App URL"),
    LocalSetting("tenant", "Tenant", "text", "Only for instances hosted by Halo"),
    LocalSetting("ca_bundle", "CA bundle", "path", "A PEM file, when a TLS-inspecting proxy signs the certificates"),
    LocalSetting("proxy", "Proxy", "secret", "e.g. http://proxy:3128 (masked: it may hold a password)"),
    LocalSetting("verify_tls", "Verify TLS certificates (keep on)", "bool", ""),
    LocalSetting("request_budget", "Request budget", "int", "Requests per window; hosted Halo allows 300 per 5 minutes"),
    LocalSetting("budget_window_seconds", "Budget window (s)", "int", ""),
    LocalSetting("page_size", "Page size", "int", "Records per page when reading Halo"),
    LocalSetting("timeout_seconds", "Timeout (s)", "float", "How long to wait for one answer from Halo"),
    LocalSetting("run_time_limit_minutes", "Run time limit (min)", "float",
                 "A run stops cleanly after this long, so a hung server cannot block the next scheduled runs"),
    LocalSetting("max_list_records", "Most records in one list", "int",
                 "A Halo list that will not end is refused past this many records"),
    LocalSetting("record_reads_per_run", "Record reads per run", "int",
                 "Halo records read one by one per run to settle what a list does not show"),
    LocalSetting("drift_checks_per_run", "Drift checks per run", "int",
                 "Owned records read in full per run to correct hand edits the lists do not show (0: none)"),
    LocalSetting("task_account", "Scheduled task's account", "text",
                 "Windows: the account the task runs as, when not yours; it is allowed into the files"),
)
FORM_FIELDS = BASIC_FIELDS + ADVANCED_FIELDS
URL_KEYS = ("web_app_url", "api_url", "auth_url")
NOT_TESTED = (None, "Not tested yet", "press Test Configuration")
# Words, not triangles: the fonts Windows falls back to under wine have no U+25B8, and showed a box.
SHOW_ADVANCED, HIDE_ADVANCED = "Show advanced settings", "Hide advanced settings"
STALE = (None, "Not tested with these settings",
         "they changed after the last test; press Test Configuration again")


def form_values(settings: HaloSettings) -> dict[str, Any]:
    """What the form shows for ``settings``: strings, and bools for the switches."""
    values: dict[str, Any] = {}
    for field in FORM_FIELDS:
        value = getattr(settings, field.key)
        values[field.key] = value if field.kind == "bool" else _number_text(value)
    return values


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_from_values(base: HaloSettings, values: Mapping[str, Any]) -> HaloSettings:
    """``base`` with the form's values; ConfigError naming the field when a number is not a number."""
    changes: dict[str, Any] = {}
    for field in FORM_FIELDS:
        if field.key not in values:
            continue
        value = values[field.key]
        if field.kind == "bool":
            changes[field.key] = bool(value)
        elif field.kind in ("int", "float"):
            changes[field.key] = _number(field, str(value))
        elif field.kind == "secret":
            changes[field.key] = str(value)  # a secret may legitimately start or end with a space
        else:
            changes[field.key] = with_scheme(str(value)) if field.key in URL_KEYS else str(value).strip()
    return dataclasses.replace(base, **changes)


def with_scheme(url: str) -> str:
    """A typed address without a scheme gets https://, as Test Configuration and the runs read it."""
    text = url.strip()
    return f"https://{text}" if text and "://" not in text else text


def _number(field: LocalSetting, text: str) -> int | float:
    convert = int if field.kind == "int" else float
    try:
        number = convert(text.strip())
    except ValueError:
        raise ConfigError(f"{field.label} must be a whole number, not '{text}'." if field.kind == "int"
                          else f"{field.label} must be a number of seconds, not '{text}'.") from None
    if number < 0:
        raise ConfigError(f"{field.label} cannot be negative.")
    return number


class ConfigTab(ttk.Frame):
    """Collects the Halo settings; Test runs on the worker, Save is the window's."""

    title = "Configuration"

    def __init__(self, parent: tk.Misc, app: Any) -> None:
        super().__init__(parent)
        self.app = app
        self._base = HaloSettings()
        self._saved_values: dict[str, Any] = form_values(self._base)
        self._testing: HaloSettings | None = None  # the settings of the test on the worker
        self._tested: tuple[HaloSettings, list] | None = None  # the settings tested last, and their rows
        self.scroller = ScrollableFrame(self)
        self.scroller.pack(fill="both", expand=True)
        self.body = self.scroller.body
        self.body.columnconfigure(0, weight=1)
        # The everyday fields, the buttons and the results first; the overrides few need below them.
        self._build_halo_box()
        self._build_buttons()
        self._build_results()
        self._build_advanced_box()

    def _build_halo_box(self) -> None:
        box = ttk.LabelFrame(self.body, text="Halo", padding=8)
        box.grid(row=0, column=0, sticky="ew")
        box.columnconfigure(0, weight=1)
        intro = (f"Copy these from Halo: {INTEGRATOR_PAGE}. Then press Test Configuration, and Save when "
                 "every step has a tick.")
        WrappingLabel(box, text=intro, foreground=GREY).grid(row=0, column=0, sticky="ew", pady=(0, 6))
        self.basic = SettingsForm(box, BASIC_FIELDS, dialogs=self.app.dialogs, on_change=self._changed)
        self.basic.grid(row=1, column=0, sticky="ew")

    def _build_advanced_box(self) -> None:
        self.advanced_toggle = ttk.Button(self.body, text=SHOW_ADVANCED, command=self.toggle_advanced)
        self.advanced_toggle.grid(row=3, column=0, sticky="w", pady=(10, 0))
        self.advanced_box = ttk.Frame(self.body, padding=8, relief="groove", borderwidth=2)
        self.advanced_box.columnconfigure(0, weight=1)
        self.advanced = SettingsForm(self.advanced_box, ADVANCED_FIELDS, dialogs=self.app.dialogs,
                                     on_change=self._changed)
        self.advanced.grid(row=0, column=0, sticky="ew")
        self.advanced_box.grid(row=4, column=0, sticky="ew", pady=(4, 0))
        self.advanced_box.grid_remove()

    def _build_buttons(self) -> None:
        row = ttk.Frame(self.body)
        row.grid(row=1, column=0, sticky="w", pady=10)
        self.test_button = ttk.Button(row, text="Test Configuration", command=self.test, underline=0)
        self.test_button.grid(row=0, column=0, padx=(0, 8))
        self.save_button = ttk.Button(row, text="Save", command=self.app.save, underline=0)
        self.save_button.grid(row=0, column=1)

    def _build_results(self) -> None:
        box = ttk.LabelFrame(self.body, text="Test results", padding=8)
        box.grid(row=2, column=0, sticky="ew")
        box.columnconfigure(0, weight=1)
        self.results = ChecklistView(box)
        self.results.grid(row=0, column=0, sticky="ew")
        self.results.show([NOT_TESTED])

    @property
    def advanced_shown(self) -> bool:
        return bool(self.advanced_box.winfo_manager())

    def toggle_advanced(self) -> None:
        if self.advanced_shown:
            self.advanced_box.grid_remove()
            self.advanced_toggle.configure(text=SHOW_ADVANCED)
        else:
            self.advanced_box.grid()
            self.advanced_toggle.configure(text=HIDE_ADVANCED)
            self.scroller.see(self.advanced_box)  # opened below the fold, it would look cut off

    def values(self) -> dict[str, Any]:
        return {**self.basic.values(), **self.advanced.values()}

    def load(self, settings: HaloSettings) -> None:
        """Show ``settings`` as the saved state (no unsaved-changes mark)."""
        self._base = settings
        self._saved_values = form_values(settings)
        self.basic.set_values(self._saved_values)
        self.advanced.set_values(self._saved_values)
        self._show_test_of_these_values()

    def _changed(self) -> None:
        self.app.refresh_dirty()
        self._show_test_of_these_values()

    def _show_test_of_these_values(self) -> None:
        """The last test's ticks only beside the settings it tested: after an edit they are replaced by a
        note that the settings are untested, and come back when the edit is undone."""
        if self._tested is None:
            return
        tested, rows = self._tested
        try:
            same = self.settings() == tested  # as the runs read them: "halo.example" is https://halo.example
        except ConfigError:  # a number half typed
            same = False
        shown = rows if same else [STALE]
        if shown != self.results.items:
            self.results.show(shown)

    @property
    def dirty(self) -> bool:
        return self.values() != self._saved_values

    def settings(self) -> HaloSettings:
        """The settings as typed; ConfigError when a number is not one."""
        return settings_from_values(self._base, self.values())

    def test(self) -> None:
        try:
            settings = self.settings()
        except ConfigError as error:
            self.app.show_error(error)
            return
        self.app.register_secrets([settings.client_secret, *proxy_secrets(settings.proxy)])
        self._testing, self._tested = settings, None
        self.results.show([(None, "Testing", "asking Halo\u2026")])
        self.app.worker.submit("Testing the configuration", lambda: jobs.test_halo(settings),
                               on_done=self.show_results, on_error=self._test_failed)

    def show_results(self, checks: list[Check]) -> None:
        rows = [(mark_of(check.ok, check.detail), check.label, check.detail) for check in checks]
        self._remember_test(rows)
        passed = all(check.ok for check in checks)
        self.app.set_status("Test Configuration passed." if passed else "Test Configuration found a problem.", tab=self)

    def _test_failed(self, error: BaseException) -> None:
        self._remember_test([(False, "Test Configuration could not finish", self.app.error_text(error))])
        self.app.report_error(error, dialog=False, tab=self)

    def _remember_test(self, rows: list) -> None:
        self._tested = (self._testing or self.settings(), rows)
        self.results.show(rows)
        self._show_test_of_these_values()  # edited while the test ran: it is already stale
