"""One size of one source: build it, then run AUTO (source tree, frozen binary) and the naive baseline
side by side through a first sync, an unchanged re-sync and a re-sync with 1% of users changed.

Every runner is a child process in its own temporary working folder (its config, key, state and logs
live there) against its own Halo sandbox, so the runners never see each other's records; they share
the source, which is changed once, between the second and third scenario.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.halo_setup import HALO_CLIENT_ID, HALO_SECRET, HALO_SECRET_ENV, HALO_TENANT, install_email_index, make_halo
from bench.measure import (GRAPH_KINDS, count_requests, first_request_after, graph_requests, hosted_budget_time, run_measured,
                           simple_budget_time)
from bench.sources import SourceUnavailable, make_source, source_secrets

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("first", "unchanged", "changed", "lost")  # lost: the state file deleted, then a re-sync
CHANGED_FRACTION = 0.01
# Far above any run's rate: the hosted budget is simulated afterwards, never waited for.
NO_CLIENT_BUDGET = ["--set", "request_budget=100000000", "--set", "budget_window_seconds=1"]


@dataclass
class Runner:
    name: str  # "auto" (integrator.py AUTO), "frozen" (the PyInstaller binary AUTO), "naive"
    program: list[str]  # what starts it: [python, integrator.py], [binary] or [python, bench/naive.py]
    halo: Any
    workdir: Path

    def command(self) -> list[str]:
        if self.name == "naive":
            return [*self.program, str(self.workdir / "naive-spec.json")]
        return [*self.program, "AUTO", "--config", str(self.workdir / "HaloIntegrator.config")]


def child_env(source: Any) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return env | source_secrets(source) | {HALO_SECRET_ENV: HALO_SECRET}


def configure(runner: Runner, source: Any, env: dict[str, str]) -> None:
    """The two CONFIGURE calls a user makes: the Halo connection, then the source's local settings."""
    config = str(runner.workdir / "HaloIntegrator.config")
    calls = [["--url", runner.halo.url, "--client-id", HALO_CLIENT_ID, "--secret-env",
              f"client_secret={HALO_SECRET_ENV}", *NO_CLIENT_BUDGET], source.configure_args()]
    for arguments in calls:
        cost = run_measured([*runner.program, "CONFIGURE", "--config", config, *arguments], runner.workdir, env, 120)
        if cost.exit_code != 0:
            raise RuntimeError(f"CONFIGURE failed ({cost.exit_code}): {_tail(runner.workdir / 'stderr.txt')}")


def write_naive_spec(runner: Runner, source: Any) -> None:
    spec = {"halo": {"url": runner.halo.url, "tenant": HALO_TENANT, "client_id": HALO_CLIENT_ID,
                     "secret_env": HALO_SECRET_ENV}, "source": source.naive_spec()}
    (runner.workdir / "naive-spec.json").write_text(json.dumps(spec), encoding="utf-8")


def make_runners(source: Any, root: Path, frozen: Path | None, naive: bool, env: dict[str, str]) -> list[Runner]:
    programs = [("auto", [sys.executable, str(REPO / "integrator.py")])]
    if frozen is not None:
        programs.append(("frozen", [str(frozen)]))
    if naive and getattr(source, "naive", True):
        programs.append(("naive", [sys.executable, str(REPO / "bench" / "naive.py")]))
    runners = []
    for name, program in programs:
        workdir = root / name
        workdir.mkdir()
        runner = Runner(name, program, make_halo(source), workdir)
        runners.append(runner)
        if name == "naive":
            install_email_index(runner.halo)
            write_naive_spec(runner, source)
        else:
            configure(runner, source, env)
    return runners


