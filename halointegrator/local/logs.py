"""Logging: one file a day in the log folder, an optional console, the GUI's handler, and redaction.

Every handler gets the same ``RedactingFilter``: known secret values (the client secret, connection
secrets, tokens registered with ``add_secret`` at run time), anything after "Bearer " and values of
``access_token``-like fields become "***" before a line is written anywhere. The logger does not
propagate to the root logger, whose handlers would not redact.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote, quote_plus

from .fileio import write_atomic

CHANGE = logging.INFO + 5
logging.addLevelName(CHANGE, "CHANGE")

LOGGER_NAME = "halointegrator"
LOG_FILE_PREFIX = "HaloIntegrator-"
LOG_FILE_PATTERN = re.compile(r"^HaloIntegrator-(\d{4}-\d{2}-\d{2})\.log$")
KEEP_DAYS = 30
SUMMARY_NAME = "last-run.json"
MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words everywhere; such a secret is guessable anyway
LINE_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

_TOKEN_PATTERNS = (
    re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE),
    re.compile(
        # not "--secret-env client_secret=VARIABLE": that names a variable, and messages tell users to type it
        r"""(?<!--secret-env )((?:access_token|refresh_token|id_token|client_secret)["']?\s*[:=]\s*["']?)[^\s"',&;}]+""",
        re.IGNORECASE,
    ),
)


class SecretRegistry:
    """The secret values to mask, shared by every filter; safe to extend from a worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        # The forms a value takes in a URL, a form body or JSON text, besides itself.
        forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        with self._lock:
            if not forms <= self._values:
                self._values |= forms
                longest_first = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for token_pattern in _TOKEN_PATTERNS:
            text = token_pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


SECRETS = SecretRegistry()


def add_secret(value: str | None) -> None:
    """Mask ``value`` in every log line from now on (tokens, secrets learned during a run)."""
    SECRETS.add(value)


def redact(text: str) -> str:
    return SECRETS.redact(text)


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
        super().__init__(self.file_for(self.day), mode="a", encoding="utf-8", delay=True)

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
    log_dir.mkdir(parents=True, exist_ok=True)
    cleanup_old_logs(log_dir, today=today())
    _file_handler = DailyFileHandler(log_dir, today)
    _owned.append(_file_handler)
    if console and sys.stderr is not None:  # a windowed exe has no stderr
        _owned.append(logging.StreamHandler(sys.stderr))
    for handler in _owned:
        _install(logger, handler)
    return logger


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
    text = json.dumps(_redact_strings(data), indent=2, default=str, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=0o644)
    return path


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_strings(v) for v in value]
    return value
