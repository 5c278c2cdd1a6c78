"""The core's job runner (engine/jobs.py) and a job integration through run_all: what is posted, in which
order, what stops it, what a dry run does, and which connections it may run (no switch, explicit allow)."""

from __future__ import annotations

import logging
import threading

import pytest

from halointegrator.engine import jobs
from halointegrator.engine.model import Check, ConnectionSource, Integration, Job, Work
from halointegrator.engine.runner import RunOptions, RunSetup, last_error_text, run_all
from halointegrator.errors import Cancelled, ConfigError, HaloError
from tests.core_helpers import context_for
from tests.fake_halo import FakeHalo

LOG = logging.getLogger("test.jobs")
QUEUE = "PowerShellScriptProcessing"


class Story:
    """What happened, in order: jobs run, posts Halo took, posted() calls, prepare()."""

    def __init__(self, halo: FakeHalo) -> None:
        self.halo, self.events = halo, []

    def job(self, entry_id: int, success: bool = True, raises: Exception | None = None) -> Job:
        def run(cancel):
            self.events.append(("run", entry_id, len(self.halo.posts)))
            if raises is not None:
                raise raises
            return {"id": entry_id, "processed": True, "success": success, "result_message": f"done {entry_id}"}
        return Job(f"Run job {entry_id}", run)

    def work(self, *, pending=(), jobs_=(), problem="") -> Work:
        return Work(QUEUE, pending=[(f"Outcome of {n}", {"id": n, "processed": True, "success": True})
                                    for n in pending],
                    jobs=list(jobs_), posted=lambda record: self.events.append(("posted", record["id"])),
                    prepare=lambda: self.events.append(("prepare",)),
                    failed=lambda record: None if record["success"] else f"entry {record['id']} failed",
                    problem=problem, notes=["a note"])


def queue_halo(*ids: int, **options) -> FakeHalo:
    return FakeHalo({QUEUE: [{"id": n, "processed": False} for n in ids]}, **options)


def perform(work: Work, halo: FakeHalo, *, dry_run: bool = False, cancel: threading.Event | None = None):
    integration = job_integration([], work=lambda ctx, record: work)
    ctx = context_for(halo, dry_run=dry_run, client_id="ours", log=LOG)
    if cancel is not None:
        ctx.cancel = cancel
    return jobs.perform(integration, {"id": 1}, ctx, halo)


def job_integration(records, work, **source) -> Integration:
    return Integration(name="queue", title="Queue", description="test",
                       connections=ConnectionSource("PowerShellScript", lambda halo: records, **source),
                       prerequisites=(), local_settings=(), check=lambda ctx, record: [Check("ok", True)], work=work)


def posted_ids(halo: FakeHalo) -> list[int]:
    return [payload["id"] for call in halo.posts for payload in call.payloads]


def test_pending_outcomes_are_posted_first_then_each_job_is_posted_before_the_next_runs():
    halo = queue_halo(1, 2, 3, 4)
    story = Story(halo)
    report = perform(story.work(pending=[1], jobs_=[story.job(2), story.job(3, success=False), story.job(4)]), halo)
    assert story.events == [("prepare",), ("posted", 1), ("run", 2, 1), ("posted", 2), ("run", 3, 2), ("posted", 3),
                            ("run", 4, 3), ("posted", 4)]
    assert posted_ids(halo) == [1, 2, 3, 4] and all(call.idempotent for call in halo.posts)
    assert all(len(call.payloads) == 1 and call.path == QUEUE for call in halo.posts)
    assert report.summary() == "run 3 script(s), post 1 outcome(s), 1 failed" and report.notes == ["a note"]
    assert [(failure.description, failure.message) for failure in report.failed] == [("Run job 3", "entry 3 failed")]
    assert not report.ok and last_error_text(report) == "1 failed; first: Run job 3: entry 3 failed"


def test_when_halo_will_not_take_an_outcome_nothing_more_runs():
    halo = queue_halo(1, 2, 3, fail=lambda path, payloads: HaloError("Halo answered HTTP 500")
                      if payloads[0]["id"] == 2 else None)
    story = Story(halo)
    report = perform(story.work(pending=[1], jobs_=[story.job(2), story.job(3)]), halo)
    assert story.events == [("prepare",), ("posted", 1), ("run", 2, 1)]  # 2 ran; its post failed; 3 never ran
    assert report.failure.startswith("Halo did not take an outcome (Halo answered HTTP 500); nothing more was run.")


