"""One tab per registered integration, built from its declaration alone.

It shows what the integration imports, Halo's connections of its kind (enabled for the Integrator or
not, Last Sync and Last Error as Halo holds them), the prerequisites with a tick or cross after Check
Configuration, and the local-only settings of the selected connection (saved encrypted in the config).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any, Mapping, Sequence

from halointegrator.errors import ConfigError
from halointegrator.engine.checking import prerequisites_of
from halointegrator.engine.endpoint_approval import after_store
from halointegrator.engine.model import Check, Integration, LocalSetting, Prerequisite
from halointegrator.engine.runner import Connection
from halointegrator.local.settings import connection_key, shared_key

from . import jobs
from .widgets import (
    CROSS, GREY, TICK, ChecklistView, ScrollableFrame, SettingsForm, WrappingLabel, mark_of, px, text_width,
)

# (key, heading, sample, widest): each column is as wide as its heading or sample in the font on screen,
# at least its cells need, at most ``widest`` pixels at 100 % (then the cell ends in "..." and the note
# under the table says it all). Name and Last Error take the room left.
COLUMNS = (("name", "Connection", "Sandbox Active Directory", 0),
           ("enabled", "Enabled for Integrator", "No: not enabled for the Halo", 300),
           ("last_sync", "Last Sync", "2026-12-01 09:00:00", 0),
           ("last_error", "Last Error", "Last Error", 0),
           ("check", "Check", TICK, 0))
STRETCH = ("name", "last_error")
CELL_PADDING = 16  # pixels at 100 % beside a cell's text
NEVER = "never"
ELLIPSIS = "\u2026"


def merge_checks(prerequisites: Sequence[Prerequisite], checks: Sequence[Check]) -> list[tuple[bool | None, str, str]]:
    """The rows of the prerequisite list: each declared prerequisite in order, with every result that
    names it (one per mapped OU, say) or a dot while not checked; then any result naming none."""
    by_key: dict[str, list[Check]] = {}
    for check in checks:
        by_key.setdefault(check.prerequisite, []).append(check)
    declared = {prerequisite.key for prerequisite in prerequisites}
    rows: list[tuple[bool | None, str, str]] = []
    for prerequisite in prerequisites:
        answers = by_key.get(prerequisite.key, [])
        if not answers:
            rows.append((None, prerequisite.label, "not checked yet" if not checks else ""))
        rows += [(mark_of(check.ok, check.detail), check.label, check.detail) for check in answers]
    rows += [(mark_of(check.ok, check.detail), check.label, check.detail) for check in checks
             if check.prerequisite not in declared]
    return rows


def explain_unchecked(rows: list[tuple[bool | None, str, str]]) -> list[tuple[bool | None, str, str]]:
    """After a check, a prerequisite nothing answered says why: a step before it failed (and an
    integration stops at it), or nothing checked it for this connection (e.g. no device import)."""
    explained, failed = [], ""
    for mark, label, detail in rows:
        if mark is None and not detail:
            detail = f"not run: {failed!r} failed" if failed else "not checked for this connection"
        failed = failed or (label if mark is False else "")
        explained.append((mark, label, detail))
    return explained


def fitted(text: str, width: int, font: str = "TkDefaultFont") -> str:
    """``text`` cut with "..." to fit ``width`` pixels in ``font``."""
    if text_width(text, font) <= width:
        return text
    while text and text_width(text + ELLIPSIS, font) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def display_time(value: Any) -> str:
    """Halo's date as a person reads it; Halo's empty date (1900-01-01) and none are "never"."""
    text = str(value or "").strip()
    if not text or text.startswith(("1900-01-01", "0001-01-01")):
        return NEVER
    return text.replace("T", " ").rstrip("Z").split(".")[0]


def connection_note(status: Connection) -> str:
    """The sentence under the table for the chosen connection: whether this Integrator runs it, and its
    last sync as Halo holds it (a connection never synced has no "last sync" to be error-free)."""
    record, source = status.record, status.integration.connections
    parts = [] if status.enabled else [f"not run by this Integrator: {status.reason}"]
    error = str(record.get(source.lasterror_field) or "")
    synced = display_time(record.get(source.lastsync_field))
    if error:
        parts.append(f"Last Error: {error}")
    elif synced == NEVER:
        parts.append("never synced by the Integrator")
    else:
        parts.append(f"no error at the last sync ({synced})")
    return f"{status.name}: " + "; ".join(parts) + ("" if parts[-1].endswith(".") else ".")


def local_values(settings: Sequence[LocalSetting], typed: Mapping[str, Any], kept: Mapping[str, Any]) -> dict[str, Any]:
    """The connection's stored local settings after an edit: other keys kept, empty values and switches
    left at their default dropped (so the integration's own default applies)."""
    result = {key: value for key, value in kept.items() if key not in typed}
    for setting in settings:
        value = typed.get(setting.key)
        if setting.kind == "bool":
            value = bool(value)
            if value == bool(setting.default):
                continue
        elif setting.kind != "secret":
            value = str(value or "").strip()
        if value not in ("", None):
            result[setting.key] = value
    return result


def meaningful(values: Mapping[str, Any]) -> dict[str, Any]:
    """Settings without the empty ones, for telling whether anything changed."""
    return {key: value for key, value in values.items() if value not in ("", None, False)}


class IntegrationTab(ttk.Frame):
    """The generic tab of one integration; everything it shows comes from the declaration and Halo."""

    def __init__(self, parent: tk.Misc, app: Any, integration: Integration) -> None:
        super().__init__(parent)
        self.app = app
        self.integration = integration
        self.title = integration.title
        self.statuses: dict[str, Connection] = {}
        self.results: dict[str, jobs.ConnectionCheck] = {}
        self.selected = ""  # iid of the connection whose details are shown
        self.loaded = False
        scroller = ScrollableFrame(self)
        scroller.pack(fill="both", expand=True)
        self.body = scroller.body
        self.body.columnconfigure(0, weight=1)
        WrappingLabel(self.body, text=integration.description).grid(row=0, column=0, sticky="ew", pady=(0, 8))
        self._build_connections()
        self._build_prerequisites()
        self._build_local_settings()
        self._build_shared_settings()
        self.show_prerequisites()

    def _build_connections(self) -> None:
        noun = self.integration.connections.noun
        box = ttk.LabelFrame(self.body, text=f"{self.integration.title}: {noun}s in Halo", padding=8)
        box.grid(row=1, column=0, sticky="nsew")
        box.columnconfigure(0, weight=1)
        self.tree = ttk.Treeview(box, columns=[c[0] for c in COLUMNS], show="headings", height=5,
                                 selectmode="browse")
        for key, heading, _sample, _widest in COLUMNS:
            self.tree.heading(key, text=heading, anchor="w")
            self.tree.column(key, stretch=key in STRETCH)
        self._fit_columns([])
        self.tree.grid(row=0, column=0, sticky="nsew")
        self.tree.bind("<<TreeviewSelect>>", lambda _event: self._selection_changed())
        self.connection_note = WrappingLabel(box, text=self._why_empty(), foreground=GREY)
        self.connection_note.grid(row=1, column=0, sticky="ew", pady=(4, 0))
        buttons = ttk.Frame(box)
        buttons.grid(row=2, column=0, sticky="w", pady=(6, 0))
        self.refresh_button = ttk.Button(buttons, text="Refresh", command=self.refresh)
        self.refresh_button.grid(row=0, column=0, padx=(0, 8))
        self.check_button = ttk.Button(buttons, text="Check Configuration", command=self.check)
        self.check_button.grid(row=0, column=1)

    def _build_prerequisites(self) -> None:
        self.prerequisite_box = ttk.LabelFrame(self.body, text="Prerequisites", padding=8)
        self.prerequisite_box.grid(row=2, column=0, sticky="ew", pady=(8, 0))
        self.prerequisite_box.columnconfigure(0, weight=1)
        self.prerequisites = ChecklistView(self.prerequisite_box)
        self.prerequisites.grid(row=0, column=0, sticky="ew")

    def _build_local_settings(self) -> None:
        self.local_box = ttk.LabelFrame(self.body, text="Settings kept on this computer", padding=8)
        self.local_box.grid(row=3, column=0, sticky="ew", pady=(8, 0))
        self.local_box.columnconfigure(0, weight=1)
        if not self.integration.local_settings:
            ttk.Label(self.local_box, text="This integration has no settings kept on this computer: "
                      "everything it needs is set in Halo.", foreground=GREY).grid(row=0, column=0, sticky="w")
            self.form, self.save_button = None, None
            return
        self.form = SettingsForm(self.local_box, self.integration.local_settings, dialogs=self.app.dialogs,
                                 on_change=self._local_changed)
        self.form.grid(row=0, column=0, sticky="ew")
        self.save_button = ttk.Button(self.local_box, text="Save", command=self.app.save)
        self.save_button.grid(row=1, column=0, sticky="w", pady=(6, 0))
        self._show_local_settings()

    def _build_shared_settings(self) -> None:
        """The settings kept once for every connection (e.g. the PowerShell scripts folder), always editable."""
        self.shared_form = None
        if not self.integration.shared_settings:
            return
        noun = self.integration.connections.noun
        box = ttk.LabelFrame(self.body, text=f"Settings kept on this computer for every {noun}", padding=8)
        box.grid(row=4, column=0, sticky="ew", pady=(8, 0))
        box.columnconfigure(0, weight=1)
        self.shared_form = SettingsForm(box, self.integration.shared_settings, dialogs=self.app.dialogs,
                                        on_change=self._shared_changed)
        self.shared_form.grid(row=0, column=0, sticky="ew")
        ttk.Button(box, text="Save", command=self.app.save).grid(row=1, column=0, sticky="w", pady=(6, 0))
        self.shared_form.set_values(self.app.config.connections.get(shared_key(self.integration.name), {}))

    def _shared_changed(self) -> None:
        key = shared_key(self.integration.name)
        updated = local_values(self.integration.shared_settings, self.shared_form.values(),
                               self.app.config.connections.get(key, {}))
        if updated:
            self.app.config.connections[key] = updated
        else:
            self.app.config.connections.pop(key, None)
        self.app.refresh_dirty()

    def _fit_columns(self, rows: list[tuple[str, ...]]) -> None:
        """Column widths from the fonts on screen (they follow Windows' scaling), not fixed pixels."""
        padding = px(self, CELL_PADDING)
        for number, (key, heading, sample, widest) in enumerate(COLUMNS):
            needed = max([text_width(heading, "TkHeadingFont"), text_width(sample)]
                         + [text_width(row[number]) for row in rows]) + padding
            width = min(needed, px(self, widest)) if widest else needed
            self.tree.column(key, width=width, minwidth=min(width, px(self, 60)))

    def _why_empty(self) -> str:
        if not self.app.halo_configured():
            return (f"Fill in the Configuration tab (Web App URL, Client ID, Client Secret): this tab then lists "
                    f"Halo's {self.title} connections.")
        return f"Press Refresh to read the {self.title} connections from Halo."

    # --- connections -------------------------------------------------------------------------------
    def on_shown(self) -> None:
        """The first visit loads the connections, once Halo is configured; until then, the note says why
        the table is empty."""
        if not self.loaded and self.app.halo_configured():
            self.refresh()
        elif not self.loaded:
            self.connection_note.configure(text=self._why_empty())

    def refresh_if_shown_before(self) -> None:
        """After a run: Last Sync and Last Error as Halo now holds them (a tab not read yet reads on its visit)."""
        if self.loaded:
            self.refresh()

    def refresh(self) -> None:
        config = self._working_config()
        if config is None:
            return
        self.loaded = True
        self.connection_note.configure(text="Reading the connections from Halo\u2026")
        self.app.worker.submit(f"Reading the {self.title} connections",
                               lambda: jobs.load_connections(config, self.integration),
                               on_done=self.show_connections, on_error=self._failed)

    def check(self) -> None:
        config = self._working_config()
        if config is None:
            return
        self.loaded = True
        self.prerequisites.show([(None, "Checking", "asking Halo and the source\u2026")])
        self.app.worker.submit(f"Checking {self.title}",
                               lambda: jobs.check_connections(config, self.integration, self.app.log,
                                                              self.app.config_path),
                               on_done=self.show_checks, on_error=self._failed)

    def _working_config(self) -> Any:
        try:
            return self.app.working_config()
        except ConfigError as error:
            self.app.show_error(error)
            return None

    def show_connections(self, statuses: list[Connection]) -> None:
        self.statuses = {str(status.record.get("id")): status for status in statuses}
        self.results = {iid: result for iid, result in self.results.items() if iid in self.statuses}
        self.tree.delete(*self.tree.get_children())
        rows = {iid: self._row(iid, status) for iid, status in self.statuses.items()}
        self._fit_columns(list(rows.values()))
        enabled_width = int(self.tree.column("enabled", "width")) - px(self, CELL_PADDING)
        for iid, row in rows.items():
            shown = (row[0], fitted(row[1], enabled_width), *row[2:])
            self.tree.insert("", "end", iid=iid, values=shown)
        if not statuses:
            self.connection_note.configure(
                text=f"Halo has no {self.title} connection yet: add one in Halo and enable it for the Halo Integrator.")
        if self.selected not in self.statuses:
            self.selected = next(iter(self.statuses), "")
        if self.selected:
            self.tree.selection_set(self.selected)
        self._selection_changed()

    def _row(self, iid: str, status: Connection) -> tuple[str, ...]:
        record, result = status.record, self.results.get(iid)
        enabled = "Yes" if status.enabled else f"No: {status.reason}"
        mark = "" if result is None else (TICK if result.ok else CROSS)
        source = status.integration.connections  # Lansweeper keeps its Last Sync in halointegrator_lansweeper_lastsync
        return (status.name, enabled, display_time(record.get(source.lastsync_field)),
                str(record.get(source.lasterror_field) or ""), mark)

    def show_checks(self, results: list[jobs.ConnectionCheck]) -> None:
        listed = [result for result in results if result.connection is not None]
        self.results = {str(result.connection.record.get("id")): result for result in listed}
        self.show_connections([result.connection for result in listed])
        unlisted = [check for result in results if result.connection is None for check in result.checks]
        if unlisted:
            self.connection_note.configure(text=unlisted[0].detail)
        failed = sum(1 for result in results if not result.ok)
        if not results:
            self.prerequisites.show([(False, f"No {self.title} connection in Halo",
                                      "add one in Halo and enable it for the Halo Integrator")])
        self.app.set_status(f"{self.title}: {len(results) - failed} of {len(results)} connection(s) ready"
                            + ("; the Processes tab's log says what failed." if failed else "."), tab=self)

    def _failed(self, error: BaseException) -> None:
        self.connection_note.configure(text=f"Could not read from Halo: {self.app.error_text(error)}")
        self.show_prerequisites()
        self.app.report_error(error, dialog=False, tab=self)

    def _selection_changed(self) -> None:
        chosen = self.tree.selection()
        if chosen:
            self.selected = chosen[0]
        status = self.statuses.get(self.selected)
        if status is not None:
            self.connection_note.configure(text=connection_note(status))
        self.show_prerequisites()
        self._show_local_settings()

    def show_prerequisites(self) -> None:
        result = self.results.get(self.selected)
        checks = result.checks if result else []
        name = self.statuses[self.selected].name if self.selected in self.statuses else ""
        self.prerequisite_box.configure(text=f"Prerequisites: {name}" if name else "Prerequisites")
        rows = merge_checks(prerequisites_of(self.integration), checks)
        self.prerequisites.show(explain_unchecked(rows) if checks else rows)

    # --- local settings ----------------------------------------------------------------------------
    def _connection_key(self) -> str:
        return connection_key(self.integration.name, self.selected) if self.selected else ""

    def show_local_settings(self) -> None:
        """Show the selected connection's local settings as the window's config holds them (after a Save)."""
        self._show_local_settings()

    def _show_local_settings(self) -> None:
        if self.form is None:
            return
        key = self._connection_key()
        self.form.set_values(self.app.config.connections.get(key, {}) if key else {})
        self.form.set_enabled(bool(key))
        name = self.statuses[self.selected].name if self.selected in self.statuses else ""
        self.local_box.configure(text=f"Settings kept on this computer for {name}" if name else
                                 "Settings kept on this computer (choose a connection above)")

    def _local_changed(self) -> None:
        key = self._connection_key()
        if not key or self.form is None:
            return
        kept = self.app.config.connections.get(key, {})
        updated = local_values(self.integration.local_settings, self.form.values(), kept)
        # A secret typed anew drops the endpoint the saved one was approved for (engine.endpoint_approval).
        updated = after_store(self.app.saved_connections.get(key, {}), updated)
        if updated:
            self.app.config.connections[key] = updated
        else:
            self.app.config.connections.pop(key, None)
        self.app.refresh_dirty()

    @property
    def dirty(self) -> bool:
        prefix = f"{self.integration.name}:"
        current = {k: meaningful(v) for k, v in self.app.config.connections.items() if k.startswith(prefix)}
        saved = {k: meaningful(v) for k, v in self.app.saved_connections.items() if k.startswith(prefix)}
        return {k: v for k, v in current.items() if v} != {k: v for k, v in saved.items() if v}

    def set_busy(self, busy: bool) -> None:
        for button in (self.refresh_button, self.check_button):
            button.state(["disabled"] if busy else ["!disabled"])
