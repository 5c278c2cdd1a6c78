"""Halo's PowerShell records, parameters, the success rule and the result message (pure, tables)."""

from __future__ import annotations

import pytest

from halointegrator.errors import ConfigError
from integrations.powershell.journal import JournalEntry
from integrations.powershell.outcome import RESULT_MESSAGE_LIMIT, clip, interrupted_outcome, judge, result_message
from integrations.powershell.process import BoundedOutput, ProcessResult
from integrations.powershell.records import (
    EntryRefused,
    QueueEntry,
    bare_name,
    entry_from,
    parameter_text,
    script_arguments,
    script_from,
    ticket_status_change,
    valid_parameter_name,
)
from integrations.powershell.settings import settings_from


def script(**fields):
    return script_from({"id": 3, "name": "Onboard", "location": "C:\\s.ps1", **fields})


def entry(parameters=None, **fields) -> QueueEntry:
    return entry_from({"id": 12, "pssid": 3, "faultid": 40, "processed": False, "execution_parameters": parameters,
                       **fields})


def finished(stdout: bytes = b"", stderr: bytes = b"", exit_code: int = 0, **flags) -> ProcessResult:
    result = ProcessResult(exit_code=exit_code, seconds=2.5, **flags)
    result.stdout.add(stdout)
    result.stderr.add(stderr)
    return result


# ---- records ------------------------------------------------------------------------------------------

def test_script_from_reads_the_documents_fields():
    made = script_from({"id": 3.0, "name": " Onboard ", "location": " C:\\Scripts\\x.ps1 ",
                        "usepowershellseven": True, "resultstring": "OK", "resultpartialmatch": "true",
                        "resultstatus": 9, "resultfailedstatus": "10",
                        "fieldmappings_powershell": [{"parametername": "$TicketId"}, {"parametername": ""},
                                                     {"parametername": "-Dept"}, "junk"]})
    assert (made.id, made.name, made.location, made.use_seven) == (3, "Onboard", "C:\\Scripts\\x.ps1", True)
    assert (made.result_string, made.partial_match, made.result_status, made.failed_status) == ("OK", True, 9, 10)
    assert made.parameters == ("TicketId", "Dept") and made.label == "'Onboard' (id 3)"


def test_criteria_read_apart_replace_the_records_mappings():
    made = script_from({"id": 3, "fieldmappings_powershell": [{"parametername": "A"}]}, [{"parametername": "B"}])
    assert made.parameters == ("B",)


@pytest.mark.parametrize("record, expected", [
    ({"id": 5, "pssid": 3, "faultid": 40, "processed": False, "requeued": True, "execution_parameters": {"A": 1}},
     QueueEntry(5, 3, 40, {"A": 1}, False, True)),
    ({"id": "6", "pssid": None, "execution_parameters": "not an object"},
     QueueEntry(6, None, None, None, False, False)),
    ({"id": 0}, None),
    ({"id": None}, None),
    ({"id": True}, None),
])
def test_entry_from(record, expected):
    assert entry_from(record) == expected


@pytest.mark.parametrize("allowed, listed, ok", [
    ("", [], False),  # explicit allow: a script no Integrator is named for runs nowhere
    (None, None, False),
    ("ours", [], True),
    ("theirs; ours", [], True),
    ("theirs", [], False),
    ("", [{"value": "theirs", "label": "x"}], False),
    ("", [{"value": "ours", "label": "x"}], True),
])
def test_a_script_runs_only_where_halo_names_our_client_id(allowed, listed, ok):
    """The core's one rule (runner.enabled_for) with the PowerShell declaration: no switch, explicit allow."""
    from halointegrator.engine.runner import enabled_for
    from integrations.powershell import INTEGRATION

    record = {"id": 1, "halointegrator_allowedclientids": allowed, "halointegrator_allowedclientidslist": listed}
    allowed_here, reason = enabled_for(INTEGRATION, record, "ours")
    assert allowed_here is ok
    if not ok:
        assert "ours" in reason and "Halo" in reason


# ---- parameters ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, ok", [
    ("TicketId", True), ("_x", True), ("Größe", True), ("名前", True), ("a1_b2", True),
    ("1abc", False), ("", False), ("Bad Name", False), ("a-b", False), ("a:b", False), ("a$", False),
    ("x" * 100, True), ("x" * 101, False), ("a\u0301", True), ("a²", False),
])
def test_valid_parameter_name(name, ok):
    assert valid_parameter_name(name) is ok


@pytest.mark.parametrize("value, text", [
    (None, ""), (True, "True"), (False, "False"), (3, "3"), (3.0, "3"), (2.5, "2.5"), ("x", "x"),
    ([1, "a"], '[1, "a"]'), ({"b": 1, "a": "é"}, '{"a": "é", "b": 1}'), (float("nan"), "nan"),
])
def test_parameter_text(value, text):
    assert parameter_text(value) == text


def test_bare_name():
    assert [bare_name(n) for n in ("$TicketId", "-TicketId", " TicketId ", None)] == ["TicketId"] * 3 + [""]


