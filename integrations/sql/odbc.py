"""The database side: connect through pyodbc, run the one guarded SELECT, stream its rows.

``open_target(settings)`` gives the ``DbTarget`` (from Halo's fields or the UDL file);
``odbc_connection(target, installed)`` the connection string through an installed driver;
``read_rows(connection, query)`` a ``RowStream``: a context manager whose ``columns`` are known before
the first row and which yields rows in chunks of ``fetchmany`` (memory stays bounded whatever the
result's size), as dicts keyed by lower-case column name.

Every read runs in a transaction that is rolled back at the end, read-only where the server has such a
thing (PostgreSQL: SET TRANSACTION READ ONLY; SQL Server has none, hence the guard and the read-only
login dist-README recommends). Driver errors become messages that say what to fix; the password is
blanked out of anything a driver says.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, Iterator, Sequence

from halointegrator import deadline as run_deadline
from halointegrator.errors import SourceError
from halointegrator.redaction import redact_with, shorten
from integrations.sql import guard
from integrations.sql.bounded import CANCEL_GRACE, CallTimedOut, Worker
from integrations.sql.connstr import POSTGRESQL, SQLSERVER, DbTarget, OdbcConnection, choose_driver, \
    connection_for, unsupported_driver
from integrations.sql.postgres_tls import explain_tls
from integrations.sql.settings import ImportSettings, with_target
from integrations.sql.udl import read_udl, target_from_udl

CHUNK_ROWS = 1000
MAX_DRIVER_TEXT = 500  # characters of a driver's message a sentence quotes (after redaction)
_DRIVER_PREFIX = re.compile(r"^(\s*\[[^\]]*\])+\s*")
_DRIVER_SUFFIX = re.compile(r"\s*\((?:-?\d+)\)\s*\((?:SQL\w+)\)\s*$|\s*\(SQL\w+\)\s*$")


def pyodbc_module():
    """pyodbc, or a SourceError when this computer lacks the ODBC driver manager it loads."""
    try:
        import pyodbc  # noqa: PLC0415 - imported late: a missing libodbc must not stop the other integrations
    except ImportError as error:
        raise SourceError(f"The ODBC layer cannot load ({error}): on Linux install unixODBC "
                          "(apt-get install unixodbc).") from None
    return pyodbc


def installed_drivers() -> list[str]:
    return list(pyodbc_module().drivers())


def resolve_target(settings: ImportSettings) -> ImportSettings:
    """The settings with their target filled from the UDL file when Halo names one and no server."""
    halo = settings.target
    if halo.server:
        return settings
    if not settings.udl_path:
        raise SourceError(f"{settings.name}: Halo names neither a SQL Server nor a UDL file: enter the "
                          "database's SQL connection in Halo.")
    target = target_from_udl(read_udl(settings.udl_path), password=halo.password, driver=halo.driver)
    local_secret = halo.local_secret and bool(halo.password) and target.password == halo.password
    return with_target(settings, replace(target, query_timeout=halo.query_timeout, local_secret=local_secret,
                                         trust_server_certificate=target.trust_server_certificate
                                         or halo.trust_server_certificate, ca_file=halo.ca_file))


def odbc_connection(target: DbTarget, installed: Sequence[str] | None = None) -> OdbcConnection:
    driver = choose_driver(target.driver, installed_drivers() if installed is None else installed)
    return connection_for(target, driver)


def dialect_of(connection: OdbcConnection) -> str:
    """The SQL the guard reads the query in: the driver's database's own (connection_for refuses others)."""
    dialects = {POSTGRESQL: guard.POSTGRESQL, SQLSERVER: guard.TSQL}
    if connection.family not in dialects:
        raise SourceError(unsupported_driver(connection.driver))
    return dialects[connection.family]


def connect(connection: OdbcConnection, worker: Worker | None = None):
    """An open pyodbc connection (autocommit off, read-only where the driver honours it), made in ``worker``
    (one of its own when none is given) within the login timeout and the run's deadline."""
    own = worker is None
    worker = worker or Worker("sql-connect")
    deadline = run_deadline.current()
    login_timeout = max(1, math.ceil(deadline.limit(connection.login_timeout)))
    try:
        handle = worker.run(lambda: _open(connection, login_timeout), login_timeout + CANCEL_GRACE,
                            "connecting to the database", deadline=deadline)
    except CallTimedOut:
        raise SourceError(f"The database server took the connection but did not finish the login within "
                          f"{login_timeout} s ({connection.description}): check the server name and port in Halo "
                          "and that it is the database server. Nothing was imported.") from None
    finally:
        if own:
            worker.finish(lambda: None)  # ends the worker; the caller closes the connection
    return handle


