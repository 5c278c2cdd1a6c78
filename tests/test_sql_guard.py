"""The query guard: only one SELECT (or WITH ... SELECT) reaches the database, whatever Halo holds."""

from __future__ import annotations

import pytest

from integrations.sql.guard import POSTGRESQL, TSQL, QueryRefused, refuse_unless_read, tokens
from integrations.sql.queries import DEFAULT_KEYS, DEFAULT_QUERIES, LANSWEEPER_QUERY, SCCM_QUERY

READS = [
    "SELECT 1",
    "select AssetID, AssetName from tblAssets where State = 1;",
    "SELECT 1;  -- a trailing comment\n",
    "  (SELECT 1)",
    "WITH recent AS (SELECT AssetID FROM tblAssets) SELECT * FROM recent",
    "SELECT [Update], [Delete]]x], \"Insert\" FROM t",  # keywords as quoted identifiers are names
    "SELECT 'DROP TABLE x; DELETE FROM y' AS note",  # inside a string
    "SELECT 1 /* DELETE FROM t; EXEC xp_cmdshell */",  # inside a comment
    "SELECT 1 /* outer /* nested */ still a comment: DELETE */",
    "SELECT a.Domain + '\\' + a.Username FROM tblAssets a",  # a backslash is plain text in T-SQL
    "SELECT N'Zürich', 'it''s' FROM t",
    "SELECT LastUpdate, Updated, Deleted_At FROM t",  # words that only contain a keyword
    "SELECT REPLACE(Name0, 'x', 'y') FROM v_R_System",
    "SELECT x FROM t FOR XML PATH('')",
    "SELECT Cluster, Lock, Copy, [Load] FROM servers",  # statement words of other databases are names here
]
REFUSED = [
    ("SELECT 1; DROP TABLE x", "more than one statement"),
    ("SELECT 1;; DELETE FROM x", "more than one statement"),
    ("/* */ DELETE FROM tblAssets", "starts with 'DELETE'"),
    ("-- just a comment\nUPDATE t SET a = 1", "starts with 'UPDATE'"),
    ("SELECT * INTO copy_of_assets FROM tblAssets", "INTO"),
    ("EXEC xp_cmdshell 'dir'", "starts with 'EXEC'"),
    ("SELECT 1 EXEC sp_configure", "EXEC"),
    ("SELECT 1 DELETE FROM t", "DELETE"),  # T-SQL needs no semicolon between statements
    ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "DELETE"),
    ("WITH x AS (SELECT 1 AS a) UPDATE t SET a = 1", "UPDATE"),
    ("SELECT * FROM OPENQUERY(linked, 'DELETE FROM t')", "OPENQUERY"),
    ("SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'y')", "OPENROWSET"),
    ("SELECT NEXT VALUE FOR dbo.seq", "NEXT VALUE"),
    ("SELECT * FROM t FOR UPDATE", "UPDATE"),
    ("SELECT 1 WAITFOR DELAY '00:10'", "WAITFOR"),
    ("SELECT 1 SHUTDOWN", "SHUTDOWN"),
    ("select 1 declare @x int", "DECLARE"),
    ("", "empty"),
    ("  -- only a comment", "empty"),
    ("SELECT 'unterminated", "never ends"),
    ("SELECT 1 /* unterminated", "never ends"),
    ("SELECT [unterminated", "never ends"),
    ("SELECT 1 /* /* */ ' */ ; DELETE FROM x; --'", "more than one statement"),  # nesting as the server
    ("SELECT 1 /* a */ ; /* b */ SELECT 2", "more than one statement"),
    ("SHOW TABLES", "starts with 'SHOW'"),
]


@pytest.mark.parametrize("sql", READS)
def test_a_single_read_passes(sql: str) -> None:
    refuse_unless_read(sql, TSQL)


