"""ODBC connection strings from Halo's SQL fields (or a UDL file), escaped, with the driver's TLS rules.

SQL Server through Microsoft's ODBC drivers: "ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL
Server" (and older ones, Native Client), and the legacy "SQL Server" driver that ships with Windows (old
TLS, no TrustServerCertificate). Each is asked for Encrypt=yes, which with Microsoft's drivers also
verifies the server's certificate: Driver 17 would otherwise encrypt only when the server insists, so an
attacker on the path could answer "no encryption" and read the login. Only the connection's local
setting "Trust the server certificate" relaxes that. PostgreSQL through psqlODBC is understood too (the
tests reach a real PostgreSQL with it): SSLmode=verify-full, relaxed by the same setting to require
(postgres_tls.py). Any other driver is refused: the guard reads each query in the
SQL of its database, and knows only T-SQL and PostgreSQL's.

Every value goes into the string in braces (``PWD={a;b}}c}``): a ';' or '}' in a password can then
neither end the value early nor add a keyword of its own. (PostgreSQL's driver unbraces only the
driver, the password and pqopt; its other values must not need braces, see ``_rendered``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from halointegrator.errors import SourceError
from integrations.sql.postgres_tls import tls_parts

DRIVER_18, DRIVER_17, LEGACY_DRIVER = "ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "SQL Server"
SQL_SERVER_DRIVERS = (DRIVER_18, DRIVER_17, LEGACY_DRIVER)  # the order a driver is chosen in
SQLSERVER, POSTGRESQL = "sqlserver", "postgresql"
DEFAULT_SQL_SERVER_PORT = 1433
DEFAULT_LOGIN_TIMEOUT = 15
DEFAULT_QUERY_TIMEOUT = 300
# OLE DB providers (UDL files, or an OLE DB name in Halo's driver field) that mean "SQL Server".
SQL_SERVER_PROVIDERS = ("sqloledb", "sqlncli", "msoledbsql")
# Keywords whose values the Integrator itself writes (yes, no, 1): plain. Every other value is braced.
CONSTANT_KEYWORDS = frozenset({"Trusted_Connection", "Encrypt", "TrustServerCertificate", "UseDeclareFetch",
                               "Fetch", "PORT", "MultiSubnetFailover", "SSLmode"})
# psqlODBC's keywords whose braces it removes (the others keep them, see _rendered).
POSTGRESQL_BRACED = frozenset({"DRIVER", "PWD", "pqopt"})


@dataclass(frozen=True)
class DbTarget:
    """Where the database is and who logs in; built from Halo's fields or a UDL file. No secret in repr."""

    server: str  # host, host\instance or host,port
    database: str
    user: str = ""  # empty: Windows integrated authentication (the account that runs the Integrator)
    password: str = field(default="", repr=False)
    port: int | None = None
    driver: str = ""  # the ODBC driver Halo (or the local setting) names; "" lets the Integrator choose
    login_timeout: int = DEFAULT_LOGIN_TIMEOUT
    query_timeout: int = DEFAULT_QUERY_TIMEOUT
    encrypt: str = ""  # "", "yes", "no", "strict" ("": the driver's own default)
    trust_server_certificate: bool = False
    ca_file: str = ""  # PostgreSQL: the CA's PEM file (local setting ca_file); "": libpq's usual place
    extra: tuple[tuple[str, str], ...] = ()  # further ODBC keywords a UDL file mapped (APP, WSID, ...)
    local_secret: bool = False  # the password is the connection's local setting (Halo did not return one)

    @property
    def integrated(self) -> bool:
        return not self.user

    def describe(self) -> str:
        """The target as a message names it: never the password."""
        who = f"as {self.user}" if self.user else "with Windows integrated authentication"
        where = f"{self.server}{f',{self.port}' if self.port and ',' not in self.server else ''}"
        return f"database '{self.database}' on {where} {who}"