def _open(connection: OdbcConnection, login_timeout: int):
    pyodbc = pyodbc_module()
    try:
        handle = pyodbc.connect(connection.connection_string, autocommit=False, readonly=True,
                                timeout=login_timeout)
    except pyodbc.Error as error:
        raise SourceError(explain(error, connection, "connect")) from None
    if connection.family != POSTGRESQL:  # psqlODBC refuses the attribute; it gets statement_timeout instead
        try:
            handle.timeout = query_timeout(connection)
        except pyodbc.Error as error:
            handle.close()
            raise SourceError(explain(error, connection, "query")) from None
    return handle


def query_timeout(connection: OdbcConnection) -> int:
    """The SQL timeout in Halo, or less when the run's deadline comes sooner (SQL_ATTR_QUERY_TIMEOUT)."""
    return max(1, math.ceil(run_deadline.current().limit(connection.query_timeout)))


class RowStream:
    """One guarded query's result, read in chunks; use as ``with read_rows(...) as rows:``.

    Every driver call runs in the stream's worker, bounded by the SQL timeout and the run's deadline
    (bounded.py); more than ``max_rows`` rows is refused before they are all kept.
    """

    def __init__(self, connection: OdbcConnection, query: str, chunk_rows: int = CHUNK_ROWS,
                 max_rows: int | None = None, refusal: str = "") -> None:
        guard.refuse_unless_read(query, dialect_of(connection))
        self.connection, self.query, self.chunk_rows = connection, query, chunk_rows
        self.max_rows, self.refusal = max_rows, refusal
        self.columns: list[str] = []
        self._handle = self._cursor = None
        self._worker: Worker | None = None

    def __enter__(self) -> "RowStream":
        self._worker = Worker("sql-read")
        try:
            self._handle = connect(self.connection, self._worker)
            self._cursor = self._call(self._handle.cursor, "opening a cursor")
            if self.connection.family == POSTGRESQL:
                # The first statement of the transaction: everything after it may only read. It covers
                # this connection only: dblink_exec() opens a second connection, neither read-only nor
                # rolled back, which is why the guard refuses dblink and its kind by name.
                self._execute("SET TRANSACTION READ ONLY")
                self._execute("SET LOCAL standard_conforming_strings TO on")  # as the guard lexes
                self._execute(f"SET LOCAL statement_timeout TO {query_timeout(self.connection) * 1000}")
            # A line break after the query: psqlODBC wraps it (a cursor), and a last line that is a -- comment
            # would comment out what the driver appends.
            self._execute(self.query + "\n")
            if self._cursor.description is None:
                raise SourceError("The query returned no result set: it must be a SELECT that returns rows.")
            self.columns = [str(column[0]) for column in self._cursor.description]
        except BaseException as error:
            self.close()
            if isinstance(error, self._pyodbc_error()):
                raise SourceError(explain(error, self.connection, "query")) from None
            raise
        return self

    def _execute(self, statement: str) -> None:
        self._call(lambda: self._cursor.execute(statement), "running the query in the database")

    def _call(self, call, doing: str):
        """``call()`` in the worker within the SQL timeout and the run's deadline (bounded.py)."""
        cursor, deadline = self._cursor, run_deadline.current()
        try:
            return self._worker.run(call, self.connection.query_timeout + CANCEL_GRACE, doing,
                                    cancel=cursor.cancel if cursor is not None else None, deadline=deadline)
        except self._pyodbc_error():
            if deadline.expired():  # the statement timeout was the run's deadline (query_timeout), or cancelled
                raise deadline.error(doing) from None
            raise
        except CallTimedOut:
            raise SourceError(f"The database did not answer within the SQL timeout of "
                              f"{self.connection.query_timeout} s while {doing} ({self.connection.description}): "
                              "make the query faster or raise the SQL timeout in Halo. Nothing was imported.") from None

    def _pyodbc_error(self) -> type:
        return pyodbc_module().Error

    def require(self, *columns: str) -> None:
        """A SourceError naming each configured column the result does not have (case-insensitive)."""
        present = {name.casefold() for name in self.columns}
        missing = [column for column in dict.fromkeys(columns) if column and column.casefold() not in present]
        if missing:
            raise SourceError(f"The query's result has no column {', '.join(repr(m) for m in missing)} "
                              f"(it has {', '.join(self.columns[:30]) or 'none'}): fix the query or the field "
                              "names in Halo. Nothing was imported.")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = [name.casefold() for name in self.columns]
        first = {name: index for index, name in reversed(list(enumerate(names)))}  # a repeated name: its first
        pairs = sorted(first.items(), key=lambda item: item[1])
        count = 0
        while True:
            chunk = self._fetch()
            if not chunk:
                return
            count += len(chunk)
            if self.max_rows is not None and count > self.max_rows:
                raise SourceError(self.refusal or f"The query returned more than {self.max_rows:,} rows: narrow "
                                  "the query in Halo. Nothing was imported.")
            for row in chunk:
                yield {name: row[index] for name, index in pairs}

    def _fetch(self) -> list:
        try:
            return self._call(lambda: self._cursor.fetchmany(self.chunk_rows), "reading the query's rows")
        except self._pyodbc_error() as error:
            raise SourceError(explain(error, self.connection, "fetch")) from None

    def close(self) -> None:
        handle, cursor, self._handle, self._cursor = self._handle, self._cursor, None, None
        worker, self._worker = self._worker, None
        # The cursor and the connection are closed in the worker, after its last call, and the closure
        # keeps them alive till then: freeing a cursor here while the worker closes its connection (or
        # is still in a call) frees the driver's statement twice.
        if worker is not None:
            worker.finish(lambda: finish(handle, cursor) if handle is not None else None)
        elif handle is not None:
            finish(handle, cursor)

    def __exit__(self, *exc_info) -> None:
        self.close()


