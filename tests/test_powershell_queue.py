"""The PowerShell queue against the Halo sandbox, the real HaloClient and the stand-in interpreter.

``core_run`` hands a prepared QueueWork to the core's job runner (engine/jobs.py) as connection.py
does; ``World.run`` is one script's connection through the core (work() and jobs.perform). Bad input,
crashes, dry runs, requeues and scripts Halo no longer has. test_powershell_auto.py runs the same
through ``integrator.py AUTO``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halointegrator.engine import jobs
from halointegrator.errors import ConfigError, HaloError
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings
from integrations.powershell import (
    INTEGRATION,
    QUEUE_PATH,
    Journal,
    JournalError,
    RunSettings,
    journal_path_for,
    list_script_records,
    load_script,
    prepare_orphans,
    prepare_script,
    queue_summary,
    read_queue,
)
from integrations.powershell.connection import as_work
from sandbox.halo_server import HaloSandbox
from tests.core_helpers import context_for
from tests.powershell_standin import install, script_text

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in interpreter is a POSIX script")
CLIENT_ID = "halo-integrator"
REPO = Path(__file__).resolve().parent.parent


class World:
    """The sandbox with scripts and a queue, a HaloClient, the stand-in on PATH, a journal folder."""

    def __init__(self, root: Path, sandbox: HaloSandbox, client: HaloClient) -> None:
        self.root, self.halo, self.client = root, sandbox, client
        self.journal_path = journal_path_for(root / "HaloIntegrator.config")
        (root / "scripts").mkdir()

    def script(self, script_id: int, parameters=(), *, file: str | None = "task.ps1", **fields) -> Path:
        path = self.root / "scripts" / f"{script_id}-{file or 'none.ps1'}"
        if file is not None:
            path.write_text(script_text(**fields.pop("behaviour", {"stdout": "done\n"})), encoding="utf-8")
        criteria = [{"pssid": script_id, "parametername": name, "finame": name} for name in parameters]
        self.halo.add("powershellscripts", {"id": script_id, "name": f"Script {script_id}", "location": str(path),
                                            "fieldmappings_powershell": criteria,
                                            "halointegrator_allowedclientids": CLIENT_ID, **fields})
        return path

    def queue(self, entry_id: int, script_id: int | None, parameters=None, **fields) -> None:
        self.halo.add("powershellqueue", {"id": entry_id, "pssid": script_id, "faultid": 1000 + entry_id,
                                          "processed": False, "requeued": False, "execution_parameters": parameters,
                                          **fields})

    def entry(self, entry_id: int) -> dict:
        return self.halo.get("powershellqueue", entry_id)

    def journal(self) -> Journal:
        return Journal.load(self.journal_path)

    def loaded(self, script_id: int):
        return load_script(self.client, next(r for r in list_script_records(self.client) if r["id"] == script_id))

    def prepare(self, script_id: int, settings: RunSettings | None = None):
        return prepare_script(self.client, self.loaded(script_id), self.journal(),
                              settings=settings or RunSettings(timeout_seconds=30,
                                                                script_folder=str(self.root / "scripts")))

    def run(self, script_id: int, *, dry_run: bool = False, **local):
        """One script's connection through the core: connection.work(), then engine.jobs.perform."""
        record = next(r for r in list_script_records(self.client) if r["id"] == script_id)
        local = {"script_folder": str(self.root / "scripts"), **local}
        ctx = context_for(self.client, local=local, dry_run=dry_run, client_id=CLIENT_ID)
        ctx.config_path = self.root / "HaloIntegrator.config"
        return jobs.perform(INTEGRATION, record, ctx, self.client)

    def calls(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def writes(self) -> int:
        return self.halo.counts()["write"]


class Recorder:
    """The core's job runner writes through this: Halo's answer, and each outcome posted, in order."""

    def __init__(self, client: HaloClient) -> None:
        self.client, self.posted = client, []

    def post(self, path, records, *, idempotent=False):
        self.posted += [(path, record["id"]) for record in records]
        return self.client.post(path, records, idempotent=idempotent)


def core_run(work, client: HaloClient, *, dry_run: bool = False):
    """A prepared QueueWork through the core's job runner (as connection.work hands it over)."""
    whole = as_work([work], work.journal)
    integration = dataclasses.replace(INTEGRATION, work=lambda ctx, record: whole)
    ctx = context_for(client, dry_run=dry_run, client_id=CLIENT_ID)
    writer = Recorder(client)
    report = jobs.perform(integration, {"id": 0}, ctx, writer)
    report.posted = writer.posted
    return report


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(install(tmp_path / "bin")))
    monkeypatch.setenv("PS_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))
    with HaloSandbox(seed={}) as sandbox:
        client = HaloClient(HaloSettings(web_app_url=sandbox.url, client_id=CLIENT_ID, client_secret="sandbox-secret",
                                         request_budget=0))
        yield World(tmp_path, sandbox, client)
        client.close()


# ---- the sandbox's queue and the reads ----------------------------------------------------------------

def test_the_queue_filters_as_its_parameters_say(world):
    world.script(3)
    world.queue(1, 3, {"A": "x"})
    world.queue(2, 3, processed=True)
    world.queue(3, 4)
    listed = world.client.get(QUEUE_PATH, {"outstandingonly": "true", "script_id": 3})
    assert [row["id"] for row in listed["records"]] == [1] and "execution_parameters" not in listed["records"][0]
    assert [entry.id for entry in read_queue(world.client, 3)] == [1]
    assert read_queue(world.client, 3)[0].parameters == {"A": "x"}  # includeparameters=true
    assert [entry.id for entry in read_queue(world.client)] == [1, 3]


def test_a_long_queue_is_read_through_every_page(world):
    world.halo.add_many("powershellqueue", [{"id": n, "pssid": 3, "processed": False} for n in range(1, 251)])
    assert [entry.id for entry in read_queue(world.client, 3)] == list(range(1, 251))


def test_mappings_are_read_apart_when_the_record_lacks_them(world):
    world.halo.add("powershellscripts", {"id": 5, "name": "S", "location": "/x.ps1"})
    world.halo.add_many("powershellcriteria", [{"pssid": 5, "parametername": "Who"},
                                               {"pssid": 6, "parametername": "No"}])
    assert world.loaded(5).parameters == ("Who",)


class AnsweringHalo:
    """A Halo that answers the queue as given (filters ignored, odd envelopes)."""

    def __init__(self, answer) -> None:
        self.answer = answer

    def get(self, path, params=None):
        return self.answer

    def list(self, path, key, params=None, page_size=None):
        return self.answer[key]


def test_entries_halo_should_have_filtered_out_never_run():
    rows = [{"id": 1, "pssid": 3, "processed": True}, {"id": 2, "pssid": 4}, {"id": 3, "pssid": 3},
            {"id": 3, "pssid": 3}, {"id": "x"}]
    assert [entry.id for entry in read_queue(AnsweringHalo(rows), 3)] == [3]
    assert [entry.id for entry in read_queue(AnsweringHalo({"record_count": 1, "queue": rows}), 3)] == [3]
    assert read_queue(AnsweringHalo({"record_count": 0}), 3) == []
    with pytest.raises(HaloError, match="cannot tell which list holds the queued runs"):
        read_queue(AnsweringHalo({"record_count": 2, "a": [], "b": []}))


# ---- running the queue ---------------------------------------------------------------------------------

def test_each_queued_run_runs_once_and_halo_gets_its_outcome(world):
    world.script(3, ["FirstName", "Department"], behaviour={"echo": True})
    world.queue(1, 3, {"FirstName": "Ada", "Department": "R&D; $(whoami) `\"--"})
    world.queue(2, 3, {})
    work = world.prepare(3)
    assert [action.description for action in work.actions] == [
        "Run script 'Script 3' (id 3) for ticket 1001 with 2 parameter(s) (FirstName, Department) (queued run 1)",
        "Run script 'Script 3' (id 3) for ticket 1002 with no parameters (queued run 2)",
    ]
    core_run(work, world.client)
    first, second = world.entry(1), world.entry(2)
    assert first["processed"] is True and first["success"] is True and second["success"] is True
    assert first["result_message"].startswith("Succeeded: exit code 0 after")
    assert '"Department": "R&D; $(whoami) `\\"--"' in first["result_message"]
    assert [call["bound"] for call in world.calls()] == [
        {"FirstName": "Ada", "Department": "R&D; $(whoami) `\"--"}, {}]
    assert world.prepare(3).actions == [] and len(world.calls()) == 2  # never twice
    assert "0 queued runs wait; last: run 2 (ticket 1002) succeeded" in queue_summary(
        world.loaded(3), read_queue(world.client), world.journal())


def test_a_dry_run_describes_and_changes_nothing(world, caplog):
    world.script(3, ["Name"])
    world.queue(1, 3, {"Name": "Ada"})
    world.halo.clear_requests()
    with caplog.at_level("INFO"):
        report = world.run(3, dry_run=True)
    assert "Would run script 'Script 3' (id 3) for ticket 1001 with 1 parameter(s) (Name) (queued run 1)" in caplog.text
    assert report.dry_run and report.summary() == "would run 1 script(s)"
    assert world.calls() == [] and world.writes() == 0 and not world.journal_path.exists()
    assert world.entry(1)["processed"] is False


def test_a_failing_script_is_answered_failed(world):
    world.script(3, behaviour={"stdout": "partial\n", "stderr": "New-ADUser: access denied\n", "exit": 1})
    world.queue(1, 3)
    report = world.run(3)
    assert [(failure.description, failure.message[:46]) for failure in report.failed] == [
        ("Run script 'Script 3' (id 3) for ticket 1001 with no parameters (queued run 1)",
         "Failed: the script exited with code 1 after 0.")]
    entry = world.entry(1)
    assert entry["processed"] is True and entry["success"] is False
    assert entry["result_message"].startswith("Failed: the script exited with code 1")
    assert "Errors:\nNew-ADUser: access denied" in entry["result_message"]


def test_the_result_string_decides_success(world):
    world.script(3, behaviour={"stdout": "User created\n"}, resultstring="created", resultpartialmatch=True)
    world.script(4, behaviour={"stdout": "User created\n"}, resultstring="created")
    world.queue(1, 3)
    world.queue(2, 4)
    core_run(world.prepare(3), world.client)
    core_run(world.prepare(4), world.client)
    assert world.entry(1)["success"] is True and world.entry(2)["success"] is False


# ---- bad input: a clear result_message, processed and failed, the others still run ---------------------

def test_bad_entries_fail_with_a_reason_and_the_good_one_still_runs(world):
    world.script(3, ["Name"])
    world.queue(1, 3, {"Name": "Ada", "Unknown": "x"})
    world.queue(2, 3, {"Name": "a\x00b"})
    world.queue(3, 3, {"Name": "x" * 40_000})
    world.queue(4, 3, {"Name": "fine"})
    work = world.prepare(3)
    assert [action.reason == "" for action in work.actions] == [False, False, False, True]  # only the 4th starts one
    assert work.actions[0].description == ("Answer queued run 1 for ticket 1001 of script 'Script 3' (id 3) as "
                                           "failed without running it")
    assert work.actions[0].preview.startswith(work.actions[0].description + ": Halo sent the parameter")
    core_run(work, world.client)
    messages = {n: world.entry(n)["result_message"] for n in (1, 2, 3)}
    assert all(world.entry(n)["processed"] and not world.entry(n)["success"] for n in (1, 2, 3))
    assert "'Unknown', which the script's parameter mappings in Halo do not declare" in messages[1]
    assert "NUL character" in messages[2] and "too long for a Windows command line" in messages[3]
    assert world.entry(4)["success"] is True and [call["bound"] for call in world.calls()] == [{"Name": "fine"}]


def test_a_missing_script_file_fails_its_runs_without_starting_powershell(world):
    world.script(3, file=None)
    world.queue(1, 3)
    core_run(world.prepare(3), world.client)
    entry = world.entry(1)
    assert entry["processed"] and not entry["success"] and "does not exist on this server" in entry["result_message"]
    assert world.calls() == []


def test_a_script_file_removed_after_the_plan_is_not_started(world):
    path = world.script(3)
    world.queue(1, 3)
    work = world.prepare(3)
    path.unlink()
    core_run(work, world.client)
    assert "does not exist on this server" in world.entry(1)["result_message"] and world.calls() == []


def test_a_script_that_never_ends_and_one_with_huge_output(world):
    world.script(3, behaviour={"sleep": 600})
    world.script(4, behaviour={"flood": 30_000_000})
    world.queue(1, 3)
    world.queue(2, 4)
    world.run(3, timeout_minutes="0.02")  # 1.2 s, set as the user sets it
    world.run(4)
    hung, flood = world.entry(1), world.entry(2)
    assert not hung["success"] and "past its time limit" in hung["result_message"]
    assert flood["success"] and len(flood["result_message"]) <= 8000
    assert "The output was 30,000,000 bytes" in flood["result_message"]


def test_runs_whose_script_halo_no_longer_has_are_answered_failed(world):
    world.script(3)
    world.queue(1, 3)
    world.queue(2, 99)
    world.queue(3, None)
    known = [record["id"] for record in list_script_records(world.client)]
    work = prepare_orphans(world.client, known, world.journal())
    assert [action.entry.id for action in work.actions] == [2, 3]
    core_run(work, world.client)
    assert "Halo no longer has script 99" in world.entry(2)["result_message"] and not world.entry(2)["success"]
    assert "names no script" in world.entry(3)["result_message"]
    assert world.entry(1)["processed"] is False and world.calls() == []


def test_the_lowest_id_script_we_may_run_also_answers_the_runs_of_scripts_halo_no_longer_has(world):
    world.script(2, halointegrator_allowedclientids="someone-else")  # a lower id, but not ours
    world.script(3)
    world.script(4)
    world.queue(1, 99)
    world.queue(2, 2)
    world.run(4)
    assert world.entry(1)["processed"] is False  # script 4 does not answer them: one connection does
    report = world.run(3)
    assert "Halo no longer has script 99" in world.entry(1)["result_message"] and not world.entry(1)["success"]
    assert report.failed[0].message.startswith("Not run: Halo no longer has script 99")
    assert world.entry(2)["processed"] is False and world.calls() == []  # another Integrator's script: left


class LeanScripts:
    """GET /PowerShellScript answers items without the allowed fields; by id, the whole record."""

    def __init__(self, records) -> None:
        self.records, self.reads = {record["id"]: record for record in records}, []

    def get(self, path, params=None):
        self.reads.append(path)
        return dict(self.records[int(path.rpartition("/")[2])])


def test_a_lean_script_list_is_read_by_id_only_up_to_the_answerer():
    from integrations.powershell.connection import orphan_answerer

    halo = LeanScripts([{"id": 1, "halointegrator_allowedclientids": "other"},
                        {"id": 2, "halointegrator_allowedclientids": CLIENT_ID}, {"id": 3}])
    assert orphan_answerer(halo, [{"id": 3}, {"id": 1}, {"id": 2}], CLIENT_ID) == 2
    assert halo.reads == ["PowerShellScript/1", "PowerShellScript/2"]
    assert orphan_answerer(halo, [{"id": 1, "halointegrator_allowedclientids": ""}], CLIENT_ID) is None


def test_without_powershell_the_runs_wait_and_the_connection_says_why(world, monkeypatch):
    monkeypatch.setenv("PATH", str(world.root / "empty"))
    world.script(3, usepowershellseven=True)
    world.queue(1, 3)
    work = world.prepare(3)
    assert work.actions == [] and "PowerShell 7 (pwsh) is not installed on this server" in work.problem
    assert "1 queued run(s) wait for it" in work.problem
    report = world.run(3)
    assert "PowerShell 7 (pwsh) is not installed" in report.failure and world.writes() == 0
    assert world.entry(1)["processed"] is False


def test_without_a_configuration_folder_nothing_runs(world):
    world.script(3)
    world.queue(1, 3)
    record = list_script_records(world.client)[0]
    with pytest.raises(ConfigError, match="keeps its journal beside the configuration file"):
        INTEGRATION.work(context_for(world.client, client_id=CLIENT_ID), record)
    assert world.calls() == []


def test_a_bad_time_limit_fails_the_script_before_anything_runs(world):
    world.script(3)
    world.queue(1, 3)
    with pytest.raises(ConfigError, match="time limit 'soon' is not a number of minutes"):
        world.run(3, timeout_minutes="soon")
    assert world.calls() == [] and world.entry(1)["processed"] is False


# ---- crashes: never run twice --------------------------------------------------------------------------

def test_an_outcome_not_posted_before_a_crash_is_posted_first_and_not_run_again(world):
    world.script(3)
    world.queue(1, 3)
    world.queue(2, 3)
    world.prepare(3).actions[0].run()  # ran and journaled; the program died before posting
    work = world.prepare(3)
    assert [pending.record["id"] for pending in work.pending] == [1]
    assert work.pending[0].description == ("The outcome of queued run 1 (ticket 1001) kept from an earlier run: "
                                           "succeeded")
    assert [action.entry.id for action in work.actions] == [2]
    report = core_run(work, world.client)
    assert report.posted == [(QUEUE_PATH, 1), (QUEUE_PATH, 2)] and report.summary() == "run 1 script(s), post 1 outcome(s)"
    assert world.entry(1)["success"] and world.entry(2)["success"]
    assert [call["bound"] for call in world.calls()] == [{}, {}]  # run 1 once, run 2 once


def test_a_run_killed_mid_way_is_reported_interrupted_and_never_run_again(world):
    world.script(3, behaviour={"sleep": 600})
    world.queue(1, 3)
    child = subprocess.Popen([sys.executable, "-c", CRASHING_RUNNER, world.halo.url, str(world.journal_path),
                              str(world.root / "scripts")],
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        script_pid = wait_for_call(world)
        child.send_signal(signal.SIGKILL)  # the Integrator dies while the script runs
        child.wait(10)
    finally:
        child.kill()
    os.killpg(script_pid, signal.SIGKILL)  # on POSIX the script's own session survives; end it here
    work = world.prepare(3)
    assert work.actions == [] and work.pending[0].description == (
        "The outcome of queued run 1 (ticket 1001) kept from an earlier run: interrupted, answered failed and not "
        "run again")
    core_run(work, world.client)
    entry = world.entry(1)
    assert entry["processed"] and not entry["success"] and entry["result_message"].startswith("Interrupted:")
    assert len(world.calls()) == 1 and world.prepare(3).pending == []


CRASHING_RUNNER = """
import sys
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings
from integrations.powershell import Journal, RunSettings, list_script_records, load_script, prepare_script
client = HaloClient(HaloSettings(web_app_url=sys.argv[1], client_id="halo-integrator",
                                 client_secret="sandbox-secret", request_budget=0))
script = load_script(client, list_script_records(client)[0])
work = prepare_script(client, script, Journal.load(sys.argv[2]), settings=RunSettings(timeout_seconds=600,
                                                                                 script_folder=sys.argv[3]))
work.actions[0].run()
"""


def wait_for_call(world: World) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if world.calls():
            return world.calls()[0]["pid"]
        time.sleep(0.05)
    raise AssertionError("the stand-in was never started")


def test_a_journal_that_cannot_be_written_starts_nothing(world):
    world.script(3)
    world.queue(1, 3)
    work = world.prepare(3)
    world.journal_path.mkdir()
    (world.journal_path / "x").write_text("")
    with pytest.raises(JournalError):
        work.actions[0].run()
    assert world.calls() == []


# ---- after the post: tidy, requeue ---------------------------------------------------------------------

def test_a_posted_run_listed_again_is_not_run_again_unless_halo_requeued_it(world):
    world.script(3)
    world.queue(1, 3)
    core_run(world.prepare(3), world.client)
    world.halo.add("powershellqueue", {**world.entry(1), "processed": False})  # Halo lost the outcome
    work = world.prepare(3)
    assert work.actions == [] and "it is not run again" in work.notes[0]
    assert [pending.record["id"] for pending in work.pending] == [1]
    core_run(work, world.client)
    world.halo.add("powershellqueue", {**world.entry(1), "processed": False, "requeued": True})  # an agent requeued it
    work = world.prepare(3)
    assert [action.entry.id for action in work.actions] == [1] and "attempt 2" in work.notes[0]
    core_run(work, world.client)
    assert len(world.calls()) == 2 and world.journal().get(1).attempt == 2


def test_outcomes_halo_already_has_or_whose_run_is_gone_are_tidied_not_posted(world):
    world.script(3)
    world.queue(1, 3)
    world.queue(2, 3)
    actions = world.prepare(3).actions
    first, second = actions[0].run(), actions[1].run()  # both journaled, neither posted
    world.client.post(QUEUE_PATH, [first], idempotent=True)  # the post landed; the answer was lost
    del world.halo.state["powershellqueue"][2]  # someone deleted the other run in Halo
    world.halo.clear_requests()
    work = world.prepare(3)
    assert work.pending == [] and work.actions == [] and len(work.tidy) == 2
    core_run(work, world.client)
    assert world.writes() == 0
    journal = world.journal()
    assert journal.get(1).state == "posted" and journal.get(2) is None and second["id"] == 2
