"""The query is a read, whatever Halo sends: one SELECT (or WITH ... SELECT) statement and nothing else.

Whoever can edit an import's query in Halo must not be able to change the customer's database through
the Integrator. ``refuse_unless_read(sql, dialect)`` lexes the text the way the server will (comments,
string literals and quoted identifiers are skipped, so neither hides nor fakes a keyword) and refuses:
more than one statement; a first word other than SELECT or WITH; any word that writes, runs code,
changes the session or reaches another server (INSERT, DELETE, INTO, EXEC, OPENQUERY, ...) anywhere in
the statement. T-SQL needs no semicolon between statements (``SELECT 1 DELETE FROM x`` is two), which
is why the words are refused anywhere, not only at a statement's start.

Numbers are lexed as the server lexes them: a number ends where its digits end (``1DELETE`` is 1 and
DELETE, ``0xTRUNCATE`` the empty binary 0x and TRUNCATE), and a word glued to a number is refused
outright. Braces outside quotes and comments are refused: the ODBC driver turns ``{call p}`` and
``{fn f()}`` into a procedure call no EXEC word announces. In PostgreSQL the functions that act
outside the read (another connection, files, other sessions, SQL text they run, waiting) are refused
by name, compared as PostgreSQL compares them ("dblink_exec" and pg_catalog.dblink_exec are dblink_exec).

This is the first of three locks: the reader also runs the query in a transaction it rolls back (in a
read-only transaction where the server has one), and dist-README recommends a read-only login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from halointegrator.errors import SourceError

TSQL, POSTGRESQL = "tsql", "postgresql"
DIALECTS = (TSQL, POSTGRESQL)

# Statements and clauses a read never needs. A bare word anywhere in the statement is refused; the
# same word as a quoted identifier ([Update], "Update") or inside a string or comment is not a keyword,
# nor is a word right after a name and '.' (u.Signature, d.backup: a part of a qualified name; no
# statement starts after a dot, in T-SQL or PostgreSQL).
# PostgreSQL-only statements (COPY, LOCK, CALL, DO, ...) are left out: there a second statement needs a
# ';', which is refused anyway, and as words they are plausible column names. For the same reason the
# T-SQL-only words (statements T-SQL runs without a ';', functions only T-SQL has) are refused only in
# T-SQL: in PostgreSQL backup, send or enable are ordinary column names.
FORBIDDEN_WORDS = frozenset("""
    INSERT UPDATE DELETE MERGE TRUNCATE DROP CREATE ALTER GRANT REVOKE INTO EXECUTE
    SET DECLARE BEGIN COMMIT ROLLBACK TRANSACTION CHECKPOINT
""".split())
TSQL_ONLY_FORBIDDEN_WORDS = frozenset("""
    DENY EXEC USE GO SAVE TRAN BACKUP RESTORE DBCC SHUTDOWN KILL RECONFIGURE WAITFOR BULK OPENQUERY
    OPENROWSET OPENDATASOURCE UPDATETEXT WRITETEXT SETUSER ENABLE DISABLE RECEIVE SEND CONVERSATION SIGNATURE
""".split())
# PostgreSQL functions that act outside the (read-only) transaction, which a rollback cannot undo:
# another connection (dblink_exec commits on its own), SQL text they run themselves (query_to_xml,
# ts_stat), files and large objects, other sessions, settings, sequences, replication slots, waiting.
# A family is refused by its prefix, so that a member added in a later release is refused too.
POSTGRESQL_FORBIDDEN_PREFIXES = (
    "dblink", "query_to_xml", "cursor_to_xml", "lo_", "pg_sleep", "pg_read_", "pg_ls_", "pg_file_",
    "pg_advisory", "pg_try_advisory", "pg_create_", "pg_drop_", "pg_copy_", "pg_replication_",
    "pg_logical_", "pg_stat_reset", "pg_stat_statements_reset", "pg_wal_replay_", "crosstab",
)
POSTGRESQL_FORBIDDEN_FUNCTIONS = frozenset("""
    loread lowrite pg_stat_file set_config pg_terminate_backend pg_cancel_backend pg_reload_conf
    pg_rotate_logfile pg_notify nextval setval ts_stat ts_rewrite connectby pg_promote pg_switch_wal
    pg_backup_start pg_backup_stop pg_start_backup pg_stop_backup pg_log_backend_memory_contexts
    pg_import_system_collations
