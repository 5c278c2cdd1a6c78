"""Small widgets the tabs share: a settings form built from declarations, a tick-and-cross list, dialogs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, messagebox, ttk
from tkinter import font as tkfont
from typing import Any, Callable, Iterable, Mapping, Sequence

from halointegrator.engine.model import LocalSetting
from halointegrator.values import flag

GREEN, RED, ORANGE, GREY = "#1a7f37", "#c62828", "#b35c00", "#6b6b6b"
TICK, CROSS, PENDING = "\u2714", "\u2718", "\u2022"
MARKS = {True: (TICK, GREEN), False: (CROSS, RED), None: (PENDING, GREY)}
SECRET_MASK = "\u2022"
PROGRESS_COLOUR = "#3b78c2"
NUMBER_KINDS = ("int", "float")
HELP_WRAP = 300  # pixels at 100 % for the grey help beside a setting
REFERENCE_DPI = 96.0  # Windows' 100 %: sizes in this module are pixels at 100 %, scaled by ui_scale()
FAILED_PROGRESS = "Failed.Horizontal.TProgressbar"
CLAM_INDICATOR, CLAM_ARROW = 10, 14  # clam's own sizes at 100 %: a tick box, a scrollbar's width
BUTTON_PADDING = (10, 3)  # pixels at 100 %: long labels get room beside them, not only the short ones


def ui_scale(widget: tk.Misc) -> float:
    """How much larger than at 100 % the screen draws: 1.5 at 144 DPI (150 %); never below 1.

    Tk follows Windows' scaling for fonts (point sizes) once the process is DPI aware; sizes given in
    pixels do not follow, so every pixel size of the window goes through ``px``.
    """
    return max(1.0, round(float(widget.winfo_fpixels("1i")) / REFERENCE_DPI, 2))  # Tk gives 143.9 for 144


def px(widget: tk.Misc, pixels: float) -> int:
    """``pixels`` at 100 %, as pixels on this screen."""
    return round(pixels * ui_scale(widget))


def text_width(text: str, font: str = "TkDefaultFont") -> int:
    """The width of ``text`` on screen in one of Tk's named fonts (which follow the scaling)."""
    return tkfont.nametofont(font).measure(text)


class FolderNotOpened(Exception):
    """The desktop has no program to show a folder with; the message says where the folder is."""


class Dialogs:
    """The message boxes and file picker the window uses; tests replace this with a scripted fake."""

    def __init__(self, root: tk.Misc) -> None:
        self.root = root

    def ask_yes_no_cancel(self, title: str, message: str) -> bool | None:
        return messagebox.askyesnocancel(title, message, parent=self.root)

    def ask_yes_no(self, title: str, message: str) -> bool:
        return bool(messagebox.askyesno(title, message, parent=self.root))

    def error(self, title: str, message: str) -> None:
        messagebox.showerror(title, message, parent=self.root)

    def info(self, title: str, message: str) -> None:
        messagebox.showinfo(title, message, parent=self.root)

    def open_file(self, title: str, initial: str = "") -> str:
        folder = str(Path(initial).parent) if initial else ""
        return filedialog.askopenfilename(title=title, initialdir=folder or None, parent=self.root) or ""


def use_native_theme(root: tk.Tk) -> None:
    """Windows' and macOS's own look; "clam" elsewhere, with a progress bar that stands out from its trough.

    Sizes the themes give in pixels are scaled here: the buttons' padding and the rows of tables.
    """
    style = ttk.Style(root)
    preferred = {"win32": ("vista", "winnative"), "darwin": ("aqua",)}.get(sys.platform, ("clam",))
    for theme in preferred:
        if theme in style.theme_names():
            style.theme_use(theme)
            break
    if style.theme_use() == "clam":  # drawn by Tk in fixed pixels (native themes follow the system's metrics)
        style.configure("Horizontal.TProgressbar", background=PROGRESS_COLOUR, lightcolor=PROGRESS_COLOUR,
                        darkcolor=PROGRESS_COLOUR)
        for check_style in ("TCheckbutton", "TRadiobutton"):
            style.configure(check_style, indicatorsize=px(root, CLAM_INDICATOR))
        style.configure("TScrollbar", arrowsize=px(root, CLAM_ARROW))
    _failed_progress_style(style)
    style.configure("TButton", padding=(px(root, BUTTON_PADDING[0]), px(root, BUTTON_PADDING[1])))
    linespace = tkfont.nametofont("TkDefaultFont").metrics("linespace")
    style.configure("Treeview", rowheight=linespace + px(root, 5))


def _failed_progress_style(style: ttk.Style) -> None:
    """A red bar for a run that failed. Native bars (vista) take no colour, so its bar is the default
    theme's element, which does."""
    element = "Failed.Horizontal.Progressbar.pbar"
    if element not in style.element_names():
        style.element_create(element, "from", "default")
    style.layout(FAILED_PROGRESS, [("Horizontal.Progressbar.trough", {"sticky": "nswe", "children": [
        (element, {"side": "left", "sticky": "ns"})]})])
    style.configure(FAILED_PROGRESS, background=RED, pbarrelief="flat", borderwidth=0)


