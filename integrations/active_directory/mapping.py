"""Active Directory people -> Halo Users: pure functions, no I/O (tested with tables).

An entry arrives as its DN and raw attribute values (bytes, names lower-cased); the connection record
from Halo says which OU goes to which site (``ldap_strings``) and which LDAP attribute fills which Halo
field (``mappings_user``). The objectGUID is the identity: it survives renames and moves between OUs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from halointegrator.engine.model import Wanted
from halointegrator.values import as_id, rows_of
from integrations.active_directory.dn_parse import canonical_rdns

BASE_FILTER = "(&(objectCategory=person)(objectClass=user))"
ACCOUNTDISABLE = 0x2  # userAccountControl bit (MS-ADA3 2.342, ADS_UF_ACCOUNTDISABLE)
# Halo's Users schema has no field meant for an on-premise AD GUID (azureoid is Entra's); third_party_guid
# is a free GUID slot no other integration of ours writes, so it is the default home of the objectGUID.
DEFAULT_IDENTITY_FIELD = "third_party_guid"
DN_FIELD = "activedirectory_dn"  # ownership reads it back: it must always hold the entry's DN

# Halo field -> LDAP attribute (lower-case). ``mappings_user`` replaces or extends these by Halo field.
DEFAULT_FIELD_MAP: dict[str, str] = {
    "firstname": "givenname",
    "surname": "sn",
    "name": "displayname",
    "emailaddress": "mail",
    "phonenumber": "telephonenumber",
    "mobilenumber": "mobile",
    "title": "title",
    "department": "department",
    "samaccountname": "samaccountname",
    "login": "userprincipalname",
    DN_FIELD: "distinguishedname",
}

# Text fields of the Users schema in halo-openapi/halo-api-v2.json that an LDAP attribute may fill:
# the 87 string properties, less passwords, images, names Halo derives (client_name, site_name, ...) and
# other integrations' identities. Generated with a short script over the schema, then trimmed by hand.
HALO_USER_TEXT_FIELDS = frozenset({
    "activedirectory_dn", "admanager", "container_dn", "department", "email2", "email3", "emailaddress",
    "fax", "firstname", "homenumber", "initials", "lang", "login", "manager_email", "matching_value",
    "memberof", "mobilenumber", "mobilenumber2", "name", "notes", "onpremise_activedirectory_dn",
    "other1", "other2", "other3", "other4", "other5", "phonenumber", "phonenumber_preferred",
    "samaccountname", "surname", "third_party_guid", "third_party_id", "title",
})
# Fields the mapping itself sets; a mappings_user row aimed at one is skipped with a note.
RESERVED_FIELDS = frozenset({"id", "inactive", "site_id", "client_id", DN_FIELD})
# Read for every user, whatever the field map says.
ALWAYS_READ = ("objectguid", "useraccountcontrol", "displayname", "givenname", "sn", "samaccountname")
DN_VALUED = frozenset({"memberof", "manager", "directreports"})
DEFAULT_MATCH_FIELDS = ("emailaddress",)


@dataclass(frozen=True)
class SourceEntry:
    """One directory entry: its DN and raw values by lower-case attribute name."""

    dn: str
    attributes: dict[str, list[bytes]] = field(default_factory=dict)

    def first(self, name: str) -> bytes | None:
        values = self.attributes.get(name.lower()) or []
        return values[0] if values else None


@dataclass(frozen=True)
class MappingScope:
    """One ``ldap_strings`` row: an OU (or container) read into one Halo site."""

    name: str
    dn: str
    filter: str = ""
    recursive: bool = True
    site_id: int | None = None
    client_id: int | None = None


@dataclass(frozen=True)
class FieldMap:
    """Which LDAP attribute fills which Halo field, and where the objectGUID goes."""

    fields: dict[str, str]  # Halo field -> LDAP attribute (lower-case)
    identity_field: str = DEFAULT_IDENTITY_FIELD

    def attributes(self) -> list[str]:
        """The attributes to request from the server."""
        wanted = [*ALWAYS_READ, *self.fields.values()]
        return list(dict.fromkeys(name for name in wanted if name != "distinguishedname"))


def identity_field_of(connection: dict[str, Any]) -> tuple[str, str]:
    """The Users field that holds the objectGUID, and a problem text when the record names a bad one."""
    name = str(connection.get("uactguidmappingfield") or "").strip().lower()
    if not name:
        return DEFAULT_IDENTITY_FIELD, ""
    if name not in HALO_USER_TEXT_FIELDS or name in RESERVED_FIELDS or name in DEFAULT_FIELD_MAP:
        return "", (f"The connection's objectGUID mapping field '{name}' cannot hold the GUID: choose a free "
                    f"Halo user text field such as {DEFAULT_IDENTITY_FIELD} (or leave it blank for that).")
    return name, ""


def build_field_map(mappings_user: Iterable[dict] | None, identity_field: str) -> tuple[FieldMap, list[str]]:
    """The defaults overridden/extended by Halo's ``mappings_user`` rows; notes say what was skipped."""
    fields, notes = dict(DEFAULT_FIELD_MAP), []
    for row in rows_of(mappings_user):
        ldap_field = str(row.get("ldap_field") or "").strip().lower()
        halo_field = str(row.get("nhd_field") or "").strip().lower()
        if not ldap_field or not halo_field:
            continue
        if halo_field in RESERVED_FIELDS or halo_field == identity_field:
            notes.append(f"Field mapping {ldap_field} -> {halo_field} skipped: the Integrator sets {halo_field} itself.")
        elif halo_field not in HALO_USER_TEXT_FIELDS:
            notes.append(f"Field mapping {ldap_field} -> {halo_field} skipped: {halo_field} is not a Halo user "
                         f"text field this Integrator can fill.")
        elif not re.fullmatch(r"[a-z][a-z0-9-]*", ldap_field):
            notes.append(f"Field mapping {ldap_field} -> {halo_field} skipped: '{ldap_field}' is not an LDAP attribute name.")
        else:
            fields[halo_field] = ldap_field
    return FieldMap(fields, identity_field), notes


