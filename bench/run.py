"""The benchmark's one command: sizes x sources x (AUTO, frozen AUTO, naive) x three scenarios.

    python -m bench.run --sizes 1000,10000,50000 --sources azure,ldap --out bench/results.json [--frozen PATH]

Prints a table and the targets, and writes everything (with the machine it ran on) to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO, bench_one
from bench.targets import all_targets

COLUMNS = ("users", "source", "runner", "scenario", "reads", "writes", "token", "total", "src req", "wall s",
           "cpu s", "RSS MB", "hosted", "naive x req", "x wall", "x hosted")


def machine() -> dict[str, Any]:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
        memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                             if line.startswith("MemTotal")))
    except (OSError, StopIteration, ValueError):
        memory_kb = 0
    debian = Path("/etc/debian_version")
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "system": platform.platform(),
            "debian": debian.read_text().strip() if debian.exists() else ""}


def plan_only(users: int) -> dict[str, Any]:
    """engine.plan on synthetic data, in a process of its own (see bench/plan_only.py)."""
    answer = subprocess.run([sys.executable, "-m", "bench.plan_only", "--users", str(users)], cwd=REPO,
                            capture_output=True, text=True, timeout=900)
    if answer.returncode != 0:
        return {"users": users, "error": answer.stderr[-500:]}
    return json.loads(answer.stdout.strip().splitlines()[-1])


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 600:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.0f}min" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def ratio(naive: float | None, ours: float | None) -> str:
    if not naive or not ours:
        return "-"
    return f"{naive / ours:.0f}x" if naive / ours >= 10 else f"{naive / ours:.1f}x"


def table_rows(outcomes: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for outcome in outcomes:
        if outcome.get("not_available"):
            rows.append([str(outcome["users"]), outcome["source"], "-", "not available: " + outcome["not_available"][:70]])
            continue
        naive = {run["scenario"]: run for run in outcome["runs"] if run["runner"] == "naive"}
        for run in outcome["runs"]:
            halo, base = run["halo"], naive.get(run["scenario"])
            compare = base is not None and run["runner"] != "naive"
            rows.append([
                f"{outcome['users']:,}", outcome["source"], run["runner"] + ("" if run["exit_code"] == 0 else " (FAILED)"),
                run["scenario"], str(halo["read"]), str(halo["write"]), str(halo["token"]), str(halo["total"]),
                str(run["source_requests"]), f"{run['wall_s']:.1f}", f"{run['cpu_s']:.1f}", f"{run['peak_rss_mb']:.0f}",
                human_seconds(run["hosted_s"]),
                ratio(base["halo"]["total"], halo["total"]) if compare else "",
                ratio(base["wall_s"], run["wall_s"]) if compare else "",
                ratio(base["hosted_s"], run["hosted_s"]) if compare else "",
            ])
    return rows


def format_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    widths = [max([len(header[i])] + [len(row[i]) for row in rows if i < len(row) and len(row) == len(header)])
              for i in range(len(header))]
    lines = [" | ".join(name.ljust(width) for name, width in zip(header, widths)),
             "-|-".join("-" * width for width in widths)]
    for row in rows:
        lines.append(" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) if len(row) == len(header)
                     else " | ".join(row))
    return "\n".join(lines)


def target_rows(targets: list[dict[str, Any]]) -> list[list[str]]:
    return [[item["status"], item["target"], item["where"], str(item["value"]), str(item["limit"]), item["note"]]
            for item in targets]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="user counts, comma separated")
    parser.add_argument("--sources", default="azure,ldap", help="azure (Graph emulator), ldap (slapd)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--frozen", type=Path, help="the frozen binary (scripts/build-exe.sh builds dist/HaloIntegrator)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for one run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    sources = [name.strip() for name in args.sources.split(",") if name.strip()]
    frozen = args.frozen.resolve() if args.frozen else None
    if frozen is not None and not os.access(frozen, os.X_OK):
        print(f"--frozen {frozen}: not an executable file (build it with scripts/build-exe.sh)", file=sys.stderr)
        return 2
    began = time.time()
    outcomes = [bench_one(source, size, frozen=frozen, naive=not args.no_naive, timeout=args.timeout,
                          say=lambda text: print(text, flush=True))
                for size in sizes for source in sources]
    plans = [plan_only(size) for size in sizes]
    targets = all_targets(outcomes, plans)
    report = {"machine": machine(), "command": " ".join(["python -m bench.run", *(argv or sys.argv[1:])]),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
              "duration_s": round(time.time() - began, 1), "results": outcomes, "plan_only": plans, "targets": targets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print()
    print(format_table(COLUMNS, table_rows(outcomes)))
    print("\nSource setup (s): " + "; ".join(f"{o['source']} {o['users']:,}: {o.get('source_setup_s', '-')}"
                                           for o in outcomes))
    print()
    print("engine.plan alone (CPU s): " + "; ".join(
        f"{p['users']:,}: " + ", ".join(f"{case} {p[case]['cpu_s']}" for case in ("first", "unchanged", "changed"))
        for p in plans if "error" not in p))
    print()
    print(format_table(("status", "target", "where", "value", "limit", "note"), target_rows(targets)))
    print(f"\nMachine: {report['machine']['cores']} cores, Python {report['machine']['python']}, "
          f"Debian {report['machine']['debian']}; results in {args.out}")
    return 1 if any(item["status"] == "MISSED" for item in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
