"""The demo (README's first command): one full sync of the sandbox into the sandbox Halo, as a user would.

Starts the Halo API emulator, the Microsoft Graph emulator with a generated tenant and, when slapd is
installed, a real OpenLDAP directory; enables both integrations in the sandbox Halo; configures the
Integrator with `integrator.py CONFIGURE` (secrets through environment variables, as a user would) and
runs `integrator.py AUTO` once in ./sandbox-run, then prints what it did and where its log went.

With --serve it runs no sync: it keeps everything up, with the Integrator configured for it in
./sandbox-run, and prints how to open the window (or run AUTO / CHECK) against it, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sandbox.directory import connection_record, slapd_available, start_slapd
from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox

REPO = Path(__file__).resolve().parent.parent
TENANT_ID, APP_ID, APP_SECRET = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "demo-graph-secret"
HALO_SECRET = "sandbox-secret"
HEAD_OFFICE, LONDON, NEW_YORK, UNMATCHED = 1, 2, 3, 4
ENTRA_CONNECTION = {
    "halointegratorenabled": True, "intune_enabled": True, "deactivate_users": True,
    "halo_integrator_import_list": "users,devices", "createunmatchedusers": True, "unmatchedusersite": UNMATCHED,
    "defaultsite": HEAD_OFFICE, "default_assettype": 1, "user_matching_fields": "email",
    "mappings_site": [{"group_name": "Sales Staff", "siteid": LONDON, "sequenceid": 1},
                      {"group_name": "Engineering Staff", "siteid": NEW_YORK, "sequenceid": 2},
                      {"group_name": "Support Staff", "siteid": HEAD_OFFICE, "sequenceid": 3}],
}


THIS_PROGRAM = (sys.executable, str(REPO / "integrator.py"))  # the Integrator from source


def integrator(*args: str, cwd: Path, env: dict[str, str] | None = None,
               program: tuple[str, ...] = THIS_PROGRAM) -> subprocess.CompletedProcess:
    # stdin from /dev/null: Windows Python under wine dies on an inherited terminal ("Invalid handle")
    return subprocess.run([*program, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def configure(config: Path, halo: HaloSandbox, graph: GraphServer, ldap_ca: str | None, workdir: Path,
              program: tuple[str, ...] = THIS_PROGRAM) -> None:
    secrets = {"DEMO_HALO_SECRET": HALO_SECRET, "DEMO_GRAPH_SECRET": APP_SECRET}
    calls = [
        ("--url", halo.url, "--client-id", "halo-integrator", "--secret-env", "client_secret=DEMO_HALO_SECRET"),
        ("--connection", "azure_ad:1", "--secret-env", "app_secret=DEMO_GRAPH_SECRET",
         "--set", f"login_url={graph.url}", "--set", f"graph_url={graph.url}"),
    ]
    if ldap_ca:
        calls.append(("--connection", "active_directory:1", "--set", f"ca_file={ldap_ca}"))
    for arguments in calls:
        result = integrator("CONFIGURE", "--config", str(config), *arguments, cwd=workdir, env=secrets,
                            program=program)
        if result.returncode != 0:
            raise SystemExit(f"CONFIGURE failed: {result.stdout}{result.stderr}")


def enable_connections(halo: HaloSandbox, directory) -> None:
    with halo.lock:
        entra = halo.state["azureadconnections"][1]
        halo.state["azureadconnections"][1] = {**entra, **ENTRA_CONNECTION}
        if directory is not None:
            record = connection_record(directory, [LONDON, NEW_YORK, HEAD_OFFICE], name="Sandbox OpenLDAP")
            halo.state["ldapconnections"][1] = {**halo.state["ldapconnections"][1], **record}


def start_directory(workdir: Path, users: int):
    why_not = slapd_available()
    if why_not:
        print(f"{why_not}: the Active Directory integration is left out of this demo.")
        return None
    return start_slapd(workdir / "slapd", users=users)


@dataclass
class World:
    """The running sandbox and the Integrator's configuration for it."""

    halo: HaloSandbox
    graph: GraphServer
    directory: Any  # a DirectoryHandle, or None without slapd
    config: Path
    workdir: Path
    program: tuple[str, ...] = THIS_PROGRAM  # the Integrator configured for it

    def describe(self) -> str:
        return (f"Sandbox Halo at {self.halo.url}; Microsoft Graph emulator at {self.graph.url}"
                + (f"; OpenLDAP at ldaps://{self.directory.host}:{self.directory.ldaps_port}" if self.directory else ""))