def parse_mappings(connection: dict[str, Any]) -> tuple[list[MappingScope], list[str]]:
    """The user OU mappings of a connection, in Halo's order; agent and CAB mappings are left out."""
    scopes, notes = [], []
    for row in rows_of(connection.get("ldap_strings")):
        name = str(row.get("name") or row.get("dn") or "").strip()
        dn = str(row.get("dn") or "").strip()
        if row.get("agentmapping") or row.get("cabmapping"):
            notes.append(f"Mapping {name} skipped: agent and CAB mappings are not imported by this Integrator.")
        elif not dn:
            notes.append(f"Mapping {name or row.get('id')} skipped: it has no DN.")
        elif not as_id(row.get("site_id")):
            notes.append(f"Mapping {name} skipped: it has no site; choose a site for it in Halo.")
        else:
            scopes.append(MappingScope(
                name=name, dn=dn, filter=str(row.get("filter") or "").strip(),
                recursive=row.get("isrecursive") is not False,
                site_id=as_id(row.get("site_id")), client_id=as_id(row.get("client_id"))))
    return scopes, notes


def parse_match_fields(text: Any) -> tuple[tuple[str, ...], list[str]]:
    """``user_matching_fields`` as Halo user fields (comma/semicolon separated); blank = email address."""
    names = [part.strip().lower() for part in re.split(r"[,;\s]+", str(text or "")) if part.strip()]
    if not names:
        return DEFAULT_MATCH_FIELDS, []
    known = tuple(name for name in names if name in HALO_USER_TEXT_FIELDS)
    notes = [f"User matching field '{name}' ignored: not a Halo user text field." for name in names
             if name not in HALO_USER_TEXT_FIELDS]
    return known or DEFAULT_MATCH_FIELDS, notes


