"""Generated Entra ID tenant data for the Graph emulator: users, groups, Intune devices.

Deterministic for a seed; fast enough for 50,000 users. Changes bump a version number per object so
that the emulator can answer delta queries (what changed since version N).
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


@dataclass
class Tenant:
    """The directory the emulator serves; `version` grows with every change."""

    domain: str = "contoso.example"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # group id -> user ids
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_versions: dict[str, int] = field(default_factory=dict)
    tombstones: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (version, reason)
    version: int = 0

    def touch(self, user_id: str) -> None:
        self.version += 1
        self.user_versions[user_id] = self.version
        self.tombstones.pop(user_id, None)

    def group_named(self, name: str) -> dict[str, Any] | None:
        return next((group for group in self.groups.values() if group["displayName"] == name), None)


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
        "managementAgent": "mdm",
        "managedDeviceOwnerType": "company",
        "azureADDeviceId": new_id(rng),
        "imei": None,
        "wiFiMacAddress": f"{number:012X}",
        "isEncrypted": True,
    }


def generate_tenant(users: int = 5000, groups: int = 3, devices: int = 1000, disabled_ratio: float = 0.05,
                    seed: int = 1, domain: str = "contoso.example") -> Tenant:
    """A tenant of `users` users; user i is in group i % (groups + 1) (the last share is in no group),
    and device j belongs to a user (every tenth has no primary user)."""
    rng = random.Random(seed)
    tenant = Tenant(domain=domain)
    for number in range(users):
        user = make_user(rng, number, domain, enabled=rng.random() >= disabled_ratio)
        tenant.users[user["id"]] = user
        tenant.touch(user["id"])
    user_ids = list(tenant.users)
    for index in range(groups):
        name = GROUP_NAMES[index] if index < len(GROUP_NAMES) else f"Group {index + 1}"
        group = {"id": new_id(rng), "displayName": name, "mailEnabled": False, "securityEnabled": True}
        tenant.groups[group["id"]] = group
        tenant.members[group["id"]] = user_ids[index::groups + 1]
    for number in range(devices):
        owner = tenant.users[user_ids[number % len(user_ids)]] if user_ids and number % 10 else None
        device = make_device(rng, number, owner)
        tenant.devices[device["id"]] = device
    return tenant
