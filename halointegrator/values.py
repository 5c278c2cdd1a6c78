"""Values as Halo records and local settings spell them: one parser for flags, numbers, ids and rows.

Halo answers ``site_id`` as ``3.0`` where a mapping says ``3`` or ``"3"``, an empty text as ``null`` or
``""``, and a flag as ``true`` where a hand-edited config may say ``"on"``. Every part of the program
reads such values through this module, so "on" means the same everywhere, and the planner compares
through ``same_value`` (comparing literally would rewrite every record on every run).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off", ""})
_SHOWN_LENGTH = 60
_FINGERPRINT_BYTES = 8  # 64 bits: a changed value going unnoticed is a 1 in 10^19 chance


def identity_key(value: Any) -> str:
    """The form an identity (or match) value is compared in: text, stripped, case-insensitive."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def as_bool(value: Any) -> bool | None:
    """A flag as Python sees it, or None when the value is not a recognisable flag."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def flag(value: Any, default: bool = False) -> bool:
    """A switch (a Halo field or a local setting): ``default`` when unset or not a recognisable flag."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    parsed = as_bool(value)
    return default if parsed is None else parsed


def as_int(value: Any) -> int | None:
    """A whole number from an int, a float Halo sends (3.0) or text; None when there is none."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, AttributeError):
        return None
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number)


def as_id(value: Any) -> int | None:
    """A Halo record id: a positive whole number; 0 and blanks mean "none chosen"."""
    number = as_int(value)
    return number if number is not None and number > 0 else None


def text_of(value: Any) -> str:
    """A text field, stripped; anything that is not text is no text."""
    return value.strip() if isinstance(value, str) else ""


def rows_of(value: Any) -> list[dict]:
    """The records of a list Halo sent inside a record (anything else in it is no row)."""
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def fingerprint(value: Any) -> str:
    """A short digest of a value as the sync status keeps it: equal for values ``same_value`` calls equal
    in the usual spellings (3 and 3.0, None and "", surrounding spaces), never the value itself."""
    text = json.dumps(_comparable(value), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_FINGERPRINT_BYTES).hexdigest()


def _comparable(value: Any) -> Any:
    if _is_blank(value):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_comparable(item) for item in value]
    return value


def same_value(wanted: Any, current: Any) -> bool:
    """Whether Halo's ``current`` value already says what the source ``wanted``."""
    if _is_blank(wanted) and _is_blank(current):
        return True
    if isinstance(wanted, bool) or isinstance(current, bool):
        flag = as_bool(wanted)
        return flag is not None and flag == as_bool(current)
    if _is_number(wanted) or _is_number(current):
        number = _as_number(wanted)
        return number is not None and number == _as_number(current)
    if isinstance(wanted, str) and isinstance(current, str):
        return wanted.strip() == current.strip()
    if isinstance(wanted, dict) and isinstance(current, dict):
        # Halo answers nested objects with more keys than were posted: compare the posted ones.
        return all(same_value(value, current.get(name)) for name, value in wanted.items())
    if isinstance(wanted, list) and isinstance(current, list):
        return _same_list(wanted, current)
    return wanted == current


def _same_list(wanted: list, current: list) -> bool:
    if wanted and all(isinstance(item, dict) and "id" in item for item in wanted):
        # Custom fields and asset fields: Halo lists every field, each with its id; find ours by id.
        by_id = {identity_key(item.get("id")): item for item in current if isinstance(item, dict)}
        return all(same_value(item, by_id.get(identity_key(item["id"]))) for item in wanted)
    return len(wanted) == len(current) and all(map(same_value, wanted, current))


def show_value(value: Any) -> str:
    """A value as a change description shows it: texts quoted, whole numbers without ``.0``."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > _SHOWN_LENGTH:
        text = text[: _SHOWN_LENGTH - 1] + "…"
    return f"'{text}'" if isinstance(value, str) else text


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
