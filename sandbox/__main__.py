"""The demo (README's first command): one full sync of the sandbox into the sandbox Halo, as a user would.

Starts the Halo API emulator, the Microsoft Graph emulator with a generated tenant and, when slapd is
installed, a real OpenLDAP directory; enables both integrations in the sandbox Halo; configures the
Integrator with `integrator.py CONFIGURE` (secrets through environment variables, as a user would) and
runs `integrator.py AUTO` once in ./sandbox-run, then prints what it did and where its log went.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def integrator(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "integrator.py"), *args]
    return subprocess.run(command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)


def configure(config: Path, halo: HaloSandbox, graph: GraphServer, ldap_ca: str | None, workdir: Path) -> None:
    secrets = {"DEMO_HALO_SECRET": HALO_SECRET, "DEMO_GRAPH_SECRET": APP_SECRET}
    calls = [
        ("--url", halo.url, "--client-id", "halo-integrator", "--secret-env", "client_secret=DEMO_HALO_SECRET"),
        ("--connection", "azure_ad:1", "--secret-env", "app_secret=DEMO_GRAPH_SECRET",
         "--set", f"login_url={graph.url}", "--set", f"graph_url={graph.url}"),
    ]
    if ldap_ca:
        calls.append(("--connection", "active_directory:1", "--set", f"ca_file={ldap_ca}"))
    for arguments in calls:
        result = integrator("CONFIGURE", "--config", str(config), *arguments, cwd=workdir, env=secrets)
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


def print_outcome(result: subprocess.CompletedProcess, workdir: Path, halo: HaloSandbox, graph: GraphServer) -> None:
    summary = json.loads((workdir / "logs" / "last-run.json").read_text(encoding="utf-8"))
    print(f"\nintegrator.py AUTO exit code {result.returncode} ({summary.get('message', '')})")
    for report in summary.get("integrations", []):
        counts = ", ".join(f"{action} {number} {kind}(s)" for kind, numbers in report["by_kind"].items()
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
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    tenant = generate_tenant(users=args.users, groups=3, devices=max(1, args.users // 5), seed=7)
    directory = start_directory(workdir, args.ldap_users)
    try:
        with HaloSandbox() as halo, GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID,
                                                client_secret=APP_SECRET) as graph:
            print(f"Sandbox Halo at {halo.url}; Microsoft Graph emulator at {graph.url}"
                  + (f"; OpenLDAP at ldaps://{directory.host}:{directory.ldaps_port}" if directory else ""))
            enable_connections(halo, directory)
            config = workdir / "HaloIntegrator.config"
            configure(config, halo, graph, directory.ca_file if directory else None, workdir)
            result = integrator("AUTO", "--config", str(config), *(["--dry-run"] if args.dry_run else []), cwd=workdir)
            print_outcome(result, workdir, halo, graph)
            return result.returncode
    finally:
        if directory is not None:
            directory.stop()


if __name__ == "__main__":
    raise SystemExit(main())
