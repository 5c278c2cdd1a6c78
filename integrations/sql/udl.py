"""UDL files (Microsoft Data Link): the OLE DB connection a Windows admin saved, read as an ODBC target.

A .udl file is UTF-16 text (Windows writes it little-endian with a byte-order mark):

    [oledb]
    ; Everything after this line is an OLE DB initstring
    Provider=MSOLEDBSQL.1;Integrated Security=SSPI;Initial Catalog=CM_P01;Data Source=sccm01

The Integrator speaks ODBC, so the OLE DB keywords are mapped to their ODBC meaning; a provider other
than SQL Server's, or a keyword ODBC has no equivalent for, is refused with a message naming it (a
connection half-understood could log in somewhere else than the admin meant).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from halointegrator.errors import SourceError
from integrations.sql.connstr import SQL_SERVER_PROVIDERS, DbTarget, parse_server

MAX_UDL_BYTES = 64 * 1024
_TRUE = {"true", "yes", "sspi", "1", "mandatory", "strict"}
# Keywords that change nothing ODBC needs (they tune the OLE DB provider itself): read and left alone.
IGNORED_KEYWORDS = frozenset({
    "persist security info", "packet size", "use procedure for prepare", "auto translate",
    "tag with column collation when possible", "locale identifier", "network library", "ole db services",
    "general timeout", "current language", "extended properties", "mode", "prompt", "window handle",
})
REFUSED_KEYWORDS = {
    "initial file name": "attaches a database file, which the Integrator never does",
    "attachdbfilename": "attaches a database file, which the Integrator never does",
    "failover partner": "names a mirroring partner, which ODBC takes on Windows only",
    "data typing compatibility": "changes how values are typed",
    "multipleactiveresultsets": "asks for several result sets at once",
}


def refuse_remote_path(path: str) -> None:
    """A UNC (``\\\\host\\share``, ``//host``) or device (``\\\\?\\``, ``\\\\.\\``) path: refused. Halo names
    the path, and opening \\\\host\\... makes Windows log in to that host with the Integrator's account."""
    text = str(path).strip()
    # Any path starting with a backslash is refused, not only \\host: Windows passes NT object paths
    # (\??\UNC\host\share, \??\GLOBALROOT\Device\Mup\...) through to the share. A local file is C:\...
    if text.startswith(("\\", "//", "/\\")):
        raise SourceError(f"The UDL file path '{text}' in Halo names a network share or a device: the Integrator "
                          "reads UDL files from this computer's own disks only (opening a share makes Windows log "
                          "in to that computer with the Integrator's account). Copy the file to this computer and "
                          "enter its local path (e.g. C:\\HaloIntegrator\\sccm.udl) in Halo.")


def read_udl(path: str | Path) -> dict[str, str]:
    """The OLE DB keywords of a UDL file (lower-case keys), or a SourceError saying what is wrong.

    No message quotes the file's text (Halo names the path, and Last Error goes back to Halo): a file that
    is not a UDL file is named, never shown."""
    refuse_remote_path(str(path))
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_UDL_BYTES:
            raise SourceError(f"The UDL file {file} is {size:,} bytes: a UDL file is a few hundred; check the path.")
        raw = file.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"The UDL file {file} does not exist on this computer: create it here, or correct "
                          "the path in Halo.") from None
    except OSError as error:
        raise SourceError(f"The UDL file {file} cannot be read ({error.strerror or error}): check that the "
                          "account running the Integrator may read it.") from None
    try:
        return parse_udl_text(decode_udl(raw, str(file)))
    except SourceError as error:
        raise SourceError(f"The UDL file {file} cannot be used: {error} Open it on Windows (double-click) and "
                          "set the connection again, or enter the server in Halo (the file's text is not shown "
                          "here).") from None


