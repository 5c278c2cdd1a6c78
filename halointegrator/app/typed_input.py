"""What a person types on the command line, checked before it is used: text, and Halo addresses.

Each problem is a sentence that says what is wrong and what to type instead.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

EXAMPLE = "https://yourcompany.halopsa.com"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d+(/|$))")  # "javascript:" yes; "host:8443" no
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


def shown(text: str) -> str:
    """``text`` as it can be printed: bytes that are not UTF-8 shown as escapes, a password in an address
    as ***; never raising."""
    text = _USERINFO_PASSWORD.sub(r"\1***@", str(text))
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def not_text(value: str, where: str) -> list[str]:
    """[the problem] when ``value`` holds bytes that are not UTF-8 (the shell passed them undecoded)."""
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        return [f"{where} contains bytes that are not UTF-8 text ('{shown(value)}'): type it again as plain text "
                "(check the terminal's encoding, or the file it was pasted from)."]
    return []


def url_problem(value: str, option: str) -> tuple[str, str]:
    """(problem or "", the address to save): ``value`` checked as a Halo address, https:// added if missing."""
    text = value.strip()
    example = f"e.g. {option}{EXAMPLE}" if option.endswith("=") else f"e.g. {option} {EXAMPLE}"
    if option.endswith("api_url="):
        example += "/api"
    if option.endswith("auth_url="):
        example += "/auth"
    refuse = lambda why: (f"{option.rstrip('=')} '{shown(value)}' is not a Halo address: {why}. Type the address "
                          f"as the browser shows it, {example}.", value)
    if not_text(text, option):
        return refuse("it contains bytes that are not UTF-8 text")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        return refuse("it contains spaces or control characters")
    guessed = "://" not in text
    if guessed and _SCHEME.match(text):
        return refuse(f"'{shown(text.split(':', 1)[0])}:' is not a web address")
    candidate = "https://" + text if guessed else text
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as error:
        return refuse(f"it cannot be read as an address ({error})")
    if parts.scheme.lower() not in ("http", "https"):
        return refuse(f"it uses {shown(parts.scheme)}://, and Halo is reached with https://")
    if parts.username is not None or parts.password is not None:
        return refuse("it contains a user name or password (Halo uses the Client ID and Secret instead)")
    host_problem = _host_problem(parts.hostname or "", guessed)
    if host_problem:
        return refuse(host_problem)
    if port == 0:
        return refuse("port 0 is not a port")
    return "", urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, parts.query, parts.fragment))


def _host_problem(host: str, guessed: bool) -> str:
    if not host:
        return "it names no server"
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"'{shown(host)}' is not a server name"
    if guessed and len(labels) == 1 and host.lower() != "localhost":
        # A bare word is far more often a typo than a server; one really named so is typed with https://.
        return f"'{shown(host)}' is a single word, not a full server name (a server on your network is typed with https://)"
    return ""