""".split())
_WORD_START = re.compile(r"[A-Za-z_@#]")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
# The characters both servers skip between tokens. Not str.isspace(): U+00A0 and \x1c are spaces to
# Python and part of a name to PostgreSQL.
_WHITESPACE = " \t\n\r\f\v"
# T-SQL table hints that take or keep locks until the reader's transaction ends (its rollback), stalling
# the customer's application for the query's timeout.
TSQL_LOCKING_HINTS = frozenset("TABLOCKX XLOCK UPDLOCK HOLDLOCK SERIALIZABLE REPEATABLEREAD".split())
_DIGITS, _HEX_DIGITS = "0123456789", "0123456789abcdefABCDEF"


class QueryRefused(SourceError):
    """The import's query is not a single read; nothing was sent to the database."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "quoted" (identifier), "string", "number", "symbol"
    text: str


def refuse_unless_read(sql: str, dialect: str = TSQL) -> None:
    """Raise ``QueryRefused`` (saying why) unless ``sql`` is one SELECT or WITH ... SELECT statement."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    statements = _statements(tokens(sql, dialect))
    if not statements:
        raise QueryRefused("The import's query is empty: enter a SELECT statement in Halo.")
    if len(statements) > 1:
        raise QueryRefused("The import's query holds more than one statement (a ';' followed by more): "
                           "the Integrator runs exactly one SELECT statement. Edit the query in Halo.")
    statement = statements[0]
    first = next((token for token in statement if token.text != "("), statement[0])
    if first.kind != "word" or first.text.upper() not in ("SELECT", "WITH"):
        raise QueryRefused(f"The import's query starts with '{first.text[:30]}': the Integrator runs only a "
                           "SELECT (or WITH ... SELECT) statement. Edit the query in Halo.")
    _refuse_forbidden(statement, dialect)


def _refuse_forbidden(statement: list[Token], dialect: str) -> None:
    forbidden = FORBIDDEN_WORDS | TSQL_ONLY_FORBIDDEN_WORDS if dialect == TSQL else FORBIDDEN_WORDS
    if dialect == TSQL:
        _refuse_linked_server_names(statement)
    for index, token in enumerate(statement):
        following = statement[index + 1] if index + 1 < len(statement) else Token("symbol", "")
        if dialect == POSTGRESQL:
            _refuse_postgresql_call(token, following)
        if token.kind != "word" or _name_part(statement, index):
            continue
        word = token.text.upper()
        if dialect == TSQL and word in TSQL_LOCKING_HINTS:
            raise QueryRefused(f"The import's query asks for the lock {word}, which holds the customer's tables "
                               "until the read ends: the Integrator runs only a plain SELECT. Remove the table "
                               "hint from the query in Halo (NOLOCK is fine).")
        if word in forbidden:
            raise QueryRefused(f"The import's query contains {word}, which a read never needs: the Integrator "
                               "runs only a plain SELECT (no INTO, no EXEC, no changes). Edit the query in Halo.")
        if word == "NEXT" and following.text.upper() == "VALUE":
            raise QueryRefused("The import's query uses NEXT VALUE FOR, which advances a sequence: "
                               "the Integrator runs only a plain SELECT. Edit the query in Halo.")
        if word == "FOR" and following.text.upper() in ("SHARE", "NO", "KEY"):
            raise QueryRefused("The import's query locks rows (FOR SHARE / FOR UPDATE): the Integrator runs "
                               "only a plain SELECT. Edit the query in Halo.")


def _refuse_linked_server_names(statement: list[Token]) -> None:
    """A four-part name (server.database.schema.object, parts may be empty: srv.db..t) reads through a
    linked server, as that server's mapped login, from a server the import was never pointed at."""
    dots, after_dot = 0, False
    for token in statement:
        if token.kind == "symbol" and token.text == ".":
            dots, after_dot = dots + 1, True
            if dots >= 3:
                raise QueryRefused("The import's query names a table by four parts (server.database.schema."
                                   "table), which reads through a linked server: the Integrator reads only the "
                                   "database the import names. Use at most database.schema.table in Halo.")
        elif token.kind in ("word", "quoted") and after_dot:
            after_dot = False  # the next part of the same name
        else:
            dots, after_dot = 0, False  # a name that follows a name, or anything else, starts afresh


