"""Generated Entra ID tenant data for the Graph emulator: users, groups, Intune devices.

Deterministic for a seed; fast enough for 50,000 users. Every change is an event in a log with a
version number (which user, which properties, created or removed), so that the emulator can answer
delta queries as Graph does: what changed since version N, property by property.

Group members are directory objects of any kind: users, other groups (nested), and, with
``foreign_members``, devices, service principals and organisational contacts, as in a real tenant.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

FIRST_NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
               "Radia", "Tim", "Hedy", "Linus", "Karen", "John", "Sophie", "Niklaus", "Annie", "Claude")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
              "Ritchie", "Perlman", "Berners-Lee", "Lamarr", "Torvalds", "Jones", "Backus", "Wilson", "Wirth",
              "Easley", "Shannon", "O'Brien")
DEPARTMENTS = ("Sales", "Engineering", "Support", "Finance", "Marketing", "Operations")
TITLES = ("Engineer", "Analyst", "Manager", "Consultant", "Technician", "Director")
GROUP_NAMES = ("Sales Staff", "Engineering Staff", "Support Staff", "Finance Staff", "Head Office")
DEVICE_MODELS = (("Dell Inc.", "Latitude 7440", "Windows", "10.0.22631.3880"),
                 ("LENOVO", "ThinkPad T14 Gen 4", "Windows", "10.0.19045.4651"),
                 ("Apple", "MacBook Pro (14-inch, 2023)", "macOS", "14.5"),
                 ("Apple", "iPhone 15", "iOS", "17.5.1"),
                 ("samsung", "SM-S911B", "Android", "14"))


CREATED = "created"  # a change event's kind: the whole object is new (or restored) ...
UPDATED = "updated"  # ... some of its properties changed ...
REMOVED = "removed"  # ... or it was deleted ("deleted") or soft-deleted ("changed")


@dataclass(frozen=True)
class Change:
    """One event in the tenant's change log."""

    version: int
    user_id: str
    kind: str
    props: frozenset[str] = frozenset()  # UPDATED: the properties it changed
    reason: str = ""  # REMOVED: "deleted" | "changed"


@dataclass
class Tenant:
    """The directory the emulator serves; `version` grows with every change."""

    domain: str = "contoso.example"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # group id -> direct member ids (any kind)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # other directory objects, with @odata.type
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # Intune managed devices
    changes: list[Change] = field(default_factory=list)
    ever_set: dict[str, set[str]] = field(default_factory=dict)  # user id -> properties that ever held a value
    version: int = 0

    def record(self, user_id: str, kind: str, props: frozenset[str] = frozenset(), reason: str = "") -> None:
        self.version += 1
        self.changes.append(Change(self.version, user_id, kind, props, reason))

    def created(self, user: dict[str, Any]) -> None:
        self.users[user["id"]] = user
        self.ever_set[user["id"]] = {name for name, value in user.items() if value is not None}
        self.record(user["id"], CREATED)

    def updated(self, user_id: str, props: dict[str, Any]) -> None:
        """Apply `props` to a user and log the properties whose value changed."""
        user = self.users[user_id]
        changed = frozenset(name for name, value in props.items() if user.get(name) != value or name not in user)
        user.update(props)
        self.ever_set.setdefault(user_id, set()).update(name for name, value in props.items() if value is not None)
        if changed:
            self.record(user_id, UPDATED, changed)

    def removed(self, user_id: str, reason: str) -> None:
        del self.users[user_id]
        for members in self.members.values():
            if user_id in members:
                members.remove(user_id)
        self.record(user_id, REMOVED, reason=reason)

    def group_named(self, name: str) -> dict[str, Any] | None:
        return next((group for group in self.groups.values() if group["displayName"] == name), None)

    def odata_type(self, object_id: str) -> str:
        if object_id in self.users:
            return "#microsoft.graph.user"
        if object_id in self.groups:
            return "#microsoft.graph.group"
        return self.objects[object_id]["@odata.type"] if object_id in self.objects else ""


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_user(rng: random.Random, number: int, domain: str, enabled: bool = True) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    alias = f"{first}.{last}{number}".lower().replace("'", "")
    return {
        "id": new_id(rng),
        "accountEnabled": enabled,
        "displayName": f"{first} {last}",
        "givenName": first,
        "surname": last,
        "mail": f"{alias}@{domain}" if number % 17 else None,  # some users have no mailbox
        "userPrincipalName": f"{alias}@{domain}",
        "jobTitle": rng.choice(TITLES),
        "department": rng.choice(DEPARTMENTS),
        "mobilePhone": f"+44 7700 {number % 1000000:06d}" if number % 3 else None,
        "businessPhones": [f"+44 20 7946 {number % 10000:04d}"] if number % 4 else [],
        "officeLocation": f"Floor {number % 7}",
        "companyName": "Contoso",
        "employeeId": f"E{number:06d}",
        "onPremisesSamAccountName": alias[:20],
        "onPremisesExtensionAttributes": {f"extensionAttribute{n}": None for n in range(1, 16)}
        | {"extensionAttribute1": f"cost-centre-{number % 40}"},
    }


