"""The Processes tab: Start Processing, Preview (a dry run), Stop, the progress, the counts of each
integration, the live log, and the settings of the scheduled task that runs AUTO."""

from __future__ import annotations

import logging
import threading
import tkinter as tk
from tkinter import ttk
from typing import Any

from halointegrator.errors import EXIT_OK, Cancelled
from halointegrator.engine.model import Report
from halointegrator.engine.runner import RunOptions, RunResult
from halointegrator.local.schedule import ScheduledTask, cron_line, windows_arguments

from . import jobs
from .widgets import FAILED_PROGRESS, GREY, ORANGE, RED, FolderNotOpened, WrappingLabel, px, scrolled, text_width

MAX_LOG_LINES = 5000
CHANGE_LEVEL = logging.INFO + 5  # the engine's CHANGE level ("Create user ...", "Would create user ...")
CHANGE_BACKGROUND = "#fff1b8"
PROGRESS_LENGTH = 260  # pixels at 100 %
# (key, heading, sample): Integration and Connection as wide as a typical name in the font on screen.
RESULT_COLUMNS = (("integration", "Integration", "Active Directory"),
                  ("connection", "Connection", "Sandbox Active Directory"),
                  ("result", "Result", "create 300 user(s), update 10 user(s)"))


def report_line(report: Report) -> str:
    """The Result column: the failure, or the counts, and whether a guard held changes back."""
    if report.failure:
        return f"Failed: {report.failure}"
    text = report.summary()
    if report.refused:
        text += f"; {len(report.refused)} change set(s) held back by a safety guard (see the log)"
    return text


