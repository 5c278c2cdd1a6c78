"""Generated directory people for the sandbox servers, and the LDIF slapd loads them from.

Deterministic (seeded), so a test can name a user it expects; AD-shaped: sAMAccountName, UPN,
userAccountControl (512 enabled, 514 disabled), a random 16-byte objectGUID, memberOf.
"""

from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass, field

GIVEN_NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim",
               "Margaret", "Dennis", "Hedy", "John", "Karen", "Niklaus", "Sophie", "Linus", "Annie", "Claude")
SURNAMES = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman",
            "Berners-Lee", "Hamilton", "Ritchie", "Lamarr", "Backus", "Sparck Jones", "Wirth", "Wilson",
            "Torvalds", "Easley", "Shannon")
TITLES = ("Engineer", "Analyst", "Manager", "Technician", "Consultant")
DEPARTMENTS = ("IT", "Finance", "Sales", "Operations")
GROUPS = ("Helpdesk", "VPN Users")
UAC_ENABLED, UAC_DISABLED = 512, 514


@dataclass(frozen=True)
class SandboxUser:
    """One person as the sandbox directory holds them (``guid`` is None until the server assigns one)."""

    sam: str
    given: str
    surname: str
    ou_dn: str
    realm: str
    disabled: bool = False
    title: str = ""
    department: str = ""
    phone: str = ""
    mobile: str = ""
    groups: tuple[str, ...] = ()
    guid: bytes | None = field(default=None, repr=False)

    @property
    def cn(self) -> str:
        # The sAMAccountName's number keeps names unique: its last four characters, or the whole number
        # when it has more than four digits (people 1 and 10,001 would otherwise share a DN).
        number = re.search(r"[0-9]*$", self.sam).group()
        return f"{self.given} {self.surname} {number if len(number) > 4 else self.sam[-4:]}"

    @property
    def dn(self) -> str:
        return f"CN={self.cn},{self.ou_dn}"

    @property
    def display_name(self) -> str:
        return f"{self.given} {self.surname}"

    @property
    def mail(self) -> str:
        return f"{self.sam}@{self.realm}"

    @property
    def upn(self) -> str:
        return f"{self.sam}@{self.realm}"

    @property
    def uac(self) -> int:
        return UAC_DISABLED if self.disabled else UAC_ENABLED


def generate_users(count: int, ou_dns: list[str], realm: str, seed: int = 1815,
                   with_guids: bool = True, first_number: int = 1) -> list[SandboxUser]:
    """``count`` people spread round-robin over ``ou_dns``; every 7th is disabled, every 5th in groups.

    ``first_number`` makes another batch for the same directory (sAMAccountNames must be unique).
    """
    rng = random.Random(seed)
    users = []
    for number in range(first_number, first_number + count):
        given, surname = GIVEN_NAMES[number % len(GIVEN_NAMES)], SURNAMES[(number * 7) % len(SURNAMES)]
        users.append(SandboxUser(
            sam=f"{given[0]}{surname.replace(' ', '').replace('-', '')}{number:04d}".lower(),
            given=given, surname=surname, ou_dn=ou_dns[number % len(ou_dns)], realm=realm,
            disabled=number % 7 == 0, title=TITLES[number % len(TITLES)],
            department=DEPARTMENTS[number % len(DEPARTMENTS)],
            phone=f"+44 20 7946 {number:04d}", mobile=f"+44 7700 9{number:05d}",
            groups=GROUPS[: 1 + number % 2] if number % 5 == 0 else (),
            guid=rng.randbytes(16) if with_guids else None,
        ))
    return users


def group_dn(name: str, base_dn: str) -> str:
    return f"CN={name},OU=Groups,{base_dn}"


def user_attributes(user: SandboxUser) -> dict[str, object]:
    """The attributes both servers store for a person (objectClass and server-only ones aside)."""
    return {
        "cn": user.cn, "givenName": user.given, "sn": user.surname, "displayName": user.display_name,
        "sAMAccountName": user.sam, "userPrincipalName": user.upn, "mail": user.mail,
        "title": user.title, "department": user.department,
        "telephoneNumber": user.phone, "mobile": user.mobile,
    }


def ldif_entry(dn: str, attributes: dict[str, object]) -> str:
    """One LDIF record; bytes and values that are not plain ASCII are base64-encoded."""
    lines = [_ldif_line("dn", dn)]
    for name, value in attributes.items():
        for single in value if isinstance(value, (list, tuple)) else [value]:
            lines.append(_ldif_line(name, single))
    return "\n".join(lines) + "\n\n"


def _ldif_line(name: str, value: object) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    safe = raw and raw.isascii() and raw[:1] not in (b" ", b":", b"<") and not raw.endswith(b" ") \
        and b"\n" not in raw and b"\r" not in raw and b"\0" not in raw and not isinstance(value, bytes)
    if safe:
        return f"{name}: {raw.decode('ascii')}"
    return f"{name}:: {base64.b64encode(raw).decode('ascii')}"


def slapd_ldif(base_dn: str, ou_dns: list[str], users: list[SandboxUser], rng: random.Random) -> str:
    """The whole slapd database: base, OUs, groups, a computer (excluded by the base filter), people."""
    domain_component = base_dn.split(",")[0].split("=")[1]
    parts = [ldif_entry(base_dn, {"objectClass": ["top", "dcObject", "organization"],
                                  "dc": domain_component, "o": "Sandbox"})]
    for ou_dn in ou_dns + [f"OU=Groups,{base_dn}", f"OU=Computers,{base_dn}"]:
        parts.append(ldif_entry(ou_dn, {"objectClass": ["top", "organizationalUnit"],
                                        "ou": ou_dn.split(",")[0].split("=")[1]}))
    for name in GROUPS:
        members = [user.dn for user in users if name in user.groups] or [base_dn]
        parts.append(ldif_entry(group_dn(name, base_dn), _ad_common(rng, "group") | {
            "objectClass": ["top", "group"], "cn": name, "groupType": "-2147483646", "member": members}))
    parts.append(ldif_entry(f"CN=WS0001,OU=Computers,{base_dn}", _ad_common(rng, "computer") | {
        "objectClass": ["top", "person", "organizationalPerson", "user", "computer", "extensibleObject"],
        "cn": "WS0001", "sn": "WS0001", "sAMAccountName": "WS0001$", "userAccountControl": "4096"}))
    for user in users:
        attributes = _ad_common(rng, "person") | {
            "objectClass": ["top", "person", "organizationalPerson", "user", "extensibleObject"],
            **user_attributes(user), "userAccountControl": str(user.uac), "objectGUID": user.guid,
        }
        if user.groups:
            attributes["memberOf"] = [group_dn(name, base_dn) for name in user.groups]
        parts.append(ldif_entry(user.dn, attributes))
    return "".join(parts)


def _ad_common(rng: random.Random, category: str) -> dict[str, object]:
    # objectCategory holds the short name: the sandbox schema gives it caseIgnoreMatch, standing in for
    # AD's rewrite of (objectCategory=person) to the Person class DN.
    return {"objectCategory": category, "instanceType": "4", "nTSecurityDescriptor": b"\x01\x00",
            "objectGUID": rng.randbytes(16)}