def search_filter(mapping_filter: str = "") -> str:
    """People (enabled and disabled), narrowed by the mapping's own filter when it has one."""
    extra = (mapping_filter or "").strip()
    if not extra:
        return BASE_FILTER
    if not extra.startswith("("):
        extra = f"({extra})"  # Halo's form takes "department=IT" as readily as "(department=IT)"
    return f"(&{BASE_FILTER}{extra})"


def equality_filter(attribute: str, value: str) -> str:
    """People whose ``attribute`` equals ``value`` exactly: the value is escaped, never interpreted."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", attribute):
        raise ValueError(f"not an LDAP attribute name: {attribute!r}")
    return f"(&{BASE_FILTER}({attribute}={escape_filter_chars(value)}))"


def guid_text(raw: bytes | None) -> str:
    """AD's objectGUID (16 bytes, first three fields little-endian) as the usual GUID string."""
    if not raw or len(raw) != 16:
        return ""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def is_disabled(raw_uac: bytes | str | int | None) -> bool:
    """Whether userAccountControl has ACCOUNTDISABLE set; a missing or garbled value counts as enabled."""
    try:
        value = int(raw_uac.decode("ascii") if isinstance(raw_uac, bytes) else raw_uac)
    except (TypeError, ValueError, UnicodeDecodeError):
        return False
    return bool(value & ACCOUNTDISABLE)


def text_values(name: str, values: Sequence[bytes]) -> str:
    """An attribute's values as one Halo text: DN-valued ones by their first RDN value, many joined by '; '."""
    texts = [_decode(value) for value in values]
    if name in DN_VALUED:
        texts = [first_rdn_value(text) for text in texts]
    return "; ".join(text for text in texts if text)


def first_rdn_value(dn: str) -> str:
    try:
        return parse_dn(dn)[0][1].replace("\\,", ",")
    except (LDAPInvalidDnError, IndexError):
        return dn


def _decode(value: bytes) -> str:
    try:
        return bytes(value).decode("utf-8").strip()
    except UnicodeDecodeError:
        return bytes(value).hex()  # a binary attribute mapped to a text field: its bytes, readably


def to_wanted(entry: SourceEntry, scope: MappingScope, field_map: FieldMap) -> Wanted | None:
    """The Halo user an AD person should be, or None when the entry has no usable objectGUID."""
    guid = guid_text(entry.first("objectguid"))
    if not guid:
        return None
    fields: dict[str, Any] = {}
    for halo_field, attribute in field_map.fields.items():
        fields[halo_field] = entry.dn if attribute == "distinguishedname" else \
            text_values(attribute, entry.attributes.get(attribute, []))
    fields["name"] = fields.get("name") or _fallback_name(entry)
    fields[DN_FIELD] = entry.dn
    fields[field_map.identity_field] = guid
    fields["inactive"] = is_disabled(entry.first("useraccountcontrol"))
    fields["site_id"] = scope.site_id
    if scope.client_id:
        fields["client_id"] = scope.client_id
    label = fields["name"] + (f" ({fields['emailaddress']})" if fields.get("emailaddress") else "")
    return Wanted(key=guid, label=label, fields=fields, scope=scope.dn)


def _fallback_name(entry: SourceEntry) -> str:
    given = text_values("givenname", entry.attributes.get("givenname", []))
    surname = text_values("sn", entry.attributes.get("sn", []))
    joined = f"{given} {surname}".strip()
    return joined or text_values("samaccountname", entry.attributes.get("samaccountname", [])) or entry.dn