def finish(handle, cursor=None) -> None:
    """Roll the read's transaction back (a read has nothing to keep: whatever it did is undone), close."""
    if cursor is not None:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
    try:
        handle.rollback()
    except Exception:  # noqa: BLE001 - the connection may already be gone; closing is what matters
        pass
    try:
        handle.close()
    except Exception:  # noqa: BLE001
        pass


def read_rows(connection: OdbcConnection, query: str, chunk_rows: int = CHUNK_ROWS, max_rows: int | None = None,
              refusal: str = "") -> RowStream:
    return RowStream(connection, query, chunk_rows, max_rows, refusal)


def explain(error: Exception, connection: OdbcConnection, stage: str) -> str:
    """A driver's error as a sentence saying what to fix; never with the password in it."""
    state = str(error.args[0]) if len(error.args) > 1 else ""
    said = _driver_text(str(error.args[-1]) if error.args else str(error))
    lowered = said.casefold()  # what the driver said decides the sentence; only its redacted text is shown
    # Redacted whole (every form and any 8-character piece of the password), and only then cut.
    text = shorten(redact_with(said, connection.secrets), MAX_DRIVER_TEXT)
    where = connection.description
    if connection.family == POSTGRESQL and (tls := explain_tls(lowered, where, text, connection.ca_file)):
        return tls
    if "certificate" in lowered and ("trust" in lowered or "verify" in lowered or "ssl" in lowered):
        return (f"The SQL Server's TLS certificate is not trusted by this computer ({where}): '{connection.driver}' "
                "encrypts and verifies the server's certificate. Install a certificate on the SQL Server that "
                "this computer trusts, or, if you accept the risk on your network, tick the connection's local "
                f"setting 'Trust the server certificate'. The driver said: {text}")
    if state in ("28000", "28P01") or "login failed" in lowered or "password authentication failed" in lowered:
        who = "the Windows account running the Integrator" if "Windows integrated" in where else "the SQL login"
        return (f"The database refused {who} ({where}): check the user name and password in Halo (or the "
                f"connection's local password setting) and that the login may open the database. The driver said: {text}")
    if state == "IM002" or "can't open lib" in lowered or "data source name not found" in lowered:
        return (f"The ODBC driver '{connection.driver}' cannot be loaded on this computer: install it again "
                f"(see README.txt). The driver said: {text}")
    if stage == "fetch" and state.startswith("08"):
        return (f"The connection to the database was lost while the rows were read ({where}), so nothing was "
                "imported: run again, and if it keeps happening check the network between this computer and the "
                f"database server, and the server's log. The driver said: {text}")
    if stage == "connect" or state.startswith("08"):
        return (f"The database server does not answer ({where}): check the server name and port in Halo, that "
                "the SQL Server accepts TCP connections, and that no firewall blocks this computer. "
                f"The driver said: {text}")
    if state in ("HYT00", "HYT01") or "timeout" in lowered or "canceling statement" in lowered:
        return (f"The query did not finish within {connection.query_timeout} s ({where}): make it faster or "
                f"raise the SQL timeout in Halo. The driver said: {text}")
    return f"The query failed in the database ({where}): {text}. Fix the query in Halo."


def _driver_text(text: str) -> str:
    text = _DRIVER_SUFFIX.sub("", _DRIVER_PREFIX.sub("", text.strip()))
    return " ".join(text.split())