def test_script_arguments_use_the_scripts_own_spelling_in_halos_order():
    made = script(fieldmappings_powershell=[{"parametername": "TicketId"}, {"parametername": "Dept"}])
    assert script_arguments(made, entry({"dept": "R&D", "$ticketid": 40})) == [("Dept", "R&D"), ("TicketId", "40")]
    assert script_arguments(made, entry(None)) == [] and script_arguments(made, entry({})) == []


@pytest.mark.parametrize("parameters, fragment", [
    ({"Unknown": "x"}, "which the script's parameter mappings in Halo do not declare (declared: TicketId)"),
    ({"Bad Name": "x"}, "not a valid PowerShell parameter name"),
    ({"TicketId": 1, "$ticketid": 2}, "sent the parameter 'ticketid' twice"),
])
def test_script_arguments_refuse_what_the_script_does_not_expect(parameters, fragment):
    made = script(fieldmappings_powershell=[{"parametername": "TicketId"}])
    with pytest.raises(EntryRefused, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        script_arguments(made, entry(parameters))


def test_ticket_status_change():
    made = script(resultstatus=9, resultfailedstatus=10)
    assert ticket_status_change(made, entry(), True) == {"id": 40, "status_id": 9}
    assert ticket_status_change(made, entry(), False) == {"id": 40, "status_id": 10}
    assert ticket_status_change(script(), entry(), True) is None
    assert ticket_status_change(made, entry(faultid=None), True) is None


# ---- the success rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, stdout, exit_code, success, fragment", [
    ({}, b"anything", 0, True, "Succeeded: exit code 0 after 2.5 s."),
    ({}, b"", 1, False, "exited with code 1"),
    ({"resultstring": "Created"}, b"Created\r\n", 0, True, "the output is 'Created'"),
    ({"resultstring": "Created"}, b"User Created\n", 0, False, "the output is not 'Created'"),
    ({"resultstring": "created"}, b"Created\n", 0, False, "is not"),
    ({"resultstring": "Created", "resultpartialmatch": True}, b"User Created ok\n", 0, True, "contains 'Created'"),
    ({"resultstring": "Created", "resultpartialmatch": True}, b"nothing\n", 0, False, "does not contain"),
    ({"resultstring": "Created", "resultpartialmatch": True}, b"Created\n", 2, False, "exited with code 2"),
    ({"resultstring": "   "}, b"x", 0, True, "Succeeded"),
])
def test_judge(fields, stdout, exit_code, success, fragment):
    ok, headline = judge(script(**fields), finished(stdout, exit_code=exit_code))
    assert ok is success and fragment in headline


def test_a_whole_match_cannot_be_judged_on_output_that_was_cut():
    result = ProcessResult(exit_code=0, stdout=BoundedOutput(limit=40))  # keeps the first 10 bytes
    result.stdout.add(b"Created" + b"x" * 100)
    ok, headline = judge(script(resultstring="Created"), result)
    assert not ok and "too large to compare" in headline
    ok, headline = judge(script(resultstring="Created", resultpartialmatch=True), result)
    assert ok


def test_the_result_message_holds_output_and_errors_within_the_limit():
    result = finished(b"o" * 50_000 + b"END-OF-OUTPUT", b"e" * 50_000 + b"LAST-ERROR", exit_code=1)
    ok, headline = judge(script(), result)
    message = result_message(headline, result)
    assert not ok and len(message) <= RESULT_MESSAGE_LIMIT
    assert message.startswith("Failed: the script exited with code 1 after 2.5 s.")
    assert "Output:\n" in message and "END-OF-OUTPUT" in message and "Errors:\n" in message
    assert message.rstrip().endswith("LAST-ERROR") and "characters not shown" in message


def test_clip_keeps_the_start_and_mostly_the_end():
    text = "start-" + "m" * 1000 + "-end"
    clipped = clip(text, 200)
    assert len(clipped) <= 200 and clipped.startswith("start-") and clipped.endswith("-end")
    assert clip("short", 200) == "short"


def test_an_interrupted_run_is_reported_failed_and_not_run_again():
    record = interrupted_outcome(JournalEntry(12, 3, 40, started="2026-12-01T09:00:00Z"))
    assert record["id"] == 12 and record["processed"] is True and record["success"] is False
    assert "Interrupted: the run started at 2026-12-01T09:00:00Z" in record["result_message"]
    assert "not run again automatically" in record["result_message"]


# ---- settings -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("local, seconds", [
    ({}, 600.0), ({"timeout_minutes": ""}, 600.0), ({"timeout_minutes": "2"}, 120.0),
    ({"timeout_minutes": "1,5"}, 90.0), ({"timeout_minutes": 30}, 1800.0),
])
def test_settings_from(local, seconds):
    assert settings_from(local).timeout_seconds == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "ten", "nan", "inf", "100000"])
def test_a_bad_time_limit_says_how_to_fix_it(raw):
    with pytest.raises(ConfigError, match="Time limit per run"):
        settings_from({"timeout_minutes": raw})
