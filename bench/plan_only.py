"""engine.plan alone on synthetic users: the CPU of the planning step, without I/O or servers.

Run as its own process (`python -m bench.plan_only --users 50000`) so time.process_time() counts only
the planner. Wanted records carry what the Entra ID mapping sends (about ten fields); Halo's records
carry those plus the fields Halo adds (ids, names of site and client, flags), about thirty in all.
Prints one JSON object: CPU seconds per case (best of --repeat) and the number of changes planned.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from halointegrator.engine import Policy, plan  # noqa: E402
from halointegrator.engine.model import EntityKind, Wanted  # noqa: E402

KIND = EntityKind("user", "Users", "users", "azureoid", "name")
CONNECTION_ID = 1


def wanted_user(number: int, changed: bool) -> Wanted:
    oid = f"00000000-0000-4000-8000-{number:012d}"
    fields = {
        "azureoid": oid, "azure_connectionid": CONNECTION_ID, "name": f"User {number}", "firstname": "User",
        "surname": str(number), "emailaddress": f"user{number}@contoso.example",
        "login": f"user{number}@contoso.example", "title": "Engineer (changed)" if changed else "Engineer",
        "department": ("Sales", "Support", "Finance")[number % 3], "mobilenumber": f"+44 7700 {number:06d}",
        "phonenumber": f"+44 20 7946 {number % 10000:04d}", "site_id": 1 + number % 3, "inactive": number % 20 == 0,
    }
    return Wanted(key=oid, label=fields["name"], fields=fields, scope=f"site:{fields['site_id']}")


def halo_user(number: int) -> dict[str, Any]:
    record = dict(wanted_user(number, changed=False).fields)
    record.update({
        "id": 1000 + number, "site_name": f"Site {record['site_id']}", "client_id": 1, "client_name": "Contoso",
        "isimportantcontact": False, "neversendemails": False, "priority_id": 0, "linked_agent_id": 0,
        "other1": "", "other2": "", "other3": "", "notes": "", "initials": "", "homenumber": "",
        "fax": "", "third_party_id": "", "samaccountname": "", "use": "user", "connectwiseid": 0,
        "autotaskid": 0, "messagegroup_id": 0, "overridepdftemplatequote": 0,
    })
    return record


def cases(users: int, changed_share: float) -> dict[str, tuple[list[Wanted], list[dict[str, Any]]]]:
    every_nth = max(1, round(1 / changed_share))
    wanted = [wanted_user(n, changed=False) for n in range(users)]
    changed = [wanted_user(n, changed=n % every_nth == 0) for n in range(users)]
    existing = [halo_user(n) for n in range(users)]
    return {"first": (wanted, []), "unchanged": (wanted, existing), "changed": (changed, existing)}


def measure(wanted: list[Wanted], existing: list[dict[str, Any]], repeat: int) -> tuple[float, int]:
    best, planned = float("inf"), 0
    for _ in range(repeat):
        began = time.process_time()
        result = plan(KIND, wanted, existing, owns=lambda record: record.get("azure_connectionid") == CONNECTION_ID,
                      match_fields=("emailaddress",), scope_of=lambda record: f"site:{record.get('site_id')}",
                      policy=Policy())
        best = min(best, time.process_time() - began)
        planned = len(result.changes)
    return best, planned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"users": args.users}
    for name, (wanted, existing) in cases(args.users, args.changed).items():
        cpu, planned = measure(wanted, existing, args.repeat)
        result[name] = {"cpu_s": round(cpu, 3), "changes": planned}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
