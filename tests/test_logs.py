"""Logging: daily files, redaction through real handlers (one redaction before any shortening, secrets
learnt from Halo's records), no crash without stderr, no duplicates."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from halointegrator import redaction
from halointegrator.local import logs

TODAY = dt.date(2026, 3, 15)


@pytest.fixture(autouse=True)
def clean_logger():
    yield
    logger = logging.getLogger(logs.LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logs._owned.clear()
    logs._file_handler = None


def setup(tmp_path: Path, **kwargs) -> logging.Logger:
    logger = logs.setup_logging(tmp_path, today=lambda: TODAY, **kwargs)
    for handler in list(logger.handlers):  # pytest attaches its capture to non-propagating loggers
        if type(handler).__module__.startswith("_pytest"):
            logger.removeHandler(handler)
    return logger


def log_text(tmp_path: Path) -> str:
    return (tmp_path / "HaloIntegrator-2026-03-15.log").read_text(encoding="utf-8")


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_daily_file_with_time_level_and_message(tmp_path: Path):
    log = setup(tmp_path)
    log.info("Reading users from %s", "LDAP")
    log.log(logs.CHANGE, "Create user Ada Lovelace")
    assert logs.current_log_file() == tmp_path / "HaloIntegrator-2026-03-15.log"
    lines = log_text(tmp_path).splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO +Reading users from LDAP", lines[0])
    assert re.fullmatch(r"\S+ \S+ CHANGE +Create user Ada Lovelace", lines[1])
    assert logs.CHANGE == logging.INFO + 5 and logging.getLevelName(logs.CHANGE) == "CHANGE"


def test_appends_to_todays_file(tmp_path: Path):
    (tmp_path / "HaloIntegrator-2026-03-15.log").write_text("earlier run\n")
    setup(tmp_path).info("later run")
    assert log_text(tmp_path).startswith("earlier run\n") and "later run" in log_text(tmp_path)


def test_secrets_are_masked_in_every_form_through_a_real_file(tmp_path: Path):
    client_secret = "Cl1ent+Secret/with=chars-9d8e"
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    log = setup(tmp_path, secrets=[client_secret, ""])
    log.info("secret as argument: %s", client_secret)
    log.info(f"secret in the message: {client_secret}")
    log.info("form body: client_id=abc&client_secret=%s&scope=all", "Cl1ent%2BSecret%2Fwith%3Dchars-9d8e")
    log.info('json: {"password": %s}', json.dumps(client_secret))
    log.info("header: Authorization: Bearer %s", token)
    log.info('token answer: {"access_token": "%s", "expires_in": 3600}', token)
    logs.add_secret("RuntimeToken-12345")
    log.warning("learned later: RuntimeToken-12345")
    try:
        raise ValueError(f"failure holding {client_secret}")
    except ValueError:
        log.exception("it failed")
    text = log_text(tmp_path)
    for leaked in (client_secret, "Cl1ent%2BSecret", token, "eyJ0eXAi", "RuntimeToken-12345"):
        assert leaked not in text
    assert text.count("***") >= 8
    assert "Traceback" in text and "ValueError: failure holding ***" in text


def test_short_values_are_not_used_to_mask(tmp_path: Path):
    setup(tmp_path, secrets=["ab"]).info("a table of abbreviations")
    assert "a table of abbreviations" in log_text(tmp_path)


def test_bad_log_arguments_do_not_crash_the_caller(tmp_path: Path):
    setup(tmp_path).info("two placeholders %s %s", "only one")
    assert "could not be formatted" in log_text(tmp_path)


def test_no_stdout_or_stderr_does_not_crash(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    log = setup(tmp_path, console=True)
    log.info("windowed exe")
    assert [type(h) for h in log.handlers] == [logs.DailyFileHandler]
    assert "windowed exe" in log_text(tmp_path)


def test_console_handler_writes_redacted_lines_to_stderr(tmp_path: Path, capsys):
    setup(tmp_path, console=True, secrets=["Console-Secret-77"]).info("x Console-Secret-77 y")
    err = capsys.readouterr().err
    assert "x *** y" in err and "Console-Secret-77" not in err


def test_setup_twice_does_not_duplicate_handlers(tmp_path: Path):
    gui = logs.add_handler(ListHandler())
    setup(tmp_path, console=True)
    log = setup(tmp_path, console=True)
    logs.add_handler(gui)
    log.info("once")
    assert log_text(tmp_path).count("once") == 1
    assert len(log.handlers) == 3 and log.handlers.count(gui) == 1
    assert gui.lines and gui.lines[-1].endswith("once")


def test_gui_handler_gets_the_same_format_and_filter(tmp_path: Path):
    log = setup(tmp_path, secrets=["Gui-Secret-0042"])
    gui = logs.add_handler(ListHandler())
    log.info("shown: Gui-Secret-0042")
    assert re.fullmatch(r"\S+ \S+ INFO +shown: \*\*\*", gui.lines[0])
    logs.remove_handler(gui)
    log.info("not shown")
    assert len(gui.lines) == 1


def test_does_not_propagate_to_unredacted_root_handlers(tmp_path: Path):
    root_handler = ListHandler()
    logging.getLogger().addHandler(root_handler)
    try:
        setup(tmp_path).info("private")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert root_handler.lines == []


def test_files_older_than_30_days_are_removed_at_setup(tmp_path: Path):
    names = {
        "HaloIntegrator-2026-02-12.log": False,  # 31 days old
        "HaloIntegrator-2026-02-13.log": True,  # 30 days old
        "HaloIntegrator-2026-03-14.log": True,
        "HaloIntegrator-2025-13-40.log": True,  # not a date: not ours to judge
        "notes-2020-01-01.log": True,
        "last-run.json": True,
    }
    for name in names:
        (tmp_path / name).write_text("x")
    setup(tmp_path)
    for name, kept in names.items():
        assert (tmp_path / name).exists() is kept, name


def test_moves_to_the_next_days_file_after_midnight(tmp_path: Path):
    day = [TODAY]
    handler = logs.DailyFileHandler(tmp_path, today=lambda: day[0])
    record = logging.LogRecord("halointegrator", logging.INFO, __file__, 1, "line %s", ("one",), None)
    handler.handle(record)
    day[0] = TODAY + dt.timedelta(days=1)
    handler.handle(logging.LogRecord("halointegrator", logging.INFO, __file__, 1, "line two", None, None))
    handler.close()
    assert (tmp_path / "HaloIntegrator-2026-03-15.log").read_text() == "line one\n"
    assert (tmp_path / "HaloIntegrator-2026-03-16.log").read_text() == "line two\n"


def test_write_summary_is_atomic_json_with_secrets_masked(tmp_path: Path):
    logs.add_secret("Summary-Secret-31")
    path = logs.write_summary(tmp_path, {"ok": False, "when": dt.datetime(2026, 3, 15, 2, 0),
                                         "errors": ["Halo said Summary-Secret-31 is wrong"]})
    assert path == tmp_path / "last-run.json"
    data = json.loads(path.read_text())
    assert data["ok"] is False and data["when"] == "2026-03-15 02:00:00"
    assert data["errors"] == ["Halo said *** is wrong"]
    assert [p.name for p in tmp_path.iterdir()] == ["last-run.json"]


def test_current_log_file_is_none_before_setup():
    assert logs.current_log_file() is None


def test_the_log_keeps_the_secret_env_instruction_readable(monkeypatch):
    # A fresh registry: a secret another test registered (test_gui's "wrong-secret-123") holds the piece
    # "-secret-", which rightly masks "--secret-env" here; this test is about the instruction alone.
    monkeypatch.setattr(redaction, "SECRETS", redaction.SecretRegistry())
    text = "run HaloIntegrator CONFIGURE --secret-env client_secret=VARIABLE."
    assert logs.redact(text) == text
    assert logs.redact("client_secret=hunter2-real") == "client_secret=***"


# ---- one redaction, before any shortening ----------------------------------------------------------------

def test_text_is_redacted_whole_before_it_is_shortened():
    redaction.add_secret("Unit.Secret.7h3k2m9q")
    text = "x" * 95 + "Unit.Secret.7h3k2m9q tail"
    assert redaction.shorten(text, 100) == "x" * 95 + "*** …"


def test_secrets_a_halo_record_carries_are_learnt():
    redaction.learn_secrets({"id": 1, "integrator_password": "Learnt.Pw.2b8x", "ldap_strings": [
        {"name": "Staff", "client_secret": "Learnt.Secret.5t"}], "password_hint": "plain"})
    assert redaction.redact("Learnt.Pw.2b8x and Learnt.Secret.5t") == "*** and ***"


def test_a_piece_of_a_secret_a_server_cut_or_split_is_masked_too():
    """A server that echoes part of the password (cut, or split across a line) must not leave its first
    characters behind: any 8-character piece of a known secret is masked, shorter overlaps are not."""
    redaction.add_secret("Piece.Secret.4r7w2k")
    assert redaction.redact("said Piece.Sec and cret.4r7w2k") == "said *** and ***"
    assert redaction.redact("a Piece. word") == "a Piece. word"  # 6 characters: ordinary text stays


def test_a_password_in_its_odbc_braced_form_is_masked():
    """In a connection string a '}' is doubled inside braces (PWD={pa}}ss}); a driver may quote it so."""
    redaction.add_secret("br}ace}pass")
    assert redaction.redact("PWD={br}}ace}}pass};") == "PWD={***};"


def test_secrets_of_one_connection_are_masked_in_what_is_said_about_it():
    text = redaction.redact_with("the driver said: One.Conn.Secret.9 and One.Conn.Se", ["One.Conn.Secret.9"])
    assert "One.Conn" not in text


def test_a_secret_a_server_echoes_in_base64_or_hex_is_masked() -> None:
    """A Basic header or a dumped packet in a server's error text carries the secret encoded."""
    import base64

    from halointegrator.redaction import SecretRegistry

    registry, raw = SecretRegistry(), b"Echoed-Secret-4Kq9"
    registry.add(raw.decode())
    text = f"auth {base64.b64encode(raw).decode()} packet {raw.hex()} upper {raw.hex().upper()}"
    assert registry.redact(text) == "auth *** packet *** upper ***"
