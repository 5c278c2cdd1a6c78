"""Parsing a DN (RFC 4514, and the RFC 2253 forms AD also accepts) into the canonical RDNs it is compared by.

Each RDN becomes ``type=value`` with the type lower-cased (well-known OIDs by their names) and the value
unescaped (``\\,`` and ``\\2C`` alike, hex pairs decoded as UTF-8), lower-cased, and escaped again in one
way; the parts of a multi-valued RDN are sorted and joined by ``+``. Used by ``mapping.dn_key``.
"""

from __future__ import annotations

import functools
import re

_PLAIN_DN_SPECIALS = re.compile(r'[\\"+;<>#]')  # a DN without these splits on its commas alone
_ATTRIBUTE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|(?:oid\.)?[0-9]+(?:\.[0-9]+)*", re.IGNORECASE)
_HEX = "0123456789abcdefABCDEF"
_ESCAPED = frozenset('\\,+"<>;=')
_NEEDS_ESCAPE = re.compile(r'[\\,+"<>;=\x00-\x1f]')
_KNOWN_OIDS = {"2.5.4.3": "cn", "2.5.4.11": "ou", "2.5.4.10": "o", "0.9.2342.19200300.100.1.25": "dc",
               "2.5.4.6": "c", "2.5.4.7": "l", "2.5.4.8": "st", "2.5.4.9": "street", "2.5.4.4": "sn",
               "0.9.2342.19200300.100.1.1": "uid"}


@functools.lru_cache(maxsize=256)  # a directory uses a handful of types: cn, ou, dc
def _attribute(text: str) -> str | None:
    name = text.strip()
    if not _ATTRIBUTE_TYPE.fullmatch(name):
        return None
    name = name.lower()
    name = name[4:] if name.startswith("oid.") else name
    return _KNOWN_OIDS.get(name, name)


def _canonical_value(value: str) -> str:
    """A value (already unescaped) in the one escaped, lower-case form keys are compared in."""
    value = value.lower()
    if not _NEEDS_ESCAPE.search(value) and value[:1] not in ("#", " ") and value[-1:] != " ":
        return value
    out = []
    for index, ch in enumerate(value):
        if ch in _ESCAPED or (index == 0 and ch in "# ") or (index == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _read_value(text: str, start: int) -> tuple[str, int] | None:
    """(the unescaped value starting at ``start``, the index of the separator after it), or None if broken."""
    i, n = start, len(text)
    while i < n and text[i] == " ":
        i += 1
    raw, significant = bytearray(), 0
    if i < n and text[i] == '"':  # RFC 2253's quoted form: everything up to the closing quote
        end = text.find('"', i + 1)
        if end < 0:
            return None
        i = end + 1
        while i < n and text[i] == " ":
            i += 1
        return (text[start:end].strip(' ')[1:], i) if i == n or text[i] in ",;+" else None
    while i < n and text[i] not in ",;+":
        ch = text[i]
        if ch == "\\":
            pair = text[i + 1:i + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                raw.append(int(pair, 16))
                i += 3
            elif i + 1 < n:
                raw += text[i + 1].encode("utf-8", "surrogateescape")
                i += 2
            else:
                return None
            significant = len(raw)
            continue
        raw += ch.encode("utf-8", "surrogateescape")
        if ch != " ":
            significant = len(raw)
        i += 1
    return bytes(raw[:significant]).decode("utf-8", "surrogateescape"), i


def _parse_rdns(text: str) -> list[str] | None:
    """The RDNs of ``text`` in canonical form (root last), or None when it is not a DN."""
    rdns: list[str] = []
    parts: list[str] = []
    i = 0
    while True:
        equals = text.find("=", i)
        attribute = _attribute(text[i:equals]) if equals >= 0 else None
        read = _read_value(text, equals + 1) if attribute else None
        if read is None:
            return None
        value, i = read
        parts.append(f"{attribute}={_canonical_value(value)}")
        separator = text[i] if i < len(text) else ""
        if separator != "+":
            rdns.append("+".join(sorted(parts)))
            parts = []
        if not separator:
            return rdns
        i += 1


def _plain_rdns(text: str) -> list[str] | None:
    """The fast path for DNs without escapes, quotes or multi-valued RDNs (most of them): the same result."""
    rdns = []
    for part in text.lower().split(","):
        attribute, equals, value = part.partition("=")
        name = _attribute(attribute) if equals else None
        if name is None:
            return None
        value = value.strip(" ")
        if "=" in value or not value.isprintable():
            value = _canonical_value(value)
        rdns.append(f"{name}={value}")
    return rdns


def canonical_rdns(text: str) -> list[str] | None:
    """The canonical RDNs of ``text`` (root last), or None when it is not a DN."""
    return _plain_rdns(text) if not _PLAIN_DN_SPECIALS.search(text) else _parse_rdns(text)
