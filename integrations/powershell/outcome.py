"""How a queued run ended, in the words Halo's result_message shows on the ticket (pure).

Success is the document's rule: exit code 0 and, when the script has a ``resultstring``, the output
(stdout, surrounding whitespace ignored, case-sensitive) equal to it, or containing it when
``resultpartialmatch`` is set. Everything that stops a run early says what happened and what to do.
"""

from __future__ import annotations

from typing import Any

from integrations.powershell.journal import JournalEntry
from integrations.powershell.process import ProcessResult
from integrations.powershell.records import Script, outcome_record

RESULT_MESSAGE_LIMIT = 8000  # characters; Halo shows result_message on the ticket
NOT_AGAIN = "It is not run again automatically: check what it did, then requeue it in Halo if it should run again."


def judge(script: Script, result: ProcessResult, run_limit_minutes: float | None = None) -> tuple[bool, str]:
    """(success, the first sentence of the result message).

    ``run_limit_minutes``: the whole run's time limit was nearer than the script's own and bounded it.
    """
    took = f"after {_duration(result.seconds)}"
    if result.start_error:
        return False, f"Not run: PowerShell {result.start_error}."
    if result.cancelled:
        return False, (f"Stopped from the Integrator {took}: the script and everything it started were ended. "
                       f"It may have made part of its changes. {NOT_AGAIN}")
    if result.timed_out and run_limit_minutes is not None:
        return False, (f"Failed: still running {took} when the Integrator's run reached its time limit of "
                       f"{run_limit_minutes:g} minutes, so the script and everything it started were ended. It may "
                       f"have made part of its changes. {NOT_AGAIN} If runs need longer, raise the run's limit: "
                       "CONFIGURE --set run_time_limit_minutes=MINUTES.")
    if result.timed_out:
        return False, (f"Failed: still running {took}, past its time limit, so the script and everything it "
                       f"started were ended. It may have made part of its changes. {NOT_AGAIN} If it needs "
                       "longer, raise its time limit in the Integrator's PowerShell settings.")
    if result.exit_code != 0:
        return False, f"Failed: the script exited with code {result.exit_code} {took}."
    return _judge_output(script, result, took)


def _judge_output(script: Script, result: ProcessResult, took: str) -> tuple[bool, str]:
    expected = script.result_string.strip()
    if not expected:
        return True, f"Succeeded: exit code 0 {took}."
    output = result.stdout_text().strip()
    shown = _quoted(expected)
    if script.partial_match:
        if expected in output:
            return True, f"Succeeded: exit code 0 {took}, and the output contains {shown}."
        where = " (only its kept first and last parts were searched)" if result.stdout.dropped else ""
        return False, f"Failed: exit code 0 {took}, but the output does not contain {shown}{where}."
    if result.stdout.dropped:
        return False, (f"Failed: exit code 0 {took}, but the output was too large to compare with the whole "
                       f"result string {shown}.")
    if output == expected:
        return True, f"Succeeded: exit code 0 {took}, and the output is {shown}."
    return False, f"Failed: exit code 0 {took}, but the output is not {shown} (the script's result string in Halo)."


def run_outcome(script: Script, entry_id: int, result: ProcessResult,
                run_limit_minutes: float | None = None) -> dict[str, Any]:
    """The outcome record of a run that happened (or failed to start)."""
    success, headline = judge(script, result, run_limit_minutes)
    return outcome_record(entry_id, success, result_message(headline, result))


def refused_outcome(entry_id: int, reason: str) -> dict[str, Any]:
    """The outcome record of an entry that was not run because it cannot be run as queued."""
    return outcome_record(entry_id, False, f"Not run: {reason}"[:RESULT_MESSAGE_LIMIT])


def interrupted_outcome(record: JournalEntry) -> dict[str, Any]:
    """The outcome record of a run that started but whose end the journal never saw."""
    when = f" at {record.started}" if record.started else ""
    return outcome_record(record.entry_id, False, (
        f"Interrupted: the run started{when} (UTC), but the Integrator stopped before it saw the script end "
        f"(the program, the computer or its power stopped). The script may have made its changes. {NOT_AGAIN}"))


def result_message(headline: str, result: ProcessResult) -> str:
    """Headline, then the output and errors, clipped to RESULT_MESSAGE_LIMIT characters in all."""
    stdout, stderr = result.stdout_text().strip(), result.stderr_text().strip()
    notes = _notes(result)
    budget = max(0, RESULT_MESSAGE_LIMIT - len(headline) - len(notes) - 40)
    stdout_budget = budget if not stderr else (budget * 2 // 3 if stdout else 0)
    parts = [headline]
    if stdout:
        parts.append("Output:\n" + clip(stdout, stdout_budget))
    if stderr:
        parts.append("Errors:\n" + clip(stderr, budget - min(len(stdout), stdout_budget)))
    if notes:
        parts.append(notes)
    return "\n\n".join(parts)[:RESULT_MESSAGE_LIMIT]


def _notes(result: ProcessResult) -> str:
    notes = []
    for label, stream in (("output", result.stdout), ("error output", result.stderr)):
        if stream.dropped:
            notes.append(f"The {label} was {stream.total:,} bytes; {stream.dropped:,} bytes in its middle "
                         "were not kept.")
    if result.pipes_left_open:
        notes.append("A program the script started outside its process tree kept the output open; what it wrote "
                     "after the script ended is not shown.")
    return " ".join(notes)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its start and (mostly) its end, where errors are."""
    if len(text) <= limit:
        return text
    marker = f"\n[... {len(text) - limit:,} characters not shown ...]\n"
    room = max(0, limit - len(marker))
    head = room // 4
    return text[:head] + marker + text[len(text) - (room - head):] if room else text[:limit]


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:197] + "...")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
