"""The core's planning alone on synthetic users: bind + plan, and the sync status saved and loaded.

Run as its own process (`python -m bench.plan_only --users 50000`) so time.process_time() counts only
the core. Wanted records carry what the Entra ID mapping sends (about a dozen fields); Halo's records
are lean list items (Users_List fields only, as Halo's document shapes them, among about thirty fields
Halo adds), and the sync status knows the fields the list does not show (steady state).
Prints one JSON object: CPU seconds per case (best of --repeat), the number of changes planned, and
the wall seconds to save and load the status of that many users.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from halointegrator.engine.binding import bind  # noqa: E402
from halointegrator.engine.model import Identity, Wanted  # noqa: E402
from halointegrator.engine.planning import plan, unique_wanted  # noqa: E402
from halointegrator.engine.remember import remember  # noqa: E402
from halointegrator.engine.status import ConnectionState, KindStatus, StatusStore  # noqa: E402
from halointegrator.halo.resources import users as users_kind  # noqa: E402
from sandbox.halo_server import load_subset  # noqa: E402
from sandbox.halo_strict import DEFAULT_SUBSET_PATH  # noqa: E402

KIND = users_kind("azureoid")
CONNECTION_ID = 1
LIST_FIELDS = load_subset(str(DEFAULT_SUBSET_PATH)).list_fields["Users"]
IDENTITY = Identity(recognise=("azure_id",), match=("emailaddress",), hints=("azure_id",),
                    scope_of=lambda record: f"site:{record.get('site_id')}")


def wanted_user(number: int, changed: bool) -> Wanted:
    oid = f"00000000-0000-4000-8000-{number:012d}"
    fields = {
        "azureoid": oid, "azure_id": oid, "azure_connectionid": CONNECTION_ID, "name": f"User {number}",
        "firstname": "User", "surname": str(number), "emailaddress": f"user{number}@contoso.example",
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
    return {name: value for name, value in record.items() if name in LIST_FIELDS}  # a lean list item


def steady_status(wanted: list[Wanted], existing: list[dict[str, Any]]) -> KindStatus:
    """The status a run that created these users left: every user bound, unlisted fields fingerprinted."""
    status = KindStatus()
    binding = bind(KIND, wanted, existing, status, IDENTITY)
    written = plan(KIND, wanted, binding, status)  # the first run's writes, all landed
    remember(status, KIND, wanted, binding, written, [(change, change.halo_id) for change in written.changes],
             listed=existing)
    return status


def measure(wanted: list[Wanted], existing: list[dict[str, Any]], status: KindStatus, repeat: int) -> tuple[float, int]:
    best, planned = float("inf"), 0
    for _ in range(repeat):
        began = time.process_time()
        unique = unique_wanted(KIND, wanted, [])
        binding = bind(KIND, unique, existing, status, IDENTITY)
        result = plan(KIND, unique, binding, status, scope_of=IDENTITY.scope_of)
        best = min(best, time.process_time() - began)
        planned = len(result.changes)
    return best, planned


def status_seconds(status: KindStatus) -> float:
    """Wall seconds to save the status of one connection and load it again."""
    with tempfile.TemporaryDirectory() as folder:
        store = StatusStore(Path(folder) / "HaloIntegrator.state")
        began = time.perf_counter()
        store.save({"azure_ad:1": ConnectionState({"user": status})})
        loaded = store.load()
        seconds = time.perf_counter() - began
    assert len(loaded["azure_ad:1"].kinds["user"].entries) == len(status.entries)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args(argv)
    every_nth = max(1, round(1 / args.changed))
    wanted = [wanted_user(n, changed=False) for n in range(args.users)]
    changed = [wanted_user(n, changed=n % every_nth == 0) for n in range(args.users)]
    existing = [halo_user(n) for n in range(args.users)]
    status = steady_status(wanted, existing)
    cases = {"first": (wanted, [], KindStatus()), "unchanged": (wanted, existing, status),
             "changed": (changed, existing, status)}
    result: dict[str, Any] = {"users": args.users}
    for name, (wanted_records, halo_records, kind_status) in cases.items():
        cpu, planned = measure(wanted_records, halo_records, kind_status, args.repeat)
        result[name] = {"cpu_s": round(cpu, 3), "changes": planned}
    result["status_save_load_s"] = round(min(status_seconds(status) for _ in range(args.repeat)), 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