def run_scenario(runner: Runner, source: Any, scenario: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    runner.halo.clear_requests()
    source.reset_counts()
    cost = run_measured(runner.command(), runner.workdir, env, timeout)
    halo = count_requests(list(runner.halo.requests))
    source_counts = source.requests()
    first = first_request_after(halo.times, cost.started)
    result = {
        "runner": runner.name, "scenario": scenario, "exit_code": cost.exit_code, "timed_out": cost.timed_out,
        "wall_s": round(cost.wall, 3), "cpu_s": round(cost.cpu, 3), "user_s": round(cost.user, 3),
        "system_s": round(cost.system, 3), "peak_rss_mb": round(cost.peak_rss_mb, 1),
        "halo": halo.as_dict(), "source_requests": sum(source_counts.values()), "source_detail": source_counts,
        "hosted_s": round(hosted_budget_time(halo.times, cost.started, cost.wall), 1),
        "hosted_simple_s": round(simple_budget_time(halo.total, cost.wall), 1),
        "first_halo_request_s": None if first is None else round(first, 3),
        "changes": read_changes(runner),
    }
    if source.name == "azure":  # the Graph requests beside the Halo ones, by kind (delta pages, reads by id, ...)
        result["graph_requests"] = graph_requests(source_counts)
    if hasattr(source, "read_details") and runner.name != "naive":  # rows per second read from the database
        result["source_read"] = source.read_details(runner.workdir)
    if cost.exit_code != 0:
        result["error"] = _tail(runner.workdir / "stderr.txt") or _tail_log(runner.workdir)
    return result


def read_changes(runner: Runner) -> dict[str, int]:
    """What the run changed: the Integrator's last-run.json counts, or the baseline's own summary."""
    try:
        if runner.name == "naive":
            return json.loads((runner.workdir / "naive-summary.json").read_text(encoding="utf-8"))
        summary = json.loads((runner.workdir / "logs" / "last-run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    totals: dict[str, int] = {}
    for report in summary.get("integrations", []):
        for action, number in (report.get("counts") or {}).items():
            totals[action] = totals.get(action, 0) + int(number)
        for kind, counts in (report.get("by_kind") or {}).items():
            for action, number in counts.items():
                totals[f"{kind} {action}"] = totals.get(f"{kind} {action}", 0) + int(number)
        totals["refused"] = totals.get("refused", 0) + len(report.get("errors") or [])
        if report.get("failure"):
            totals["failed"] = totals.get("failed", 0) + 1
    return totals


def bench_one(source_name: str, users: int, *, frozen: Path | None = None, naive: bool = True,
              timeout: float = 3600, keep: bool = False, say=print) -> dict[str, Any]:
    """Every scenario for one source and size; a source that cannot be built is reported, not raised."""
    root = Path(tempfile.mkdtemp(prefix=f"halo-bench-{source_name}-{users}-"))
    source = make_source(source_name, users, root)
    outcome: dict[str, Any] = {"source": source_name, "users": users, "runs": []}
    runners: list[Runner] = []
    try:
        say(f"[{source_name} {users}] building the source ...")
        source.start()
        outcome["source_setup_s"] = round(source.setup_seconds, 2)
        if source.workarounds:
            outcome["workarounds"] = source.workarounds
        env = child_env(source)
        runners = make_runners(source, root, frozen, naive, env)
        for scenario in SCENARIOS:
            if scenario == "changed":
                outcome["changed_users"] = source.change(CHANGED_FRACTION)
            for runner in runners:
                if scenario == "lost" and runner.name == "naive":
                    continue  # it keeps no state to lose
                if scenario == "lost":
                    (runner.workdir / "HaloIntegrator.state").unlink(missing_ok=True)
                say(f"[{source_name} {users}] {runner.name}: {scenario} ...")
                outcome["runs"].append(run_scenario(runner, source, scenario, env, timeout))
                if "graph_requests" in outcome["runs"][-1]:
                    say(f"[{source_name} {users}] {runner.name}: {scenario}: Graph requests "
                        f"{describe_graph(outcome['runs'][-1]['graph_requests'])}")
    except SourceUnavailable as error:
        outcome["not_available"] = str(error)
    finally:
        for runner in runners:
            runner.halo.stop()
        source.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return outcome


def describe_graph(counted: dict[str, int]) -> str:
    """'14 (token 1, delta pages 1, group look-ups 3, member pages 9)': the kinds that occurred."""
    parts = [f"{GRAPH_KINDS.get(name, name)} {number}" for name, number in counted.items() if name != "total" and number]
    return f"{counted['total']} ({', '.join(parts)})"


def _tail(path: Path, characters: int = 600) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-characters:].strip()
    except OSError:
        return ""


def _tail_log(workdir: Path) -> str:
    logs = sorted((workdir / "logs").glob("*.log"))
    return _tail(logs[-1]) if logs else ""