def _name_part(statement: list[Token], index: int) -> bool:
    """Whether the word at ``index`` follows a name (a word or a quoted one) and one or two dots: a column,
    table or schema part (u.Signature, db..tbl), never a statement's start. A dot after a number, a
    string or a ')' does not make one."""
    before = index - 1
    dots = 0
    while before >= 0 and statement[before].kind == "symbol" and statement[before].text == "." and dots < 2:
        before, dots = before - 1, dots + 1
    return dots > 0 and before >= 0 and statement[before].kind in ("word", "quoted")


def _refuse_postgresql_call(token: Token, following: Token) -> None:
    """A name (bare or quoted, schema-qualified or not: the last part is the function) before '('."""
    if token.kind not in ("word", "quoted") or following.kind != "symbol" or following.text != "(":
        return
    name = postgresql_identifier(token)
    if name in POSTGRESQL_FORBIDDEN_FUNCTIONS or name.startswith(POSTGRESQL_FORBIDDEN_PREFIXES):
        raise QueryRefused(f"The import's query calls {name}(), which acts outside the read (another "
                           "connection, files, other sessions, SQL text it runs itself, or waiting): the "
                           "Integrator runs only a plain SELECT. Remove the call from the query in Halo.")


def postgresql_identifier(token: Token) -> str:
    """The name PostgreSQL resolves: a bare word folds to lower case, a quoted one is exact ("" is ")."""
    if token.kind == "quoted":
        return token.text[1:-1].replace('""', '"')
    return token.text.lower()


def _statements(items: list[Token]) -> list[list[Token]]:
    statements, current = [], []
    for token in items:
        if token.kind == "symbol" and token.text == ";":
            if current:
                statements.append(current)
            current = []
        else:
            current.append(token)
    if current:
        statements.append(current)
    return statements


def tokens(sql: str, dialect: str = TSQL) -> list[Token]:
    """The statement's tokens, comments dropped; raises ``QueryRefused`` on anything left unterminated."""
    out: list[Token] = []
    position, length = 0, len(sql)
    while position < length:
        char = sql[position]
        if char in _WHITESPACE:
            position += 1
        elif not " " <= char <= "~":
            _refuse_character(char)
        elif sql.startswith("--", position):
            newline = min((i for i in (sql.find("\n", position), sql.find("\r", position)) if i >= 0),
                          default=length)
            position = newline
        elif sql.startswith("/*", position):
            position = _end_of_block_comment(sql, position)
        elif char == "'":
            position = _string(sql, position, out, backslash=_is_escape_string(out, sql, position, dialect))
        elif char == '"':
            position = _delimited(sql, position, '"', out, "quoted")
        elif char == "[" and dialect == TSQL:
            position = _delimited(sql, position, "]", out, "quoted")
        elif char == "$" and dialect == POSTGRESQL and _DOLLAR_TAG.match(sql, position):
            position = _dollar_string(sql, position, out)
        elif _WORD_START.match(char):
            _refuse_unicode_escaped_name(sql, position, dialect)
            position = _word(sql, position, out)
        elif char in _DIGITS:
            position = _number(sql, position, out)
        elif char in "{}":
            raise QueryRefused(f"The import's query contains '{char}' outside quotes: the ODBC driver turns "
                               "braces ({call ...}, {fn ...}) into procedure calls. Write the plain SQL without "
                               "braces in the query in Halo.")
        else:
            out.append(Token("symbol", char))
            position += 1
    return out


def _refuse_character(char: str) -> None:
    """Outside quotes and comments only printable ASCII: PostgreSQL reads every byte from 0x80 on as part of
    a name, so 'a\u20ac$x$' is one name to it, while a lexer that calls \u20ac a symbol sees a $x$ string
    start there and hides what follows. Names with other letters can be written in quotes."""
    raise QueryRefused(f"The import's query contains the character {char!r} (U+{ord(char):04X}) outside quotes: "
                       "the Integrator accepts only plain ASCII there. Put names with other characters in "
                       "double quotes (or [brackets] for SQL Server), or remove the character, in Halo.")


