"""The one redaction for everything that leaves the process: log lines, last-run.json, Halo's Last Error
and integration errors, the window's log, stdout and stderr.

Every secret and token a run learns is registered here (``add_secret``): the secrets of the config file,
the tokens Halo and Microsoft issue, the passwords Halo's connection records carry. ``redact`` masks them,
in the forms they take in URLs, form bodies and JSON, and anything after "Bearer " or an
``access_token=``-like key. Text is redacted whole, before it is shortened: ``shorten`` is the only way a
message should be cut, so a cut never leaves the first characters of a secret behind.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words everywhere; such a secret is guessable anyway
# A piece this long of a secret is masked wherever it appears (a server that cuts or splits the secret it
# echoes, a message cut by someone else): long enough not to mask ordinary words.
MIN_FRAGMENT_LENGTH = 8
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
        self._fragments: frozenset[str] = frozenset()

    def add(self, value: str | None) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        # The forms a value takes in a URL, a form body, JSON text, an ODBC braced value ({pa}}ss}), and the
        # base64 and hex a server may echo it in (a Basic header, a dumped packet).
        raw = value.encode("utf-8")
        forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], value.replace("}", "}}"),
                 base64.b64encode(raw).decode("ascii").rstrip("="), raw.hex(), raw.hex().upper()}
        with self._lock:
            if not forms <= self._values:
                self._values |= forms
                longest_first = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, longest_first)))
                self._fragments = frozenset(piece for form in self._values for piece in _pieces(form))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = _mask_fragments(pattern.sub(MASK, text), self._fragments)
        for token_pattern in _TOKEN_PATTERNS:
            text = token_pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


def _pieces(value: str) -> list[str]:
    """Every MIN_FRAGMENT_LENGTH-character piece of ``value``."""
    size = MIN_FRAGMENT_LENGTH
    return [value[start:start + size] for start in range(len(value) - size + 1)]


def _mask_fragments(text: str, fragments: frozenset[str]) -> str:
    """``text`` with every run of characters that pieces of a secret cover replaced by the mask."""
    size = MIN_FRAGMENT_LENGTH
    if not fragments or len(text) < size:
        return text
    covered_to, spans = -1, []
    for start in range(len(text) - size + 1):
        if text[start:start + size] in fragments:
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + size
            else:
                spans.append([start, start + size])
            covered_to = start + size
    if covered_to < 0:
        return text
    parts, position = [], 0
    for begin, end in spans:
        parts += [text[position:begin], MASK]
        position = end
    return "".join(parts) + text[position:]


SECRETS = SecretRegistry()


def add_secret(value: str | None) -> None:
    """Mask ``value`` everywhere from now on (tokens, secrets learned during a run)."""
    SECRETS.add(value)


def redact(text: str) -> str:
    return SECRETS.redact(str(text))


def redact_with(text: str, secrets: Iterable[str]) -> str:
    """``text`` redacted as ``redact`` does, and also of ``secrets`` (in all their forms and pieces)."""
    extra = SecretRegistry()
    for secret in secrets:
        extra.add(secret)
    return SECRETS.redact(extra.redact(str(text)))


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