def make_device(rng: random.Random, number: int, owner: dict[str, Any] | None) -> dict[str, Any]:
    manufacturer, model, system, version = DEVICE_MODELS[number % len(DEVICE_MODELS)]
    serial = "" if number % 50 == 49 else f"SN{rng.getrandbits(40):010X}"  # a few report no serial
    return {
        "id": new_id(rng),
        "deviceName": f"{system.upper()[:3]}-{number:06d}",
        "serialNumber": serial,
        "model": model,
        "manufacturer": manufacturer,
        "operatingSystem": system,
        "osVersion": version,
        "lastSyncDateTime": f"2026-11-{1 + number % 27:02d}T08:{number % 60:02d}:00Z",
        "enrolledDateTime": "2025-01-15T09:00:00Z",
        "userId": owner["id"] if owner else None,
        "userPrincipalName": owner["userPrincipalName"] if owner else None,
        "userDisplayName": owner["displayName"] if owner else None,
        "emailAddress": owner["mail"] if owner else None,
        "complianceState": "compliant",
        # Devices onboarded to Defender for Endpoint security management are listed by Intune too,
        # with managementAgent msSense; Halo's exclude_mssense_devices leaves them out.
        "managementAgent": "msSense" if number % 12 == 11 else "mdm",
        "managedDeviceOwnerType": "company",
        "azureADDeviceId": new_id(rng),
        "imei": None,
        "wiFiMacAddress": f"{number:012X}",
        # Held by the device, but a list read answers null / 0 for them (see graph_subset.json list_default).
        "ethernetMacAddress": f"{number + 0xA0000000:012X}" if system in ("Windows", "macOS") else None,
        "physicalMemoryInBytes": (16 if number % 3 else 8) * 1024 ** 3,
        "totalStorageSpaceInBytes": 512 * 1024 ** 3,
        "isEncrypted": True,
    }


def generate_tenant(users: int = 5000, groups: int = 3, devices: int = 1000, disabled_ratio: float = 0.05,
                    seed: int = 1, domain: str = "contoso.example", nested_groups: int = 0,
                    foreign_members: int = 0) -> Tenant:
    """A tenant of `users` users; user i is in group i % (groups + 1) (the last share is in no group),
    and device j belongs to a user (every tenth has no primary user).

    `nested_groups`: the first that many groups each get a nested group ("<name> Contractors") holding
    every third of their users instead of them (so those users are members only transitively).
    `foreign_members`: each group also has that many devices, service principals and contacts."""
    rng = random.Random(seed)
    tenant = Tenant(domain=domain)
    for number in range(users):
        tenant.created(make_user(rng, number, domain, enabled=rng.random() >= disabled_ratio))
    user_ids = list(tenant.users)
    for index in range(groups):
        name = GROUP_NAMES[index] if index < len(GROUP_NAMES) else f"Group {index + 1}"
        group = add_group(tenant, new_id(rng), name, user_ids[index::groups + 1])
        if index < nested_groups:
            direct = tenant.members[group["id"]]
            nested = add_group(tenant, new_id(rng), f"{name} Contractors", direct[1::3])
            tenant.members[group["id"]] = [member for member in direct if member not in set(direct[1::3])]
            tenant.members[group["id"]].append(nested["id"])
        for number in range(foreign_members):
            tenant.members[group["id"]] += add_foreign_members(tenant, rng, f"{index}-{number}")
    for number in range(devices):
        owner = tenant.users[user_ids[number % len(user_ids)]] if user_ids and number % 10 else None
        device = make_device(rng, number, owner)
        tenant.devices[device["id"]] = device
    return tenant


def add_group(tenant: Tenant, group_id: str, name: str, member_ids: list[str]) -> dict[str, Any]:
    group = {"id": group_id, "displayName": name, "mailEnabled": False, "securityEnabled": True}
    tenant.groups[group_id] = group
    tenant.members[group_id] = list(member_ids)
    return group


def add_foreign_members(tenant: Tenant, rng: random.Random, label: str) -> list[str]:
    """A device, a service principal and an organisational contact; returns their ids."""
    kinds = (("#microsoft.graph.device", {"displayName": f"KIOSK-{label}", "deviceId": new_id(rng)}),
             ("#microsoft.graph.servicePrincipal", {"displayName": f"Backup agent {label}", "appId": new_id(rng)}),
             ("#microsoft.graph.orgContact", {"displayName": f"Supplier {label}", "mail": f"supplier{label}@example.net"}))
    ids = []
    for odata_type, props in kinds:
        object_id = new_id(rng)
        tenant.objects[object_id] = {"@odata.type": odata_type, "id": object_id, **props}
        ids.append(object_id)
    return ids