def log_tag(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    return "change" if levelno == CHANGE_LEVEL else ""


class ProcessesTab(ttk.Frame):
    """Runs every enabled integration (or previews them) on the worker and shows the log as it comes."""

    title = "Processes"

    def __init__(self, parent: tk.Misc, app: Any) -> None:
        super().__init__(parent, padding=12)
        self.app = app
        self.cancel: threading.Event | None = None
        self.running = False
        self.last_result: RunResult | None = None
        self.following = True  # the log shows its end unless the user scrolled up to read
        self.columnconfigure(0, weight=1)
        self._build_buttons()
        self._build_progress()
        self._build_results()
        self._build_log()
        self._build_schedule()
        self.set_busy(False)

    def _build_buttons(self) -> None:
        row = ttk.Frame(self)
        row.grid(row=0, column=0, sticky="ew")
        self.start_button = ttk.Button(row, text="Start Processing", command=self.start)
        self.preview_button = ttk.Button(row, text="Preview (change nothing)", command=self.preview)
        self.stop_button = ttk.Button(row, text="Stop", command=self.stop)
        self.open_logs_button = ttk.Button(row, text="Open log folder", command=self.open_logs)
        for column, button in enumerate((self.start_button, self.preview_button, self.stop_button)):
            button.grid(row=0, column=column, padx=(0, 8))
        row.columnconfigure(3, weight=1)
        self.open_logs_button.grid(row=0, column=4, sticky="e")

    def _build_progress(self) -> None:
        row = ttk.Frame(self)
        row.grid(row=1, column=0, sticky="ew", pady=(8, 0))
        row.columnconfigure(1, weight=1)
        self.progress = ttk.Progressbar(row, mode="determinate", maximum=100, length=px(self, PROGRESS_LENGTH))
        self.progress.grid(row=0, column=0, sticky="nw")
        self.stage = WrappingLabel(row, text="Not started. Preview shows what would change without changing it.",
                                   foreground=GREY)
        self.stage.grid(row=0, column=1, sticky="ew", padx=(px(self, 10), 0))

    def _build_results(self) -> None:
        self.results = ttk.Treeview(self, columns=("integration", "connection", "result"), show="headings", height=3)
        for key, heading, sample in RESULT_COLUMNS:
            self.results.heading(key, text=heading, anchor="w")
            width = max(text_width(heading, "TkHeadingFont"), text_width(sample)) + px(self, 16)
            self.results.column(key, width=width, stretch=key == "result")
        self.results.grid(row=2, column=0, sticky="ew", pady=(8, 0))

    def _build_log(self) -> None:
        frame, self.log_text = scrolled(self, tk.Text, height=12, wrap="word", state="disabled",
                                        font="TkFixedFont", relief="flat", borderwidth=1)
        frame.grid(row=3, column=0, sticky="nsew", pady=(8, 0))
        self.rowconfigure(3, weight=1)
        self.log_text.tag_configure("warning", foreground=ORANGE)
        self.log_text.tag_configure("error", foreground=RED)
        self.log_text.tag_configure("change", background=CHANGE_BACKGROUND)

    def _build_schedule(self) -> None:
        box = ttk.LabelFrame(self, text="Run it every night: a scheduled task", padding=8)
        box.grid(row=4, column=0, sticky="ew", pady=(8, 0))
        box.columnconfigure(1, weight=1)
        task = self.app.scheduled_task()
        self.schedule_values: dict[str, str] = {}
        rows = [("Program/script", task.program), ("Add arguments", windows_arguments(task)), ("Start in", task.start_in)]
        if self.app.platform != "win32":
            rows.append(("cron", cron_line(task)))
        for row, (label, value) in enumerate(rows):
            self._readonly_row(box, row, label, value)
        if self.app.platform == "win32":
            self.schedule_button = ttk.Button(box, text="Create scheduled task\u2026",
                                              command=lambda: self.create_task(task))
        else:
            self.schedule_button = ttk.Button(box, text="Copy cron line", command=self.copy_cron_line)
        self.schedule_button.grid(row=len(rows), column=0, sticky="w", pady=(6, 0))
        note = (f"Nightly at {task.hour:02d}:{task.minute:02d}, whether the user is logged on or not. "
                "Start Processing by hand once first to see that everything works.")
        WrappingLabel(box, text=note, foreground=GREY).grid(row=len(rows), column=1, sticky="ew", padx=(8, 0),
                                                            pady=(6, 0))

    def _readonly_row(self, box: ttk.LabelFrame, row: int, label: str, value: str) -> None:
        ttk.Label(box, text=label).grid(row=row, column=0, sticky="w", padx=(0, 8))
        variable = tk.StringVar(box, value=value)
        entry = ttk.Entry(box, textvariable=variable, state="readonly")
        entry.grid(row=row, column=1, sticky="ew", pady=1)
        entry.variable = variable  # type: ignore[attr-defined]  # keep it alive with the entry
        self.schedule_values[label] = value

    # --- runs --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._run(dry_run=False)

    def preview(self) -> None:
        self._run(dry_run=True)

    def _run(self, *, dry_run: bool) -> None:
        if self.running or self.app.worker.busy:
            return
        config = self.app.config_for_run()
        if config is None:
            return
        self.cancel = threading.Event()
        cancel, worker, log = self.cancel, self.app.worker, self.app.log
        options = RunOptions(dry_run=dry_run)

        def progress(stage: str, done: int, total: int) -> None:  # called on the worker
            worker.post(self.show_progress, stage, done, total)

        self.results.delete(*self.results.get_children())
        self.progress.configure(value=0, style="Horizontal.TProgressbar")
        self.running = True
        self.show_stage("Previewing: nothing is written to Halo\u2026" if dry_run else "Processing\u2026")
        worker.submit("Preview" if dry_run else "Processing",
                      lambda: jobs.run_processing(config, self.app.config_path, options, log,
                                                  cancel=cancel, progress=progress,
                                                  registry=self.app.registry),
                      on_done=self.finished, on_error=self.failed)

    def stop(self) -> None:
        if self.cancel is not None and self.running:
            self.cancel.set()
            self.show_stage("Stopping after the current batch\u2026")
            self.app.log.info("Stop pressed: the run stops after the current batch.")

    def show_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.configure(value=100.0 * done / total if total else 0)
        self.show_stage(f"{stage} ({done} of {total})" if total else stage)

    def show_stage(self, text: str, *, failed: bool = False) -> None:
        """The sentence beside the bar (wrapped, never cut); a failure in red beside a red bar."""
        self.stage.configure(text=text, foreground=RED if failed else "")
        self.progress.configure(style=FAILED_PROGRESS if failed else "Horizontal.TProgressbar")

    def finished(self, result: RunResult) -> None:
        self.running, self.last_result = False, result
        self.set_busy(self.app.worker.busy)  # the worker said "idle" before this ran: Stop has nothing left to stop
        titles = {name: integration.title for name, integration in self.app.registry.items()}
        for report in result.reports:
            self.results.insert("", "end", values=(titles.get(report.integration, report.integration),
                                                   report.connection, report_line(report)))
        self.progress.configure(value=100)
        failed = result.exit_code != EXIT_OK
        message = result.message or ("Finished with errors: the log says why." if failed else "Finished.")
        self.show_stage(message, failed=failed)
        self.app.set_status(message, tab=self)
        self._refresh_integration_tabs()

    def failed(self, error: BaseException) -> None:
        self.running = False
        self.set_busy(self.app.worker.busy)
        self._refresh_integration_tabs()  # a stopped or failed run may have written some connections
        if isinstance(error, Cancelled):
            self.show_stage(f"Stopped. {error}")
            self.app.log.warning("Stopped: %s", error)
            self.app.set_status("Stopped.", tab=self)
            return
        self.progress.configure(value=100)
        self.show_stage(f"Not finished: {self.app.error_text(error)}", failed=True)
        self.app.report_error(error, tab=self)

    def _refresh_integration_tabs(self) -> None:
        for tab in getattr(self.app, "integration_tabs", {}).values():
            tab.refresh_if_shown_before()

    def set_busy(self, busy: bool) -> None:
        for button in (self.start_button, self.preview_button):
            button.state(["disabled"] if busy else ["!disabled"])
        self.stop_button.state(["!disabled"] if self.running else ["disabled"])

    # --- log ---------------------------------------------------------------------------------------
    def append_log(self, text: str, levelno: int) -> None:
        """Add one record at the end; follow the end unless the user scrolled up; keep the last lines."""
        if self.log_text.winfo_viewable():  # a hidden tab's view says nothing about the user's scrolling
            self.following = self.log_text.yview()[1] >= 0.999
        self.log_text.configure(state="normal")
        self.log_text.insert("end", text + "\n", log_tag(levelno))
        lines = int(self.log_text.index("end-1c").split(".")[0]) - 1
        if lines > MAX_LOG_LINES:
            self.log_text.delete("1.0", f"{lines - MAX_LOG_LINES + 1}.0")
        self.log_text.configure(state="disabled")
        if self.following:
            self.log_text.see("end")

    def on_shown(self) -> None:
        if self.following:
            self.log_text.update_idletasks()
            self.log_text.see("end")

    def open_logs(self) -> None:
        try:
            self.app.open_folder(self.app.log_dir)
        except FolderNotOpened as error:
            self.app.dialogs.info("Open log folder", str(error))
        except OSError as error:
            why = error.strerror or type(error).__name__
            self.app.dialogs.error("Open log folder", f"The log folder could not be shown ({why}). "
                                   f"The logs are in {self.app.log_dir}")

    # --- schedule ----------------------------------------------------------------------------------
    def copy_cron_line(self) -> None:
        self.clipboard_clear()
        self.clipboard_append(self.schedule_values["cron"])
        self.app.set_status("Copied the cron line: add it with crontab -e.", tab=self)

    def create_task(self, task: ScheduledTask) -> None:
        question = (f"Create (or replace) the scheduled task '{task.name}'? It runs\n{task.program} "
                    f"{windows_arguments(task)}\nin {task.start_in} every night at {task.hour:02d}:{task.minute:02d}, "
                    "whether you are logged on or not.")
        if not self.app.dialogs.ask_yes_no("Create scheduled task", question):
            return
        self.app.worker.submit("Creating the scheduled task", lambda: self.app.create_task(task),
                               on_done=lambda said: self.app.dialogs.info("Scheduled task", said))
