"""The one redaction for everything that leaves the process: log lines, last-run.json, Halo's Last Error
and integration errors, the window's log, stdout and stderr.

Every secret and token a run learns is registered here (``add_secret``): the secrets of the config file,
the tokens Halo and Microsoft issue, the passwords Halo's connection records carry. ``redact`` masks them,
in the forms they take in URLs, form bodies and JSON, and anything after "Bearer " or an
``access_token=``-like key. Text is redacted whole, before it is shortened: ``shorten`` is the only way a
message should be cut, so a cut never leaves the first characters of a secret behind.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words everywhere; such a secret is guessable anyway
SECRET_KEY_SUFFIXES = ("secret", "password")  # JSON keys whose string values are secrets Halo may send us

_TOKEN_PATTERNS = (
    re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE),
    re.compile(
        # not "--secret-env client_secret=VARIABLE": that names a variable, and messages tell users to type it
        r"""(?<!--secret-env )((?:access_token|refresh_token|id_token|client_secret)["']?\s*[:=]\s*["']?)[^\s"',&;}]+""",
        re.IGNORECASE,
    ),
)


class SecretRegistry:
    """The secret values to mask; safe to extend from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
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
    """Mask ``value`` everywhere from now on (tokens, secrets learned during a run)."""
    SECRETS.add(value)


def redact(text: str) -> str:
    return SECRETS.redact(str(text))


def shorten(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters (with "…"): never the other way round."""
    text = redact(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def redact_strings(value: Any) -> Any:
    """Every string inside ``value`` (dicts, lists, tuples; keys too) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)) if isinstance(k, str) else k: redact_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(v) for v in value]
    return value


def learn_secrets(data: Any, depth: int = 0) -> None:
    """Register the string values of keys named like a secret (``integrator_password``, ``client_secret``)
    anywhere in a JSON answer: Halo hands the Integrator such values in its connection records."""
    if depth > 20:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                if str(key).lower().endswith(SECRET_KEY_SUFFIXES):
                    SECRETS.add(value)
            elif isinstance(value, (dict, list)):
                learn_secrets(value, depth + 1)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, (dict, list)):
                learn_secrets(item, depth + 1)