@dataclass(frozen=True)
class OdbcConnection:
    """What pyodbc needs: the string (secret: never shown), the driver family, timeouts, and the secrets
    to blank out of any message a driver returns."""

    connection_string: str = field(repr=False)
    driver: str
    family: str
    login_timeout: int
    query_timeout: int
    description: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    ca_file: str = ""  # PostgreSQL: the CA file the connection string names (messages name it)


# The drivers whose database, connection keywords and TLS behaviour the Integrator knows, by name.
_SQL_SERVER_DRIVER = re.compile(r"odbc driver \d+(\.\d+)? for sql server|sql server native client \d+(\.\d+)?"
                                r"|sql native client|sql server")
_POSTGRESQL_DRIVER = re.compile(r"postgresql( unicode| ansi)?( ?\(x64\))?|psqlodbc\w*")
SUPPORTED_DRIVERS = (f"SQL Server through Microsoft's '{DRIVER_18}', '{DRIVER_17}', 'SQL Server Native Client "
                     f"11.0' or the legacy '{LEGACY_DRIVER}' driver, and PostgreSQL through psqlODBC's "
                     "'PostgreSQL Unicode' or 'PostgreSQL ANSI'")


def unsupported_driver(driver: str) -> str:
    return (f"The ODBC driver '{driver}' is not one the Integrator can use: it checks every query in its "
            f"database's own SQL before it runs it, and supports {SUPPORTED_DRIVERS}. Name one of these in the "
            "import's SQL driver field in Halo or in the connection's local setting odbc_driver.")


def driver_family(driver: str) -> str:
    """SQLSERVER, POSTGRESQL, or "" for a driver of any other database (or one not known by name)."""
    name = " ".join(driver.casefold().split())
    if _POSTGRESQL_DRIVER.fullmatch(name):
        return POSTGRESQL
    if _SQL_SERVER_DRIVER.fullmatch(name) or any(name.startswith(provider) for provider in SQL_SERVER_PROVIDERS):
        return SQLSERVER
    return ""


def normalise_driver_name(named: str) -> str:
    """Halo's driver field may hold an ODBC driver name, braced or not, or an OLE DB provider name.

    An SQL Server OLE DB provider (SQLOLEDB, SQLNCLI11, MSOLEDBSQL) says "SQL Server", not which ODBC
    driver: it becomes "" so that the newest installed SQL Server driver is chosen.
    """
    name = named.strip().strip("{}").strip()
    if name.split(".")[0].casefold().rstrip("0123456789") in SQL_SERVER_PROVIDERS:
        return ""
    return name


def choose_driver(named: str, installed: Sequence[str]) -> str:
    """The ODBC driver to use: the one named, if installed; else the newest SQL Server driver installed."""
    name = normalise_driver_name(named)
    by_folded = {driver.casefold(): driver for driver in installed}
    if name:
        if name.casefold() in by_folded:
            return by_folded[name.casefold()]
        raise SourceError(f"The ODBC driver '{name}' is not installed on this computer "
                          f"(installed: {', '.join(installed) or 'none'}). Install Microsoft's "
                          f"'{DRIVER_18}' (see README.txt), or name an installed driver in Halo or in the "
                          "connection's local setting odbc_driver.")
    for candidate in SQL_SERVER_DRIVERS:
        if candidate.casefold() in by_folded:
            return by_folded[candidate.casefold()]
    raise SourceError(f"No SQL Server ODBC driver is installed on this computer (installed: "
                      f"{', '.join(installed) or 'none'}). Install Microsoft's '{DRIVER_18}' (see README.txt).")


def braced(value: str) -> str:
    """An ODBC connection-string value in braces, a '}' inside doubled (the ODBC rule)."""
    if "\0" in value:
        raise SourceError("A connection setting contains a NUL character, which ODBC cannot carry.")
    return "{" + value.replace("}", "}}") + "}"


