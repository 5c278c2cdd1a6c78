"""Logging: one file a day in the log folder, an optional console, the GUI's handler, and redaction.

Every handler gets the same ``RedactingFilter`` (``halointegrator.redaction``: the secrets and tokens a run
learns, anything after "Bearer ", values of ``access_token``-like fields) before a line is written
anywhere. The logger does not propagate to the root logger, whose handlers would not redact.

The files hold names, e-mail addresses and what servers answered: a log file is opened without following
a symbolic link, is refused when it is not a plain file of its own, and is readable by its owner (and
group) only; ``last-run.json`` by its owner only.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import re
import stat
import sys
from pathlib import Path
from typing import Callable, Iterable

from halointegrator.errors import ConfigError
from halointegrator.redaction import MASK, MIN_SECRET_LENGTH, SECRETS, SecretRegistry, add_secret, redact, redact_strings

from . import acl
from .fileio import write_atomic

CHANGE = logging.INFO + 5
logging.addLevelName(CHANGE, "CHANGE")

LOGGER_NAME = "halointegrator"
LOG_FILE_PREFIX = "HaloIntegrator-"
LOG_FILE_PATTERN = re.compile(r"^HaloIntegrator-(\d{4}-\d{2}-\d{2})\.log$")
KEEP_DAYS = 30
SUMMARY_NAME = "last-run.json"
LOG_FILE_MODE = 0o640
LOG_DIR_MODE = 0o750
SUMMARY_MODE = 0o600
LINE_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

__all__ = ["MASK", "MIN_SECRET_LENGTH", "SECRETS", "SecretRegistry", "add_secret", "redact", "setup_logging",
           "add_handler", "remove_handler", "current_log_file", "write_summary", "RedactingFilter", "CHANGE"]


class RedactingFilter(logging.Filter):
    """Replaces secrets in the message, its arguments, the traceback and the stack text."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted_by", None) is self.registry:
            return True  # the record is shared by all handlers: redact once
        try:
            message = record.getMessage()
        except Exception:  # bad format arguments must not crash the caller; the arguments are dropped
            message = f"{record.msg} [log arguments could not be formatted]"
        record.msg = self.registry.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.registry.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.registry.redact(record.stack_info)
        record._redacted_by = self.registry  # type: ignore[attr-defined]
        return True


class DailyFileHandler(logging.FileHandler):
    """Appends to ``HaloIntegrator-YYYY-MM-DD.log``, moving to the next day's file after midnight."""

    def __init__(self, log_dir: Path, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.log_dir = Path(log_dir)
        self.today = today
        self.day = today()
        super().__init__(self.file_for(self.day), mode="a", encoding="utf-8", delay=False)

    def _open(self):  # noqa: ANN202 - logging.FileHandler's hook
        return open_log_file(Path(self.baseFilename), self.encoding or "utf-8")

    def file_for(self, day: dt.date) -> Path:
        return self.log_dir / f"{LOG_FILE_PREFIX}{day.isoformat()}.log"

    def emit(self, record: logging.LogRecord) -> None:
        day = self.today()  # handle() already holds the handler's lock
        if day != self.day:
            if self.stream is not None:
                self.stream.close()
                self.stream = None  # FileHandler.emit opens baseFilename again
            self.day, self.baseFilename = day, str(self.file_for(day))
        super().emit(record)


def open_log_file(path: Path, encoding: str = "utf-8"):
    """``path`` opened for appending, created private; refused (ConfigError) when it is a symbolic link,
    not a regular file, or a hard link: someone who may write in the folder must not steer our writes."""
    if os.name == "nt" and path.is_symlink():  # Windows has no O_NOFOLLOW
        raise ConfigError(_unsafe_log_message(path, "is a symbolic link"))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, LOG_FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ConfigError(_unsafe_log_message(path, "is a symbolic link")) from None
        raise ConfigError(f"Cannot write the log file {path}: {error.strerror or error}. Run the integrator as a "
                          f"user who may write in {path.parent}.") from None
    try:
        info = os.fstat(fd)
        problem = ("is not a regular file" if not stat.S_ISREG(info.st_mode)
                   else "has other names (hard links)" if info.st_nlink > 1 else "")
        if problem:
            raise ConfigError(_unsafe_log_message(path, problem))
        if os.name == "posix" and stat.S_IMODE(info.st_mode) & ~LOG_FILE_MODE:
            os.fchmod(fd, LOG_FILE_MODE)  # written by an older version, readable by everyone
    except BaseException:
        os.close(fd)
        raise
    return open(fd, "a", encoding=encoding)


def _unsafe_log_message(path: Path, problem: str) -> str:
    return (f"The log file {path} {problem}, so the Integrator does not write to it: someone who may write in "
            f"{path.parent} may have put it there. Remove it (and check who can write in that folder), then run "
            "again.")


def cleanup_old_logs(log_dir: Path, keep_days: int = KEEP_DAYS, today: dt.date | None = None) -> list[Path]:
    """Delete daily log files dated more than ``keep_days`` days ago (by the date in the name)."""
    today = today or dt.date.today()
    removed = []
    for path in Path(log_dir).glob(f"{LOG_FILE_PREFIX}*.log"):
        match = LOG_FILE_PATTERN.match(path.name)
        if not match:
            continue
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if (today - day).days > keep_days:
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # in use or protected: try again next time
    return removed


_owned: list[logging.Handler] = []  # the file and console handlers setup_logging made
_file_handler: DailyFileHandler | None = None


def setup_logging(
    log_dir: Path,
    *,
    secrets: Iterable[str] = (),
    console: bool = False,
    level: int = logging.INFO,
    today: Callable[[], dt.date] = dt.date.today,
) -> logging.Logger:
    """Configure the "halointegrator" logger; calling it again replaces its file and console handlers."""
    global _file_handler
    for value in secrets:
        add_secret(value)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in _owned:
        logger.removeHandler(handler)
        handler.close()
    _owned.clear()
    log_dir = Path(log_dir)
    make_log_dir(log_dir)
    cleanup_old_logs(log_dir, today=today())
    _file_handler = DailyFileHandler(log_dir, today)
    _owned.append(_file_handler)
    if console and sys.stderr is not None:  # a windowed exe has no stderr
        _owned.append(logging.StreamHandler(sys.stderr))
    for handler in _owned:
        _install(logger, handler)
    return logger


def make_log_dir(log_dir: Path) -> None:
    """The log folder, created readable by its owner and group only (on Windows: protected by an ACL)."""
    existed = log_dir.is_dir()
    log_dir.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
    if not existed:
        acl.protect(log_dir, folder=True)


def _install(logger: logging.Logger, handler: logging.Handler) -> None:
    if handler.formatter is None:
        handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    if handler not in logger.handlers:
        logger.addHandler(handler)


def add_handler(handler: logging.Handler) -> logging.Handler:
    """Attach another handler (the GUI's) with the same format and redaction; kept across setup calls."""
    _install(logging.getLogger(LOGGER_NAME), handler)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger(LOGGER_NAME).removeHandler(handler)


def current_log_file() -> Path | None:
    """Today's log file, or None before setup_logging."""
    return Path(_file_handler.baseFilename) if _file_handler is not None else None


def write_summary(log_dir: Path, data: dict) -> Path:
    """Write ``last-run.json`` (for monitoring) atomically, with secrets masked in every string."""
    path = Path(log_dir) / SUMMARY_NAME
    text = json.dumps(redact_strings(data), indent=2, default=str, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=SUMMARY_MODE)
    return path