def _refuse_unicode_escaped_name(sql: str, position: int, dialect: str) -> None:
    """PostgreSQL's U&"d\\0062link_exec" is dblink_exec: rather than decode escapes, refuse them."""
    if dialect == POSTGRESQL and sql[position] in "uU" and sql.startswith('&"', position + 1):
        raise QueryRefused("The import's query writes a name as U&\"...\" (with Unicode escapes), which "
                           "can hide what it calls: write the name plainly in the query in Halo.")


def _end_of_block_comment(sql: str, start: int) -> int:
    """Block comments nest in T-SQL and PostgreSQL alike: /* a /* b */ still a comment */."""
    depth, position = 0, start
    while position < len(sql):
        if sql.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif sql.startswith("*/", position):
            depth, position = depth - 1, position + 2
            if depth == 0:
                return position
        else:
            position += 1
    raise QueryRefused("The import's query has a comment that never ends (a '/*' without its '*/'): "
                       "fix the query in Halo.")


def _is_escape_string(out: list[Token], sql: str, position: int, dialect: str) -> bool:
    """PostgreSQL's E'...' strings take backslash escapes (E'\\'' is one quote); ordinary ones do not."""
    if dialect != POSTGRESQL or not out or out[-1].kind != "word" or out[-1].text.upper() != "E":
        return False
    return position >= 1 and sql[position - 1] in "eE"


def _string(sql: str, start: int, out: list[Token], backslash: bool) -> int:
    position = start + 1
    while position < len(sql):
        char = sql[position]
        if backslash and char == "\\":
            position += 2
        elif char == "'":
            if sql.startswith("''", position):
                position += 2
            else:
                out.append(Token("string", sql[start:position + 1]))
                return position + 1
        else:
            position += 1
    raise QueryRefused("The import's query has a text in quotes that never ends (a ' without its closing '): "
                       "fix the query in Halo.")


def _delimited(sql: str, start: int, closing: str, out: list[Token], kind: str) -> int:
    """A quoted identifier: "..." or [...], the closing character doubled inside."""
    position = start + 1
    while position < len(sql):
        if sql[position] == closing:
            if sql.startswith(closing * 2, position):
                position += 2
                continue
            out.append(Token(kind, sql[start:position + 1]))
            return position + 1
        position += 1
    raise QueryRefused(f"The import's query has a name in {sql[start]}{closing} that never ends: fix the query in Halo.")


def _dollar_string(sql: str, start: int, out: list[Token]) -> int:
    tag = _DOLLAR_TAG.match(sql, start).group(0)
    end = sql.find(tag, start + len(tag))
    if end < 0:
        raise QueryRefused(f"The import's query has a {tag}-quoted text that never ends: fix the query.")
    out.append(Token("string", sql[start:end + len(tag)]))
    return end + len(tag)


def _word(sql: str, start: int, out: list[Token]) -> int:
    position = start + 1
    while position < len(sql) and (sql[position].isascii() and sql[position].isalnum() or sql[position] in "_@#$"):
        position += 1
    out.append(Token("word", sql[start:position]))
    return position


def _number(sql: str, start: int, out: list[Token]) -> int:
    """A number as the server reads it: 0x and hex digits (a binary literal), or digits, one '.', more
    digits and an exponent (e, sign, digits). It ends there: "1DELETE" is 1 and DELETE to the server,
    so a word glued to a number is refused rather than guessed at."""
    if sql.startswith(("0x", "0X"), start):
        position = _run_of(sql, start + 2, _HEX_DIGITS)
    else:
        position = _run_of(sql, start, _DIGITS)
        if sql.startswith(".", position):
            position = _run_of(sql, position + 1, _DIGITS)
        if sql.startswith(("e", "E"), position):
            exponent = position + 1 + sql.startswith(("+", "-"), position + 1)
            if sql.startswith(tuple(_DIGITS), exponent):
                position = _run_of(sql, exponent, _DIGITS)
    out.append(Token("number", sql[start:position]))
    if position < len(sql) and _WORD_START.match(sql[position]):
        glued = sql[start:_word(sql, position, [])]
        raise QueryRefused(f"The import's query has a word glued to a number ('{glued[:30]}'), which the "
                           "database reads as a number followed by a keyword: put a space between them in "
                           "the query in Halo.")
    return position


def _run_of(sql: str, position: int, allowed: str) -> int:
    while position < len(sql) and sql[position] in allowed:
        position += 1
    return position
