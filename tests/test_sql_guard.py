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