class UserMapper:
    """Maps entries to Wanted users as they are read, page by page, so no raw entry outlives its page.

    Pure (no I/O): ``add`` takes one page of one mapping; a person under two mappings goes to the first,
    once. ``read`` counts the entries read per mapping DN (people without a GUID included).
    """

    def __init__(self, field_map: FieldMap) -> None:
        self.field_map = field_map
        self.wanted: list[Wanted] = []
        self.notes: list[str] = []
        self.read: dict[str, int] = {}
        self._seen: set[str] = set()

    def add(self, scope: MappingScope, entries: Iterable[SourceEntry]) -> None:
        count = self.read.get(scope.dn, 0)
        for entry in entries:
            count += 1
            record = to_wanted(entry, scope, self.field_map)
            if record is None:
                self.notes.append(f"Skipped {entry.dn}: it has no objectGUID (is it an AD user?).")
            elif record.key not in self._seen:
                self._seen.add(record.key)
                self.wanted.append(record)
        self.read[scope.dn] = count


def map_users(reads: Iterable[tuple[MappingScope, Iterable[SourceEntry]]],
              field_map: FieldMap) -> tuple[list[Wanted], list[str]]:
    """Every person of every mapping as a Wanted user; one under two mappings goes to the first, once."""
    mapper = UserMapper(field_map)
    for scope, entries in reads:
        mapper.add(scope, entries)
    return mapper.wanted, mapper.notes


# ---- DNs as Active Directory compares them ---------------------------------------------------------
# One canonical form (RFC 4514 parsing): attribute types and values compared case-insensitively, as AD
# compares its DNs; escapes undone before comparing, so "OU=Sales\, EMEA" and "OU=Sales\2C EMEA" are the
# same OU; a multi-valued RDN ("CN=A+SN=B") is one RDN whatever the order of its parts; spaces around
# separators and unescaped leading or trailing spaces of a value do not count. Text that is not a DN is
# one opaque component: it is never "within" a mapped OU, so a garbled DN in Halo owns nobody.

def dn_key(dn: Any) -> tuple[str, ...]:
    """A DN as DNs are compared: one canonical ``type=value`` per RDN (parts of a multi-valued RDN sorted and
    joined by '+'), the root last. Text that is not a DN is one component: the text, lower-cased."""
    text = str(dn or "").strip()
    if not text:
        return ()
    found = canonical_rdns(text)
    return tuple(found) if found is not None else (" ".join(text.lower().split()),)


def normalize_dn(dn: Any) -> str:
    """A DN in the one form DNs are compared in (see ``dn_key``)."""
    return ",".join(dn_key(dn))


def _key_within(entry: tuple[str, ...], base: tuple[str, ...]) -> bool:
    return bool(entry and base) and len(entry) >= len(base) and entry[len(entry) - len(base):] == base


def scope_finder(scopes: Sequence[MappingScope]) -> Callable[[Any], str]:
    """The scope of a DN: the most specific mapping DN that holds it (the first of equals; a DN is within
    a base when it is the base or below it, case-insensitive, on RDN boundaries), or '' when none does.
    Each mapping DN is normalised once, each DN text once (remembered)."""
    bases = sorted(((dn_key(scope.dn), scope.dn) for scope in scopes), key=lambda base: -len(base[0]))
    found: dict[str, str] = {}

    def scope_of(dn: Any) -> str:
        text = dn if isinstance(dn, str) else str(dn or "")
        if text not in found:
            key = dn_key(text)
            found[text] = next((name for base, name in bases if _key_within(key, base)), "")
        return found[text]

    return scope_of


def claim_finder(scopes: Sequence[MappingScope]) -> Callable[[Any], bool]:
    """Whether a DN lies where a mapping reads every person: under a recursive mapping, or directly
    in a non-recursive one. A mapping with a filter reads only some people, and a Halo record cannot be
    tested against an LDAP filter, so it claims nobody."""
    bases = [(dn_key(scope.dn), scope.recursive) for scope in scopes if not scope.filter]

    def claimed(dn: Any) -> bool:
        key = dn_key(dn)
        return any(_key_within(key, base) if recursive else (len(key) == len(base) + 1 and key[1:] == base)
                   for base, recursive in bases)

    return claimed
