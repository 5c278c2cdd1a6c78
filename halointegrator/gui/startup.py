"""What the window needs before it opens: where it logs, its icon, and the self-test timer of the
frozen-binary test (HALO_SELFTEST_MS)."""

from __future__ import annotations

import os
import sys
import tkinter as tk
from pathlib import Path
from typing import Any

from halointegrator.local.schedule import task_for_this_program

SELFTEST_VARIABLE = "HALO_SELFTEST_MS"


def selftest_delay(environ: Any = os.environ) -> int | None:
    """HALO_SELFTEST_MS=N closes the window after N ms with exit code 0 (the frozen-binary test)."""
    text = str(environ.get(SELFTEST_VARIABLE, "")).strip()
    return int(text) if text.isdigit() else None


def set_window_icon(root: tk.Tk) -> tk.PhotoImage | None:
    """The Halo icon in the title bar (frozen: bundled under sys._MEIPASS/assets; from source: assets/)."""
    bundle = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    try:
        photo = tk.PhotoImage(master=root, file=str(bundle / "assets" / "halo.png"))
        root.iconphoto(True, photo)
    except tk.TclError:  # a missing or unreadable icon is not worth refusing to open the window
        return None
    return photo


def window_log_dir(config_path: Path) -> tuple[Path, str]:
    """Where the window logs, and why when not there: the "Start in" folder of the scheduled task it
    suggests, not wherever it was started from, so the window's runs and the nightly ones share a folder."""
    from halointegrator.local.paths import choose_log_dir

    return choose_log_dir(Path(task_for_this_program(config_path).start_in))
