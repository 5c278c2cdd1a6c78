"""The window's size: the one the user left it at, else a default scaled to the screen; never beyond it."""

from __future__ import annotations

import re
from typing import Any

from .widgets import px

DEFAULT_SIZE = (960, 760)  # pixels at 100 %; scaled with the screen (1440x1140 at 150 %)
MIN_SIZE = (780, 600)
SCREEN_MARGIN = (24, 96)  # pixels at 100 % the window leaves free: its frame and title bar, the taskbar
SIZE_PATTERN = re.compile(r"^(\d{2,5})x(\d{2,5})")


def fit_on_screen(root: Any, width: int, height: int) -> tuple[int, int]:
    """At most what the screen holds with the window's frame, title bar and the taskbar."""
    return (min(width, root.winfo_screenwidth() - px(root, SCREEN_MARGIN[0])),
            min(height, root.winfo_screenheight() - px(root, SCREEN_MARGIN[1])))


def min_size(root: Any) -> tuple[int, int]:
    return fit_on_screen(root, px(root, MIN_SIZE[0]), px(root, MIN_SIZE[1]))


def restored_size(root: Any, saved: Any) -> tuple[int, int]:
    """The saved "WxH", else the default scaled; at least the minimum, at most the screen (at 150 % the
    default 1440x1140 does not fit a 1280x1024 screen)."""
    match = SIZE_PATTERN.match(str(saved or ""))
    width, height = ((int(match.group(1)), int(match.group(2))) if match else
                     (px(root, DEFAULT_SIZE[0]), px(root, DEFAULT_SIZE[1])))
    least = min_size(root)
    return fit_on_screen(root, max(width, least[0]), max(height, least[1]))
