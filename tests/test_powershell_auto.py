"""PowerShell scripts end to end: ``integrator.py AUTO`` and ``CHECK`` as Task Scheduler would run them, against
the Halo sandbox (default seed plus scripts), with the stand-in powershell / pwsh on PATH.

Queued runs run once and Halo gets each outcome; kill -9 after a script ran and before its outcome was
posted, and while it ran; a dry run; scripts this Integrator may not run; bad input beside good input
and another integration; what CHECK shows.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from sandbox.halo_api import halo_error
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import configure, integrator
from tests.e2e_world import RequestHooks, World
from integrations.powershell.checks import SCRIPT_FILE
from tests.powershell_standin import install, script_text

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in interpreter is a POSIX script")
OURS = "halo-integrator"
QUEUE_POST = ("POST", "/api/powershellscriptprocessing")


class Scripts:
    """The PowerShell side of a world: scripts in Halo and on disk, the queue, the stand-in's calls."""

    def __init__(self, world: World, root: Path, *, folder: bool = True) -> None:
        self.world, self.halo, self.root = world, world.halo, root
        (root / "scripts").mkdir()
        if folder:
            self.shared(f"script_folder={root / 'scripts'}")  # the one folder scripts run from, set once

    def script(self, script_id: int, parameters=(), *, file: bool = True, allowed: str | None = OURS,
               behaviour: dict | None = None, **fields) -> Path:
        path = self.root / "scripts" / f"script-{script_id}.ps1"
        if file:
            path.write_text(script_text(**(behaviour or {"stdout": "done\n"})), encoding="utf-8")
        self.halo.add("powershellscripts", {
            "id": script_id, "name": f"Script {script_id}", "location": str(path), "usepowershellseven": False,
            "fieldmappings_powershell": [{"pssid": script_id, "parametername": name} for name in parameters],
            "halointegrator_allowedclientids": allowed, **fields})
        return path

    def queue(self, entry_id: int, script_id: int, parameters=None) -> None:
        self.halo.add("powershellqueue", {"id": entry_id, "pssid": script_id, "faultid": 5000 + entry_id,
                                          "processed": False, "requeued": False,
                                          "execution_parameters": parameters or {}})

    def entry(self, entry_id: int) -> dict:
        return self.halo.get("powershellqueue", entry_id)

    def record(self, script_id: int) -> dict:
        return self.halo.get("powershellscripts", script_id)

    def calls(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def queue_posts(self) -> int:
        return sum(1 for request in self.halo.requests
                   if (request["method"], request["path"].lower()) == QUEUE_POST)

    def shared(self, *settings: str) -> None:
        """Settings kept once for every script (CONFIGURE --connection powershell)."""
        self._configure("powershell", settings)

    def local(self, script_id: int, *settings: str) -> None:
        self._configure(f"powershell:{script_id}", settings)

    def _configure(self, target: str, settings) -> None:
        extra = ("--connection", target)
        for setting in settings:
            extra += ("--set", setting)
        configure(self.world.config, self.halo.url, cwd=self.world.folder, extra=extra)

    def journal(self) -> Path:
        return self.world.config.with_suffix(".powershell-journal")

    def check(self) -> str:
        result = integrator("CHECK", "--config", str(self.world.config), cwd=self.world.folder)
        self.check_code = result.returncode
        return result.stdout


@pytest.fixture
def standin_path(tmp_path, monkeypatch):
    """The stand-in powershell / pwsh first on PATH for every process the test starts."""
    monkeypatch.setenv("PATH", f"{install(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PS_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))


@pytest.fixture
def ps(tmp_path, standin_path):
    with HaloSandbox() as halo:  # the default seed: its example script allows only another Integrator
        world = World(halo, tmp_path / "integrator")
        yield Scripts(world, tmp_path)


def test_auto_runs_each_queued_run_once_and_posts_its_outcome(ps):
    ps.script(10, ["FirstName", "Department"], behaviour={"echo": True})
    ps.queue(100, 10, {"FirstName": "Ada", "Department": "R&D; $(Remove-Item C:\\) `\"-- x"})
    ps.queue(101, 10, {"FirstName": "-Force"})
    result = ps.world.auto()
    assert result.returncode == 0, ps.world.run_log()
    assert [call["bound"] for call in ps.calls()] == [
        {"FirstName": "Ada", "Department": "R&D; $(Remove-Item C:\\) `\"-- x"}, {"FirstName": "-Force"}]
    for entry_id in (100, 101):
        entry = ps.entry(entry_id)
        assert entry["processed"] is True and entry["success"] is True, entry
        assert entry["result_message"].startswith("Succeeded: exit code 0 after")
    script = ps.record(10)
    assert script["halointegrator_lastsync"] and script["halointegrator_lasterror"] == ""
    assert ps.entry(1)["processed"] is False and not ps.record(1).get("halointegrator_lastsync")  # not ours
    assert "PowerShell scripts: Script 10 (script 10) finished: run 2 script(s)" in ps.world.run_log()
    assert [report["connection"] for report in ps.world.summary()["integrations"]] == ["Script 10 (script 10)"]

    assert ps.world.auto().returncode == 0  # the next run: nothing is run again, nothing is posted again
    assert len(ps.calls()) == 2 and ps.queue_posts() == 0
    assert "Script 10 (script 10) finished: nothing to change" in ps.world.run_log()


class Killer:
    """Kills the AUTO process from inside the sandbox while it holds the Integrator's request."""

    def __init__(self) -> None:
        self.process = None

    def __call__(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return halo_error(503, "the client is gone")  # the post never reached Halo


def test_killed_after_a_script_ran_and_before_its_outcome_was_posted(ps):
    ps.script(10)
    ps.queue(100, 10)
    ps.queue(101, 10)
    killer = Killer()
    hooks = RequestHooks(ps.halo).add(*QUEUE_POST, killer)
    killer.process = ps.world.spawn_auto()
    assert killer.process.wait(timeout=60) == -signal.SIGKILL and hooks.done.wait(10)
    assert len(ps.calls()) == 1 and ps.entry(100)["processed"] is False  # it ran; Halo was never told

    seen = {}
    RequestHooks(ps.halo).add(*QUEUE_POST, lambda: seen.update(
        calls=len(ps.calls()), first=ps.entry(100)["processed"], second=ps.entry(101)["processed"]), when="after")
    result = ps.world.auto()
    assert result.returncode == 0, ps.world.run_log()
    assert seen == {"calls": 1, "first": True, "second": False}  # the kept outcome went first, before 101 ran
    assert ps.entry(100)["success"] is True and ps.entry(101)["success"] is True
    assert len(ps.calls()) == 2  # 100 ran once, in the killed run; 101 once
    assert "Post the outcome of queued run 100 (ticket 5100) kept from an earlier run: succeeded" in ps.world.run_log()


def test_killed_while_a_script_runs_it_is_answered_interrupted_and_never_run_again(ps):
    ps.script(10, behaviour={"sleep": 600})
    ps.queue(100, 10)
    process = ps.world.spawn_auto()
    try:
        deadline = time.monotonic() + 60
        while not ps.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ps.calls(), "the stand-in was never started"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()
    os.killpg(ps.calls()[0]["pid"], signal.SIGKILL)  # on POSIX the script's own session outlives AUTO
    rerun = ps.world.auto()
    assert rerun.returncode == 1, ps.world.run_log()  # an interrupted run is a failure someone must look at
    assert "Interrupted" in str(ps.halo.records("powershellscripts")[-1].get("halointegrator_lasterror"))
    entry = ps.entry(100)
    assert entry["processed"] is True and entry["success"] is False
    assert entry["result_message"].startswith("Interrupted: the run started at ")
    assert len(ps.calls()) == 1


def test_a_dry_run_runs_nothing_and_writes_nothing(ps):
    ps.script(10, ["Name"])
    ps.queue(100, 10, {"Name": "Ada"})
    ps.script(11, file=False)
    ps.queue(110, 11)
    result = ps.world.auto("--dry-run")
    assert result.returncode == 0, ps.world.run_log()
    assert ps.calls() == [] and not ps.journal().exists()
    assert [request for request in ps.halo.requests if request["method"] == "POST"
            and not request["path"].startswith("/auth")] == []
    assert "Would run script 'Script 10' (id 10) for ticket 5100 with 1 parameter(s) (Name) (queued run 100)" \
        in ps.world.run_log()
    assert "Would answer queued run 110 for ticket 5110 of script 'Script 11' (id 11) as failed without running it: " \
        "The script file" in ps.world.run_log()
    assert ps.entry(100)["processed"] is False and ps.entry(110)["processed"] is False


def test_a_script_not_allowed_here_never_starts_and_check_says_why(ps):
    ps.script(10, allowed="someone-else")
    ps.script(11, allowed="")  # allowed for nobody: it runs nowhere
    ps.queue(100, 10)
    ps.queue(110, 11)
    assert ps.world.auto().returncode == 0
    assert ps.calls() == [] and ps.queue_posts() == 0
    assert ps.entry(100)["processed"] is False and ps.entry(110)["processed"] is False
    log = ps.world.run_log()
    assert "Script 10 (script 10) skipped: Halo allows only other Integrator client ids to run it" in log
    assert "Script 11 (script 11) skipped: Halo names no Integrator client id that may run it" in log

    output = ps.check()
    assert ps.check_code == 0 and ps.calls() == []  # CHECK never contacts them: no PowerShell started
    assert f"\u2718 Allows this Integrator's client id: Halo allows only someone-else; ours is {OURS}" in output
    assert f"add ours ({OURS}) in Halo" in output
    assert "- PowerShell is installed on this server: skipped:" in output


def test_bad_input_gets_a_clear_result_message_and_everything_else_still_runs(ps, graph):
    world = World(ps.halo, ps.world.folder, graph=graph)  # Entra ID enabled too, in the same folder
    ps.script(10, file=False)
    ps.queue(100, 10)
    ps.script(11, ["Name"])
    ps.queue(110, 11, {"Name": "Ada", "Shell": "rm -rf /"})
    ps.queue(111, 11, {"Name": "Grace"})
    ps.script(12, behaviour={"flood": 30_000_000})
    ps.queue(120, 12)
    ps.script(13, behaviour={"sleep": 600})
    ps.queue(130, 13)
    ps.local(13, "timeout_minutes=0.03")
    ps.queue(190, 99)  # Halo no longer has script 99
    result = world.auto(timeout=300)
    assert result.returncode == 1, world.run_log()  # runs failed: exit 1, each script's Last Error says which
    messages = {entry_id: ps.entry(entry_id)["result_message"] for entry_id in (100, 110, 120, 130, 190)}
    assert all(ps.entry(n)["processed"] for n in (100, 110, 111, 120, 130, 190))
    assert "does not exist on this server" in messages[100] and not ps.entry(100)["success"]
    assert "'Shell', which the script's parameter mappings in Halo do not declare" in messages[110]
    assert ps.entry(111)["success"] is True
    assert ps.entry(120)["success"] is True and "The output was 30,000,000 bytes" in messages[120]
    assert len(messages[120]) <= 8000
    assert "past its time limit" in messages[130] and not ps.entry(130)["success"]
    assert "Halo no longer has script 99" in messages[190] and not ps.entry(190)["success"]
    assert [call["bound"] for call in ps.calls() if call["bound"]] == [{"Name": "Grace"}]
    assert ps.record(10)["halointegrator_lasterror"] == (  # the lowest id answers the orphan too
        "2 failed; first: Answer queued run 100 for ticket 5100 of script 'Script 10' (id 10) as failed without "
        f"running it: Not run: The script file '{ps.root / 'scripts' / 'script-10.ps1'}' does not exist on this "
        "server.")
    assert "Answer queued run 190 for ticket 5190 as failed without running it: Not run: Halo no longer " \
        "has script 99" in world.run_log()
    assert ps.record(11)["halointegrator_lastsync"] and ps.record(12)["halointegrator_lasterror"] == ""
    assert world.last_sync() and world.last_error() == ""  # Entra ID ran as if nothing happened
    assert sum(1 for user in ps.halo.records("users") if user.get("azureoid")) > 0


def test_check_shows_powershell_the_script_file_and_the_parameters(ps):
    path = ps.script(10, ["FirstName", "Department"])
    ps.queue(100, 10)
    ps.script(11, ["Bad Name"], file=False, usepowershellseven=True)
    output = ps.check()
    assert ps.check_code == 1, output  # script 11 runs here and is not ready
    lines = output.splitlines()
    ours = lines[lines.index("PowerShell scripts: Script 10 (script 10)") + 1:]
    assert ours[:6] == [
        f"  \u2714 Allows this Integrator's client id: ours ({OURS}) is allowed",
        "  \u2714 Settings kept on this computer are usable: time limit 10 min per run; scripts only from "
        f"{ps.root / 'scripts'}; PowerShell found in its usual place or on PATH",
        f"  \u2714 PowerShell is installed on this server: Windows PowerShell (powershell.exe) 5.1.19041.4291 at "
        f"{ps.root / 'bin' / 'powershell'}",
        f"  \u2714 {SCRIPT_FILE.label}: {path}",
        "  \u2714 Its parameter names are valid PowerShell parameter names: FirstName, Department",
        "  \u2714 Queued runs: 1 queued run waits; none has run here yet; this script's run also answers the runs "
        "of scripts Halo no longer has (0 queued now)",
    ]
    assert "  \u2714 PowerShell is installed on this server: PowerShell 7 (pwsh) 7.4.6 at" in output
    assert "does not exist on this server" in output and "'Bad Name' is not a valid PowerShell parameter name" in output
    assert [call["argv"][-1] for call in ps.calls()] == ["$PSVersionTable.PSVersion.ToString()"] * 2


# ---- where scripts may come from, and how long they may take -------------------------------------

def halo_script(ps: Scripts, script_id: int, location: Path) -> None:
    """A script record someone who may edit PowerShell scripts in Halo adds, pointing wherever they like."""
    ps.halo.add("powershellscripts", {"id": script_id, "name": "Innocent name", "location": str(location),
                                      "fieldmappings_powershell": [], "halointegrator_allowedclientids": OURS})


def test_a_script_halo_adds_outside_the_scripts_folder_is_answered_failed_and_not_run(ps, tmp_path):
    """The scripts folder is one for every script: a Halo editor who adds a script pointing elsewhere (C:\\Users\\
    Public, C:\\Windows\\Temp) gets no code run, and the run is answered with what to fix."""
    ps.script(10, behaviour={"stdout": "ok\n"})
    ps.queue(100, 10)
    dropped = tmp_path / "public" / "payload.ps1"
    dropped.parent.mkdir()
    dropped.write_text(script_text(stdout="attacker code ran as the Integrator's account\n"))
    halo_script(ps, 11, dropped)
    ps.queue(200, 11)
    ps.world.auto()
    assert [call["argv"][call["argv"].index("-File") + 1] for call in ps.calls()] == [str(ps.root / "scripts" /
                                                                                       "script-10.ps1")]
    refused = ps.entry(200)
    assert refused["processed"] and not refused["success"]
    assert "outside the scripts folder" in refused["result_message"] and "Move the script" in refused["result_message"]
    assert ps.entry(100)["success"] is True


def test_without_a_scripts_folder_no_script_runs_and_the_runs_wait_saying_where_to_set_it(tmp_path, standin_path):
    """Until the scripts folder is set on this computer, nothing runs. That is this computer's setup, not the
    queued run's fault: the runs stay queued (as when PowerShell is missing), and the run fails with the
    window's and CONFIGURE's place to set the folder, in the script's Last Error and the log."""
    with HaloSandbox() as halo:
        ps = Scripts(World(halo, tmp_path / "integrator"), tmp_path, folder=False)
        ps.script(12)
        ps.queue(201, 12)
        result = ps.world.auto()
        entry = ps.entry(201)
        assert result.returncode == 1 and not ps.calls()
        assert not entry["processed"]
        last_error = halo.get("powershellscripts", 12).get("halointegrator_lasterror") or ""
        for text in (last_error, ps.world.log()):
            assert "No scripts folder is set on this computer" in text and "1 queued run(s) wait for it" in text
            assert "CONFIGURE --connection powershell --set script_folder=" in text and "Scripts folder" in text


def test_a_script_other_users_may_rewrite_is_not_run(ps):
    """A world-writable script in the scripts folder could be rewritten by anyone between the check and the
    run: it is refused, saying how to take away their write permission."""
    planted = ps.script(12, behaviour={"stdout": "planted\n"})
    planted.chmod(0o666)
    ps.queue(201, 12)
    ps.world.auto()
    message = ps.entry(201)["result_message"]
    assert not ps.calls() and "may be changed by other users" in message and "chmod go-w" in message


def test_the_run_time_limit_stops_a_script_and_says_so(tmp_path, standin_path):
    """run_time_limit_minutes bounds a script too (its own limit is 10 minutes): the run stops with a
    message naming the run's time limit instead of holding the run lock; the script's outcome says the
    run's limit ended it, is kept, and is posted by the next run without running the script again."""
    with HaloSandbox() as halo:
        ps = Scripts(World(halo, tmp_path / "integrator", settings=("run_time_limit_minutes=0.05",)), tmp_path)
        ps.script(13, behaviour={"sleep": 600})
        ps.queue(202, 13)
        result = ps.world.auto(timeout=120)  # only catches a hang: the script alone would take 10 minutes
        assert result.returncode != 0 and "time limit of 0.05 minutes" in ps.world.run_log()
        assert len(ps.calls()) == 1
        configure(ps.world.config, halo.url, cwd=ps.world.folder, extra=("--set", "run_time_limit_minutes=120"))
        ps.world.auto()
        entry = ps.entry(202)
        assert entry["processed"] and not entry["success"] and len(ps.calls()) == 1
        assert "when the Integrator's run reached its time limit of 0.05 minutes" in entry["result_message"]
        assert "run_time_limit_minutes" in entry["result_message"]