@pytest.mark.parametrize("sql,reason", REFUSED)
def test_anything_but_a_single_read_is_refused_with_the_reason(sql: str, reason: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        refuse_unless_read(sql, TSQL)
    assert reason in str(refused.value)
    assert "Halo" in str(refused.value)  # where to fix it


@pytest.mark.parametrize("sql,reason", [
    ("SELECT $$ ; DELETE FROM x; $$", None),  # a dollar-quoted text: one statement
    ("SELECT $a$ ' $a$; DELETE FROM x; -- '", "more than one statement"),
    ("SELECT E'\\' ; DELETE FROM x; --'", None),  # E'' takes backslash escapes: all one text
    ("SELECT E'\\''; DELETE FROM x", "more than one statement"),
    ("SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
    ("SELECT dblink_exec('x', 'DELETE FROM t')", "dblink_exec"),
    ("SELECT set_config('a', 'b', false)", "set_config"),
    ("SELECT * FROM t FOR SHARE", "locks rows"),
])
def test_postgresql_quoting_is_lexed_as_postgresql_does(sql: str, reason: str | None) -> None:
    if reason is None:
        refuse_unless_read(sql, POSTGRESQL)
    else:
        with pytest.raises(QueryRefused, match=reason):
            refuse_unless_read(sql, POSTGRESQL)


def test_a_tsql_bracket_is_not_an_identifier_in_postgresql() -> None:
    kinds = [token.kind for token in tokens("SELECT a[1] FROM t", POSTGRESQL)]
    assert "quoted" not in kinds
    assert [t.kind for t in tokens("SELECT [a b] FROM t", TSQL)][1] == "quoted"


@pytest.mark.parametrize("query", [LANSWEEPER_QUERY, SCCM_QUERY])
@pytest.mark.parametrize("dialect", [TSQL, POSTGRESQL])
def test_the_shipped_default_queries_are_single_reads(query: str, dialect: str) -> None:
    refuse_unless_read(query, dialect)


def test_the_lansweeper_default_query_reads_the_lansweeper_tables_and_returns_its_key_columns() -> None:
    for table in ("tblAssets", "tblAssetCustom", "tsysAssetTypes", "tblOperatingsystem"):
        assert f"{table} AS" in LANSWEEPER_QUERY
    assert "WHERE c.State = 1" in LANSWEEPER_QUERY  # active assets only
    for column in DEFAULT_KEYS["lansweeper"].values():
        if column != "login":
            assert f"AS {column}" in LANSWEEPER_QUERY or f".{column}," in LANSWEEPER_QUERY


def test_the_sccm_default_query_reads_the_configmgr_views_and_leaves_obsolete_records_out() -> None:
    for view in ("v_R_System", "v_GS_PC_BIOS", "v_GS_COMPUTER_SYSTEM", "v_GS_OPERATING_SYSTEM",
                 "v_GS_X86_PC_MEMORY", "v_GS_WORKSTATION_STATUS"):
        assert f"{view} AS" in SCCM_QUERY
    assert "b.SerialNumber0 AS SerialNumber" in SCCM_QUERY
    assert "s.Client0 = 1" in SCCM_QUERY and "Obsolete0 = 0" in SCCM_QUERY and "Decommissioned0 = 0" in SCCM_QUERY
    for word in ("TOP", "ISNULL", "NOLOCK", "["):  # T-SQL only: the same text must run on the sandbox too
        assert word not in SCCM_QUERY and word not in LANSWEEPER_QUERY
    assert set(DEFAULT_QUERIES) == {"lansweeper", "sccm"}


# Queries as Lansweeper and ConfigMgr administrators write them (T-SQL: TOP, brackets, NOLOCK, CONVERT
# styles, decimals, exponents, binary literals): the stricter number and brace rules must let them through.
LANSWEEPER_AND_SCCM_READS = [
    """Select Top 1000000 tblAssets.AssetID, tblAssets.AssetName, tsysAssetTypes.AssetTypename,
       tblAssetCustom.Serialnumber, Convert(VarChar(10), tblAssets.Lastseen, 120) As LastSeen,
       Cast(tblAssets.Memory / 1024.0 As decimal(10,1)) As MemoryGB, tblAssets.IPAddress
     From tblAssets With (NoLock)
       Inner Join tblAssetCustom On tblAssets.AssetID = tblAssetCustom.AssetID
       Inner Join tsysAssetTypes On tsysAssetTypes.AssetType = tblAssets.Assettype
     Where tblAssetCustom.State = 1 And tblAssets.Lastseen > DateAdd(dd, -30, GetDate())
     Order By tblAssets.AssetName""",
    """SELECT DISTINCT s.Name0, b.SerialNumber0, ISNULL(m.TotalPhysicalMemory0, 0) / 1048576 AS RamGB,
       CASE WHEN s.Operating_System_Name_and0 LIKE '%Server%' THEN 'Server' ELSE 'Workstation' END AS [Type]
     FROM v_R_System AS s
       LEFT JOIN v_GS_PC_BIOS AS b ON b.ResourceID = s.ResourceID
       LEFT JOIN v_GS_X86_PC_MEMORY m ON m.ResourceID = s.ResourceID
     WHERE s.Client0 = 1 AND s.Obsolete0 = 0 AND s.SMS_Unique_Identifier0 <> 0x0""",
    "SELECT a.AssetName FROM tblAssets a WHERE a.IPNumeric BETWEEN 3232235521 AND 3232235774",
    "SELECT STUFF((SELECT ', ' + u.Username FROM tblAssetUserRelations u WHERE u.AssetID = a.AssetID "
    "FOR XML PATH('')), 1, 2, '') AS Users FROM tblAssets a",
    "SELECT 1e3 AS a, 1.5E-2 AS b, -2.75 AS c, 0x1F AS d, .5 AS e, 7. AS f, $12.50 AS g",
    "SELECT x FROM t WHERE note LIKE '{%}' -- {fn now()} in a comment\n /* {call p} */",  # braces as text
    "SELECT [a{b}], \"c}d\" FROM t",  # and in quoted names
]
# T-SQL ends a number where its digits end ("SELECT 1FROM t" is valid T-SQL), so a keyword glued to a
# number is a keyword; "1=1COMMIT" would commit what the reader means to roll back. Microsoft's ODBC
# driver turns {call p(...)} into a procedure call, even inside a batch, with no EXEC word written.
HIDDEN_STATEMENTS = [
    ("SELECT 1DELETE FROM dbo.tblAssets WHERE 1=1COMMIT", "a word glued to a number ('1DELETE')"),
    ("SELECT 1DROP TABLE dbo.tblAssets SELECT 1COMMIT", "('1DROP')"),
    ("SELECT 0xTRUNCATE TABLE dbo.tblAssets SELECT 1COMMIT", "('0xTRUNCATE')"),  # 0x: the empty binary literal
    ("SELECT 1GRANT CONTROL ON DATABASE::CM_P01 TO public SELECT 1COMMIT", "('1GRANT')"),
    ("SELECT 1.DELETE FROM t", "('1.DELETE')"),
    ("SELECT 1e5UPDATE t SET a = 1", "('1e5UPDATE')"),
    ("SELECT 0x1FDELETE FROM t", "('0x1FDELETE')"),  # hex digits, then a word
    ("SELECT 1 AS x {call xp_cmdshell('powershell -enc ...')}", "'{' outside quotes"),
    ("SELECT 1 AS x {call sp_addsrvrolemember('DOMAIN\\attacker', 'sysadmin')}", "'{' outside quotes"),
    ("SELECT {fn USER()} AS who", "'{' outside quotes"),
    ("SELECT a FROM t WHERE d > {d '2020-01-01'}", "'{' outside quotes"),
    ("SELECT a } FROM t", "'}' outside quotes"),
]


@pytest.mark.parametrize("sql", LANSWEEPER_AND_SCCM_READS)
def test_lansweeper_and_sccm_queries_as_administrators_write_them_pass(sql: str) -> None:
    refuse_unless_read(sql, TSQL)


@pytest.mark.parametrize("sql,reason", HIDDEN_STATEMENTS)
@pytest.mark.parametrize("dialect", [TSQL, POSTGRESQL])
def test_a_statement_glued_to_a_number_or_hidden_in_an_odbc_escape_is_refused(sql: str, reason: str,
                                                                              dialect: str) -> None:
    """The server, not the guard, decides where a number ends and what braces mean: the guard lexes as
    the server does and refuses what only a trick needs, with a message saying what to change."""
    with pytest.raises(QueryRefused) as refused:
        refuse_unless_read(sql, dialect)
    assert reason in str(refused.value) and "in Halo" in str(refused.value)


@pytest.mark.parametrize("sql,texts", [
    ("SELECT 1.5e3 FROM t", ["SELECT", "1.5e3", "FROM", "t"]),
    ("SELECT 0x1F, 1E+2, 1e-2 FROM t", ["SELECT", "0x1F", ",", "1E+2", ",", "1e-2", "FROM", "t"]),
    ("SELECT 1-2", ["SELECT", "1", "-", "2"]),
    ("SELECT 3.", ["SELECT", "3."]),
])
def test_numbers_end_where_the_servers_numbers_end(sql: str, texts: list[str]) -> None:
    assert [token.text for token in tokens(sql, TSQL)] == texts


# Each acts outside the read, which neither the read-only transaction nor the rollback undoes: dblink
# opens a second connection that commits; query_to_xml runs SQL text the guard sees only as a string.
POSTGRESQL_CALLS_OUTSIDE_THE_READ = [
    ("SELECT \"dblink_exec\"('dbname=lansweeper', 'DELETE FROM tblassets') AS serial", "dblink_exec()"),
    ("SELECT pg_catalog.\"pg_terminate_backend\"(pid) AS serial FROM pg_stat_activity", "pg_terminate_backend()"),
    ("SELECT query_to_xml('select dblink_exec(''dbname=x'', ''DROP TABLE t'')', true, false, '') AS serial",
     "query_to_xml()"),
    ("SELECT \"pg_read_file\"('/etc/passwd') AS serial", "pg_read_file()"),
    ("SELECT g AS serial, pg_sleep_for('10 minutes') FROM generate_series(1, 1000000) g", "pg_sleep_for()"),
    ("SELECT \"set_config\"('statement_timeout', '0', false) AS serial", "set_config()"),
    ("SELECT * FROM DBLINK('dbname=x', 'SELECT 1') AS t(a int)", "dblink()"),  # bare words fold to lower case
    ("SELECT public . dblink_connect /* a comment */ ('x')", "dblink_connect()"),
    ("SELECT query_to_xml_and_xmlschema('SELECT 1', true, false, '')", "query_to_xml_and_xmlschema()"),
    ("SELECT cursor_to_xml('c', 1, true, false, '')", "cursor_to_xml()"),
    ("SELECT lo_import('/etc/passwd')", "lo_import()"),
    ("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea()"),
    ("SELECT pg_sleep(1), pg_sleep_until(now())", "pg_sleep()"),
    ("SELECT \"pg_ls_dir\"('.'), pg_stat_file('x')", "pg_ls_dir()"),
    ("SELECT pg_read_binary_file('x')", "pg_read_binary_file()"),
    ("SELECT pg_cancel_backend(1)", "pg_cancel_backend()"),
    ("SELECT nextval('s')", "nextval()"),  # sequences are not rolled back
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),  # held past the rollback, for the session
    ("SELECT * FROM ts_stat('DELETE FROM t RETURNING to_tsvector(a)')", "ts_stat()"),  # runs SQL text
    ("SELECT pg_create_logical_replication_slot('s', 'test_decoding')", "pg_create_logical_replication_slot()"),
]


@pytest.mark.parametrize("sql,name", POSTGRESQL_CALLS_OUTSIDE_THE_READ)
def test_a_postgresql_function_that_acts_outside_the_read_is_refused_however_it_is_spelt(sql: str, name: str) -> None:
    """Names are compared as PostgreSQL resolves them: a bare word folded to lower case, a quoted one
    exact, the schema aside; dangerous families by prefix, so that later members are refused too."""
    with pytest.raises(QueryRefused) as refused:
        refuse_unless_read(sql, POSTGRESQL)
    assert f"calls {name}" in str(refused.value) and "in Halo" in str(refused.value)


@pytest.mark.parametrize("sql", [
    "SELECT xpath('/a/text()', '<a>1</a>'::xml) AS serial",
    "SELECT lo_limit, dblink FROM t",  # columns of those names: no call
    "SELECT \"PG_SLEEP\"(1)",  # quoted is exact: a function of another name (PostgreSQL says none exists)
    "SELECT t.lo_count + 1 AS n FROM t",
])
def test_postgresql_reads_that_only_look_like_those_calls_pass(sql: str) -> None:
    refuse_unless_read(sql, POSTGRESQL)


def test_a_postgresql_name_with_unicode_escapes_is_refused() -> None:
    """U&"d\\0062link_exec" is dblink_exec to PostgreSQL; the guard does not decode escapes, it refuses them."""
    with pytest.raises(QueryRefused, match="U&"):
        refuse_unless_read('SELECT U&"d\\0062link_exec"(\'x\', \'y\')', POSTGRESQL)
    refuse_unless_read("SELECT U&'d\\0061ta' AS serial", POSTGRESQL)  # a Unicode-escaped text is only text


# PostgreSQL reads every byte from 0x80 on as part of a name: "a€$x$" is one name to it, while a lexer
# that calls € a symbol sees a $x$ string start there and hides what follows until the next $x$.
NON_ASCII_HIDING = [
    ("SELECT 1 AS a€$x$, dblink_exec('dbname=x', 'DELETE FROM t') AS b /*$x$*/", POSTGRESQL, "U+20AC"),
    ("SELECT 1 AS a\u00a0$x$, pg_terminate_backend(42) AS b /*$x$*/", POSTGRESQL, "U+00A0"),
    ("WITH a€$x$ AS (DELETE FROM halo_audit RETURNING 1) SELECT 1 /*$x$*/", POSTGRESQL, "U+20AC"),
    ("SELECT 1 AS a\x1c, pg_sleep(1)", POSTGRESQL, "U+001C"),  # a space to Python, not to PostgreSQL
    ("SELECT Größe FROM t", TSQL, "U+00F6"),
]


@pytest.mark.parametrize("sql, dialect, code", NON_ASCII_HIDING)
def test_a_character_outside_printable_ascii_outside_quotes_is_refused(sql: str, dialect: str, code: str) -> None:
    with pytest.raises(QueryRefused, match=rf"U\+{code[2:]}.*outside quotes.*double quotes"):
        refuse_unless_read(sql, dialect)


@pytest.mark.parametrize("sql, dialect", [
    ("SELECT 'Zürich €' AS s, \"Größe\" FROM t -- Größe in Zürich", POSTGRESQL),
    ("SELECT N'Zürich' AS s, [Größe] FROM t /* Größe */", TSQL),
])
def test_other_characters_in_quotes_and_comments_pass(sql: str, dialect: str) -> None:
    refuse_unless_read(sql, dialect)


@pytest.mark.parametrize("sql, reason", [
    ("SELECT name, password_hash FROM [PAYROLL-SQL].master.sys.sql_logins", "four parts"),
    ("SELECT * FROM PAYROLL.hr.dbo.Salaries", "four parts"),
    ("SELECT * FROM srv.db..t", "four parts"),  # the schema left out is still a linked server's table
    ("SELECT * FROM dbo.Orders WITH (TABLOCKX, HOLDLOCK)", "TABLOCKX"),
    ("SELECT * FROM dbo.Orders WITH (XLOCK, ROWLOCK)", "XLOCK"),
    ("SELECT * FROM dbo.Orders WITH (UPDLOCK, SERIALIZABLE)", "UPDLOCK"),
])
def test_tsql_that_reaches_a_linked_server_or_locks_the_customers_tables_is_refused(sql: str, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        refuse_unless_read(sql, TSQL)


@pytest.mark.parametrize("sql", [
    "SELECT a.b, c.d FROM CM_P01.dbo.v_R_System a WITH (NOLOCK) JOIN CM_P01..v_GS_OS c ON c.ResourceID = a.ResourceID",
    "SELECT t.a FROM x.y.t",
])
def test_three_part_names_and_nolock_pass(sql: str) -> None:
    refuse_unless_read(sql, TSQL)


@pytest.mark.parametrize("dialect,query", [
    # PostgreSQL needs ';' between statements (refused anyway): BACKUP, SEND, ENABLE, ... are only T-SQL's
    # statements, and ordinary column names in a PostgreSQL inventory.
    (POSTGRESQL, "SELECT d.name, d.serial, d.backup, d.enable FROM devices d"),
    (POSTGRESQL, "SELECT name, backup, send, signature, disable, kill FROM devices"),
    # T-SQL: SIGNATURE, SEND, RECEIVE, ENABLE, DISABLE are non-reserved: valid column names, qualified here.
    (TSQL, "SELECT u.Email, u.Signature, u.Disable FROM dbo.Users u"),
    (TSQL, "SELECT [u].Signature, a.Backup, u . Send FROM dbo.Users u JOIN lansweeperdb..tblAssets a ON 1 = 1"),
    (POSTGRESQL, 'SELECT "d".update, public.devices.delete FROM public.devices'),
])
def test_a_plain_select_of_columns_named_like_tsql_only_keywords_passes(dialect: str, query: str) -> None:
    refuse_unless_read(query, dialect)


@pytest.mark.parametrize("dialect,query,word", [
    (TSQL, "SELECT Email, Signature FROM dbo.Users", "SIGNATURE"),  # bare: still a T-SQL keyword
    (TSQL, "SELECT 1 AS a BACKUP DATABASE x TO DISK = 'c:\\x.bak'", "BACKUP"),
    # a dot after a number, a string or a ')' is no qualified name: the word after it is a keyword
    (TSQL, "SELECT 1 .DELETE FROM t", "DELETE"),
    (TSQL, "SELECT 'a'.DELETE FROM t", "DELETE"),
    (TSQL, "SELECT (1).DELETE FROM t", "DELETE"),
    (TSQL, "SELECT $.DELETE FROM t", "DELETE"),
    (TSQL, "SELECT u.a DELETE FROM t", "DELETE"),  # not after the dot
    (POSTGRESQL, "WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x", "DELETE"),
    (POSTGRESQL, "SELECT d.name INTO copy FROM devices d", "INTO"),
])
def test_a_keyword_that_is_not_part_of_a_qualified_name_is_still_refused(dialect: str, query: str, word: str):
    with pytest.raises(QueryRefused, match=f"contains {word}"):
        refuse_unless_read(query, dialect)


def test_a_postgresql_call_outside_the_read_is_refused_behind_a_schema_too() -> None:
    with pytest.raises(QueryRefused, match="dblink_exec"):
        refuse_unless_read("SELECT public.dblink_exec('host=x', 'DELETE FROM t')", POSTGRESQL)