def test_a_pending_outcome_halo_will_not_take_runs_nothing():
    halo = queue_halo(1, 2, fail=lambda path, payloads: HaloError("Halo answered HTTP 503"))
    story = Story(halo)
    report = perform(story.work(pending=[1], jobs_=[story.job(2)]), halo)
    assert story.events == [("prepare",)] and "nothing more was run" in report.failure


def test_a_dry_run_only_logs(caplog):
    halo = queue_halo(1, 2)
    story = Story(halo)
    with caplog.at_level(logging.INFO, logger="test.jobs"):
        report = perform(story.work(pending=[1], jobs_=[story.job(2)]), halo, dry_run=True)
    assert story.events == [] and halo.posts == []
    assert "Would post outcome of 1" in caplog.text and "Would run job 2" in caplog.text
    assert report.dry_run and report.summary() == "would run 1 script(s), would post 1 outcome(s)"


def test_a_problem_fails_the_connection_after_the_jobs_it_has():
    halo = queue_halo(1)
    story = Story(halo)
    report = perform(story.work(jobs_=[story.job(1)], problem="PowerShell is not installed"), halo)
    assert posted_ids(halo) == [1] and report.failure == "PowerShell is not installed"


def test_stop_ends_the_run_before_the_next_job():
    halo = queue_halo(1, 2)
    story, cancel = Story(halo), threading.Event()

    def first(stop):
        cancel.set()  # Stop pressed while the first job runs
        return {"id": 1, "processed": True, "success": True}
    with pytest.raises(Cancelled, match="1 queued job"):
        perform(story.work(jobs_=[Job("Run job 1", first), story.job(2)]), halo, cancel=cancel)
    assert posted_ids(halo) == [1] and ("run", 2, 1) not in story.events


def test_a_job_that_raises_is_not_reported_as_an_outcome_halo_refused():
    halo = queue_halo(1)
    story = Story(halo)
    report = perform(story.work(jobs_=[story.job(1, raises=ConfigError("Cannot write the journal."))]), halo)
    assert "Cannot write the journal." in report.failure and "Halo did not take" not in report.failure


# ---- through run_all: which connections may run, Last Sync / Last Error --------------------------------

class RunHalo(FakeHalo):
    def get(self, path, params=None):
        return {"app_version": "2.184"} if path == "InstanceInfo" else super().get(path, params)


@pytest.mark.parametrize("allowed, runs", [("ours", True), ("theirs", False), ("", False), (None, False)])
def test_explicit_allow_without_a_switch_runs_only_where_halo_names_us(allowed, runs):
    record = {"id": 5, "name": "Script", "halointegrator_allowedclientids": allowed}
    halo = RunHalo({"PowerShellScript": [record], QUEUE: [{"id": 1}]})
    asked = []

    def work(ctx, connection):
        asked.append(connection["id"])
        return Work(QUEUE, jobs=[Job("Run job 1", lambda cancel: {"id": 1, "processed": True, "success": True})])
    integration = job_integration([record], work, enabled_field="", explicit_allow=True)
    result = run_all(halo, {"queue": integration}, RunSetup(client_id="ours", log=LOG, options=RunOptions()))
    assert asked == ([5] if runs else []) and result.exit_code == 0
    if runs:
        assert posted_ids(halo) == [1, 5]  # the outcome, then Last Sync / Last Error on the script
        assert halo.record("PowerShellScript", 5)["halointegrator_lasterror"] == ""
        assert halo.record("PowerShellScript", 5)["halointegrator_lastsync"]
    else:
        assert halo.posts == []


def test_a_failed_job_is_last_error_and_last_sync_still_moves():
    record = {"id": 5, "name": "Script", "halointegrator_allowedclientids": "ours"}
    halo = RunHalo({"PowerShellScript": [record], QUEUE: [{"id": 1}]})
    story = Story(halo)
    integration = job_integration([record], lambda ctx, connection: story.work(jobs_=[story.job(1, success=False)]),
                                  enabled_field="", explicit_allow=True)
    result = run_all(halo, {"queue": integration}, RunSetup(client_id="ours", log=LOG))
    script = halo.record("PowerShellScript", 5)
    assert result.exit_code == 1 and script["halointegrator_lasterror"] == "1 failed; first: Run job 1: entry 1 failed"
    assert script["halointegrator_lastsync"]  # the run itself worked: a job failing is the job's outcome