def decode_udl(raw: bytes, name: str = "the UDL file") -> str:
    """UTF-16 (with or without a byte-order mark, as Windows writes it), else UTF-8."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(raw) >= 2 and raw[1:2] == b"\0":
        encoding = "utf-16-le"
    else:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise SourceError("it is not a UDL file (its text is neither UTF-16 nor UTF-8).") from None


def parse_udl_text(text: str) -> dict[str, str]:
    """The keywords of the initstring line: ``key=value`` pairs, values possibly quoted."""
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and not line.startswith(";") and line.casefold() != "[oledb]"]
    if not body:
        raise SourceError("it holds no connection.")
    return parse_oledb_string(" ".join(body))


def parse_oledb_string(text: str) -> dict[str, str]:
    """OLE DB's ``key=value;...`` syntax: keys case-insensitive, values in '...' or "..." (quote doubled)."""
    pairs: dict[str, str] = {}
    position = 0
    while position < len(text):
        equals = text.find("=", position)
        if equals < 0:
            if text[position:].strip(" ;"):
                raise SourceError("a part of its initstring has no '=' and value.")
            break
        key = " ".join(text[position:equals].strip(" ;").split()).casefold()
        value, position = _value(text, equals + 1)
        if key:
            pairs[key] = value
    return pairs


def _value(text: str, start: int) -> tuple[str, int]:
    position = start
    while position < len(text) and text[position] == " ":
        position += 1
    if position < len(text) and text[position] in "\"'":
        quote, chars, position = text[position], [], position + 1
        while position < len(text):
            if text[position] == quote:
                if text.startswith(quote * 2, position):
                    chars.append(quote)
                    position += 2
                    continue
                end = text.find(";", position)
                return "".join(chars), len(text) if end < 0 else end + 1
            chars.append(text[position])
            position += 1
        raise SourceError("a quoted value in it never ends.")
    end = text.find(";", position)
    end = len(text) if end < 0 else end
    return text[position:end].strip(), end + 1


def target_from_udl(keywords: dict[str, str], password: str = "", driver: str = "") -> DbTarget:
    """The ODBC target a UDL file describes. ``password`` fills in when the file keeps none."""
    provider = keywords.get("provider", "")
    family = provider.split(".")[0].casefold().rstrip("0123456789")
    if family not in SQL_SERVER_PROVIDERS:
        raise SourceError(f"The UDL file uses {'an OLE DB provider other than' if provider else 'no OLE DB provider, not'} "
                          "SQL Server's: the Integrator reads "
                          "SQL Server (providers SQLOLEDB, SQLNCLI11, MSOLEDBSQL). Enter the SQL Server's "
                          "details in Halo instead of the UDL file.")
    for key in keywords:
        if key in REFUSED_KEYWORDS:
            raise SourceError(f"The UDL file sets '{key}', which {REFUSED_KEYWORDS[key]}: ODBC cannot take it. "
                              "Remove it from the file, or enter the connection in Halo.")
        if key not in KNOWN_KEYWORDS and key not in IGNORED_KEYWORDS:  # its name is the file's text: not shown
            raise SourceError("The UDL file sets a keyword the Integrator cannot map to ODBC (not shown: the "
                              "file's text is never quoted). Keep only Provider, Data Source, Initial Catalog, "
                              "User ID, Password, Integrated Security and the encryption settings in it, or "
                              "enter the connection in Halo.")
    server, port = parse_server(keywords.get("data source", ""), None)
    if not server:
        raise SourceError("The UDL file names no server (Data Source): fix the file or enter the server in Halo.")
    integrated = keywords.get("integrated security", "").casefold() in _TRUE
    user = "" if integrated else keywords.get("user id", "").strip()
    return DbTarget(
        server=server, port=port, database=keywords.get("initial catalog", "").strip(), user=user,
        password="" if integrated else keywords.get("password", "") or password, driver=driver,
        login_timeout=_whole(keywords.get("connect timeout"), 15),
        encrypt=_encrypt(keywords.get("use encryption for data", "")),
        trust_server_certificate=keywords.get("trust server certificate", "").casefold() in _TRUE,
        extra=tuple((odbc, keywords[key]) for key, odbc in EXTRA_KEYWORDS.items() if keywords.get(key)),
    )


EXTRA_KEYWORDS = {"application name": "APP", "workstation id": "WSID", "application intent": "ApplicationIntent"}
KNOWN_KEYWORDS = frozenset({"provider", "data source", "initial catalog", "user id", "password",
                            "integrated security", "connect timeout", "use encryption for data",
                            "trust server certificate", *EXTRA_KEYWORDS})


def _whole(text: str | None, default: int) -> int:
    return int(text) if text and text.strip().isdigit() and int(text) > 0 else default


def _encrypt(text: str) -> str:
    word = text.strip().casefold()
    if not word:
        return ""
    if word == "strict":
        return "strict"
    return "yes" if word in _TRUE else "no"