def _rendered(key: str, value: str, family: str) -> str:
    """Microsoft's drivers take any value in braces; psqlODBC only the driver, the password and pqopt (it
    keeps the braces of any other value), so there a value that would need them is refused instead."""
    if key in CONSTANT_KEYWORDS:
        return value
    if family != POSTGRESQL or key in POSTGRESQL_BRACED:
        return braced(value)
    if any(char in value for char in ";{}") or value != value.strip():
        raise SourceError(f"The {key} setting '{value}' holds a ';', a brace or surrounding spaces, which "
                          "PostgreSQL's ODBC driver cannot take: correct it in Halo.")
    return value


def connection_for(target: DbTarget, driver: str) -> OdbcConnection:
    """The ODBC connection for ``target`` through the installed ``driver`` (see ``choose_driver``)."""
    family = driver_family(driver)
    if not family:
        raise SourceError(unsupported_driver(driver))
    parts = [("DRIVER", driver)]
    if family == POSTGRESQL:
        parts += _postgresql_parts(target)
    else:
        parts += _sql_server_parts(target, driver)
    parts += list(target.extra)
    text = ";".join(f"{key}={_rendered(key, str(value), family)}" for key, value in parts)
    return OdbcConnection(text, driver, family, target.login_timeout, target.query_timeout,
                          f"{target.describe()} through '{driver}'", tuple(s for s in (target.password,) if s),
                          target.ca_file if family == POSTGRESQL else "")


def _sql_server_parts(target: DbTarget, driver: str) -> list[tuple[str, str]]:
    server = target.server
    if target.port and "," not in server:
        server = f"{server},{target.port}"
    parts = [("SERVER", server)]
    if target.database:
        parts.append(("DATABASE", target.database))
    if target.integrated:
        parts.append(("Trusted_Connection", "yes"))
    else:
        parts += [("UID", target.user), ("PWD", target.password)]
    if driver.casefold() == LEGACY_DRIVER.casefold():
        return parts + _legacy_encryption(target)
    parts.append(("Encrypt", target.encrypt or "yes"))  # yes: encrypted, and the certificate verified
    if target.trust_server_certificate:
        parts.append(("TrustServerCertificate", "yes"))
    return parts


def _legacy_encryption(target: DbTarget) -> list[tuple[str, str]]:
    """The legacy driver takes Encrypt=yes|no only, and verifies whenever it encrypts (it has no
    TrustServerCertificate). So the local opt-in to trust any certificate can only leave Encrypt out:
    the connection is then encrypted only where the SQL Server forces encryption (check_driver says so)."""
    if target.encrypt == "no" or (target.trust_server_certificate and not target.encrypt):
        return []
    return [("Encrypt", "yes")]


def _postgresql_parts(target: DbTarget) -> list[tuple[str, str]]:
    if target.integrated:
        raise SourceError("Windows integrated authentication reaches SQL Server only: set the SQL user "
                          "name (and password) for this PostgreSQL database in Halo.")
    host, _, port = target.server.partition(",")
    parts = [("SERVER", host), ("PORT", str(target.port or port or 5432)), ("DATABASE", target.database),
             ("UID", target.user), ("PWD", target.password)]
    # Without a declare/fetch cursor psqlODBC holds the whole result in memory before the first row.
    parts += [("UseDeclareFetch", "1"), ("Fetch", "1000")]
    return parts + tls_parts(target.trust_server_certificate, target.ca_file)


def parse_server(server: str, port: str | int | None) -> tuple[str, int | None]:
    """Halo's server field and its separate port field: 'host', 'host\\inst', 'host,1433', 'tcp:host'."""
    host = str(server or "").strip()
    if host.casefold().startswith("tcp:"):
        host = host[4:]
    port_text = str(port or "").strip()
    if "," in host:
        host, _, inline = host.partition(",")
        port_text = port_text or inline.strip()
    if not port_text:
        return host.strip(), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SourceError(f"The SQL port '{port_text}' is not a port number (1-65535): fix it in Halo.")
    return host.strip(), int(port_text)