@contextlib.contextmanager
def sandbox_world(workdir: Path, *, users: int = 1000, ldap_users: int = 300,
                  program: tuple[str, ...] = THIS_PROGRAM) -> Iterator[World]:
    """Halo, Graph and (when installed) slapd started, both connections enabled in Halo and the
    Integrator (``program``) configured for them in ``workdir`` (emptied first); everything stops on leaving."""
    workdir = Path(workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    tenant = generate_tenant(users=users, groups=3, devices=max(1, users // 5), seed=7)
    directory = start_directory(workdir, ldap_users)
    try:
        with HaloSandbox() as halo, GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID,
                                                client_secret=APP_SECRET) as graph:
            enable_connections(halo, directory)
            config = workdir / "HaloIntegrator.config"
            configure(config, halo, graph, directory.ca_file if directory else None, workdir, program)
            yield World(halo, graph, directory, config, workdir, program)
    finally:
        if directory is not None:
            directory.stop()


def how_to_open(world: World) -> str:
    """What --serve prints: the window and the command line, configured for the running sandbox."""
    program = shlex.join(world.program)
    config = shlex.quote(str(world.config))
    return "\n".join([
        "The sandbox is up; the Integrator is configured for it in " + str(world.workdir) + ".",
        "Open the window against it (in another terminal, on a desktop):",
        f"  {program} --config {config}",
        "or use the command line:",
        f"  {program} CHECK --config {config}",
        f"  {program} AUTO --config {config} --dry-run",
        f"The window logs into {Path(world.program[-1]).parent / 'logs'} (where the scheduled task it suggests "
        "starts); AUTO and CHECK into logs/ of the folder they are run in.",
        "Press Ctrl-C here to stop the sandbox.",
    ])


def serve(world: World, stop: threading.Event | None = None) -> int:
    """Keep the sandbox up until Ctrl-C (or SIGTERM, or ``stop``); 0 once it has stopped cleanly."""
    stop = stop or threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(how_to_open(world), flush=True)
    try:
        while not stop.wait(0.5):  # a short wait, so Ctrl-C (KeyboardInterrupt) is seen at once
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("\nStopping the sandbox\u2026", flush=True)
    return 0


def print_outcome(result: subprocess.CompletedProcess, workdir: Path, halo: HaloSandbox, graph: GraphServer) -> None:
    summary = json.loads((workdir / "logs" / "last-run.json").read_text(encoding="utf-8"))
    print(f"\nintegrator.py AUTO exit code {result.returncode} ({summary.get('message', '')})")
    for report in summary.get("integrations", []):
        verb = "would " if report.get("dry_run") else ""
        counts = ", ".join(f"{verb}{action} {number} {kind}(s)" for kind, numbers in report["by_kind"].items()
                           for action, number in numbers.items() if number) or "no changes"
        state = "ok" if report["ok"] else f"FAILED: {report['failure'] or '; '.join(report['refused'])}"
        print(f"  {report['integration']:<17} {report['connection']:<26} {counts}  [{state}]")
    users = halo.records("users")
    assets = halo.records("assets")
    print(f"Halo now holds {len(users)} users ({sum(1 for u in users if u.get('inactive'))} inactive) "
          f"and {len(assets)} assets.")
    counts = halo.counts()
    print(f"Halo requests: {counts['read']} reads, {counts['write']} writes, {counts['token']} token; "
          f"Graph requests: {sum(graph.counts.values())}.")
    logs = sorted((workdir / "logs").glob("HaloIntegrator-*.log"))
    print(f"Log: {logs[-1] if logs else workdir / 'logs'}\nSummary: {workdir / 'logs' / 'last-run.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="Entra ID users in the generated tenant")
    parser.add_argument("--ldap-users", type=int, default=300, help="users in the OpenLDAP directory")
    parser.add_argument("--workdir", type=Path, default=REPO / "sandbox-run")
    parser.add_argument("--dry-run", action="store_true", help="only show what the sync would change")
    parser.add_argument("--serve", action="store_true",
                        help="run no sync: keep the sandbox up for the window (and AUTO, CHECK) until Ctrl-C")
    parser.add_argument("--program", type=shlex.split, default=list(THIS_PROGRAM),
                        help="the Integrator to configure, e.g. 'wine build/wine/dist/HaloIntegrator.exe' "
                             "(default: this Python and integrator.py)")
    args = parser.parse_args(argv)
    try:
        with sandbox_world(args.workdir, users=args.users, ldap_users=args.ldap_users,
                           program=tuple(args.program)) as world:
            print(world.describe(), flush=True)
            if args.serve:
                code = serve(world)
            else:
                result = integrator("AUTO", "--config", str(world.config),
                                    *(["--dry-run"] if args.dry_run else []), cwd=world.workdir, program=world.program)
                print_outcome(result, world.workdir, world.halo, world.graph)
                return result.returncode
    except KeyboardInterrupt:  # Ctrl-C while it was starting: what had started is stopped by now
        print("\nStopped before the sandbox was up.", file=sys.stderr)
        return 130
    print("Stopped: the Halo and Graph emulators and OpenLDAP are down.", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