def make_dpi_aware() -> None:
    """Sharp text on high-DPI Windows screens; must run before the first window exists."""
    if sys.platform != "win32":
        return
    try:
        import ctypes

        ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        try:
            ctypes.windll.user32.SetProcessDPIAware()  # type: ignore[attr-defined]  # Windows 7
        except (AttributeError, OSError):
            pass


def open_folder(folder: Path) -> None:
    """Show ``folder`` in the desktop's file manager; FolderNotOpened (a sentence) when there is none."""
    if sys.platform == "win32":
        os.startfile(str(folder))  # type: ignore[attr-defined]  # noqa: S606 - a folder, chosen by us
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:  # a server without a desktop, or a minimal one
        raise FolderNotOpened(f"This computer has no program to show folders with ({opener} is not installed). "
                              f"The logs are in {folder}")
    subprocess.Popen([opener, str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                     stderr=subprocess.DEVNULL, start_new_session=True)


class SettingsForm(ttk.Frame):
    """One row per declared setting: text, secret (masked, with Show), path (with Browse...), bool, number.

    ``values()`` gives what is typed, as strings (bools as bools); converting and validating is the
    caller's business, so a half-typed number never raises here.
    """

    def __init__(self, parent: tk.Misc, settings: Sequence[LocalSetting], *, dialogs: Any,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.settings = tuple(settings)
        self._dialogs = dialogs
        self._on_change = on_change
        self._quiet = False
        self.variables: dict[str, tk.Variable] = {}
        self.inputs: dict[str, ttk.Widget] = {}  # the entry or checkbutton of each setting
        self.toggles: dict[str, tk.BooleanVar] = {}  # the Show switch of each secret
        self.columnconfigure(1, weight=1)
        for row, setting in enumerate(self.settings):
            self._add_row(row, setting)

    def _add_row(self, row: int, setting: LocalSetting) -> None:
        if setting.kind == "bool":
            variable: tk.Variable = tk.BooleanVar(self, value=False)
            widget = ttk.Checkbutton(self, text=setting.label, variable=variable)
            widget.grid(row=row, column=1, columnspan=2, sticky="w", pady=2)
        else:
            variable = tk.StringVar(self, value="")
            ttk.Label(self, text=setting.label).grid(row=row, column=0, sticky="w", padx=(0, 8), pady=2)
            width = 10 if setting.kind in NUMBER_KINDS else 40
            widget = ttk.Entry(self, textvariable=variable, width=width)
            widget.grid(row=row, column=1, sticky="w" if setting.kind in NUMBER_KINDS else "ew", pady=2)
            self._add_extra(row, setting, widget, variable)
        if setting.help:
            ttk.Label(self, text=setting.help, foreground=GREY, wraplength=px(self, HELP_WRAP)).grid(
                row=row, column=3, sticky="w", padx=(8, 0))
        variable.trace_add("write", lambda *_: self._changed())
        self.variables[setting.key] = variable
        self.inputs[setting.key] = widget

    def _add_extra(self, row: int, setting: LocalSetting, entry: ttk.Entry, variable: tk.StringVar) -> None:
        if setting.kind == "secret":
            entry.configure(show=SECRET_MASK)
            shown = tk.BooleanVar(self, value=False)
            toggle = ttk.Checkbutton(self, text="Show", variable=shown,
                                     command=lambda: entry.configure(show="" if shown.get() else SECRET_MASK))
            toggle.grid(row=row, column=2, sticky="w", padx=(6, 0))
            self.toggles[setting.key] = shown
        elif setting.kind == "path":
            button = ttk.Button(self, text="Browse\u2026", command=lambda: self._browse(setting, variable))
            button.grid(row=row, column=2, sticky="w", padx=(6, 0))

    def _browse(self, setting: LocalSetting, variable: tk.StringVar) -> None:
        chosen = self._dialogs.open_file(f"Choose {setting.label}", variable.get())
        if chosen:
            variable.set(chosen)

    def _changed(self) -> None:
        if not self._quiet:
            self._on_change()

    def values(self) -> dict[str, Any]:
        return {key: variable.get() for key, variable in self.variables.items()}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Fill the form without reporting a change (loading is not editing)."""
        self._quiet = True
        try:
            for setting in self.settings:
                value = values.get(setting.key, setting.default)
                variable = self.variables[setting.key]
                if setting.kind == "bool":
                    variable.set(flag(value))
                else:
                    variable.set("" if value is None else str(value))
        finally:
            self._quiet = False

    def set_enabled(self, enabled: bool) -> None:
        for widget in self.winfo_children():
            if isinstance(widget, (ttk.Entry, ttk.Button, ttk.Checkbutton)):
                widget.state(["!disabled"] if enabled else ["disabled"])


class WrappingLabel(ttk.Label):
    """A label whose text wraps at its own width, so it reflows when the window is resized."""

    def __init__(self, parent: tk.Misc, **options: Any) -> None:
        options.setdefault("wraplength", px(parent, 600))
        options.setdefault("justify", "left")
        super().__init__(parent, **options)
        self.bind("<Configure>", self._rewrap)

    def _rewrap(self, event: tk.Event) -> None:
        width = max(event.width - 4, 100)
        wrap = int(str(self.cget("wraplength")) or 0)
        if wrap > width or width - wrap > 8:  # never wider than the label (the text would be cut)
            self.configure(wraplength=width)


def mark_of(ok: bool, detail: str) -> bool | None:
    """A step that did not run (an earlier one failed, or the connection is not ours to run) gets a dot."""
    return None if not ok and str(detail).startswith(("not run", "skipped")) else ok


class ChecklistView(ttk.Frame):
    """Rows of a coloured tick, cross or dot and a sentence; ``rows`` keeps what is shown, for tests."""

    def __init__(self, parent: tk.Misc) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, str]] = []
        self.items: list[tuple[bool | None, str, str]] = []  # what show() was given
        self._mark_font = tkfont.nametofont("TkDefaultFont").copy()
        self._mark_font.configure(weight="bold")
        self.columnconfigure(1, weight=1)

    def show(self, items: Iterable[tuple[bool | None, str, str]]) -> None:
        for child in self.winfo_children():
            child.destroy()
        self.rows, self.items = [], list(items)
        for row, (ok, label, detail) in enumerate(self.items):
            mark, colour = MARKS[ok]
            text = f"{label}: {detail}" if detail else label
            ttk.Label(self, text=mark, foreground=colour, font=self._mark_font).grid(
                row=row, column=0, sticky="nw", padx=(0, 6))
            WrappingLabel(self, text=text).grid(row=row, column=1, sticky="ew")
            self.rows.append((mark, text))


def scrolled(parent: tk.Misc, widget_class: type, **options: Any) -> tuple[ttk.Frame, Any]:
    """A widget with a vertical scrollbar, in a frame of its own."""
    frame = ttk.Frame(parent)
    widget = widget_class(frame, **options)
    bar = ttk.Scrollbar(frame, orient="vertical", command=widget.yview)
    widget.configure(yscrollcommand=bar.set)
    widget.grid(row=0, column=0, sticky="nsew")
    bar.grid(row=0, column=1, sticky="ns")
    frame.rowconfigure(0, weight=1)
    frame.columnconfigure(0, weight=1)
    return frame, widget


class ScrollableFrame(ttk.Frame):
    """A frame whose ``body`` scrolls vertically when the window is too short for it; the scrollbar
    appears only then. The body keeps the height it asks for (so a change of content reaches us as a
    <Configure> event) and follows the window's width."""

    def __init__(self, parent: tk.Misc, *, padding: int = 12) -> None:
        super().__init__(parent)
        background = ttk.Style(self).lookup("TFrame", "background") or None
        self.canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0, background=background)
        self.bar = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.body = ttk.Frame(self.canvas, padding=padding)
        self._item = self.canvas.create_window(0, 0, window=self.body, anchor="nw")
        self.canvas.configure(yscrollcommand=self.bar.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.bar.grid(row=0, column=1, sticky="ns")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.body.bind("<Configure>", lambda _event: self._fit())
        self.canvas.bind("<Configure>", lambda _event: self._fit())
        for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            self.bind_all(sequence, self._wheel, add="+")

    def _fit(self) -> None:
        width, height = self.canvas.winfo_width(), self.canvas.winfo_height()
        needed = self.body.winfo_reqheight()
        if int(self.canvas.itemcget(self._item, "width") or 0) != width:
            self.canvas.itemconfigure(self._item, width=width)
        self.canvas.configure(scrollregion=(0, 0, width, max(needed, height)))
        if needed > height > 1:
            self.bar.grid()
        else:
            self.bar.grid_remove()
            self.canvas.yview_moveto(0)

    def see(self, widget: tk.Misc) -> None:
        """Scroll so that ``widget`` (inside the body) is in view: all of it, or its top when it is taller."""
        self.update_idletasks()
        self._fit()
        top = widget.winfo_rooty() - self.body.winfo_rooty()
        bottom = top + widget.winfo_height()
        first, height = self.canvas.canvasy(0), self.canvas.winfo_height()
        if top >= first and bottom <= first + height:
            return
        target = top if top < first or bottom - top > height else bottom - height
        self.canvas.yview_moveto(target / max(self.body.winfo_reqheight(), height, 1))

    def _wheel(self, event: tk.Event) -> None:
        if not self.bar.winfo_ismapped() or not str(event.widget).startswith(str(self)):
            return
        if getattr(event, "num", 0) == 4 or getattr(event, "delta", 0) > 0:
            self.canvas.yview_scroll(-3, "units")
        else:
            self.canvas.yview_scroll(3, "units")
