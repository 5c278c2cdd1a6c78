"""Pure mapping of Microsoft Graph users and Intune managed devices to Halo ``Wanted`` records.

Nothing here does I/O: a Halo connection record (``AzureADConnection``) is turned into a
``UserMapping`` / ``DeviceMapping`` once, and each Graph object is mapped with a plain function.
Tested with tables in tests/test_entra_mapping.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from halointegrator.engine.model import Wanted
from halointegrator.values import as_bool, as_id, as_int, rows_of, text_of

# Graph user property -> Halo Users field, always applied; `mappings_user` adds to or overrides it.
DEFAULT_USER_FIELDS: tuple[tuple[str, str], ...] = (
    ("displayName", "name"),
    ("givenName", "firstname"),
    ("surname", "surname"),
    ("mail", "emailaddress"),  # falls back to userPrincipalName, see graph_user_value
    ("userPrincipalName", "login"),
    ("jobTitle", "title"),
    ("department", "department"),
    ("mobilePhone", "mobilenumber"),
    ("businessPhones", "phonenumber"),  # the first number
)

# Properties of the v1.0 user resource that may be named in $select (a name Graph does not know makes
# the whole listing fail with 400, so a mapping naming anything else is skipped with a note).
GRAPH_USER_PROPERTIES = frozenset({
    "id", "accountEnabled", "ageGroup", "businessPhones", "city", "companyName", "country",
    "createdDateTime", "department", "displayName", "employeeHireDate", "employeeId", "employeeType",
    "externalUserState", "faxNumber", "givenName", "jobTitle", "mail", "mailNickname", "mobilePhone",
    "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesImmutableId",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "otherMails", "postalCode", "preferredLanguage", "proxyAddresses",
    "state", "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
})
EXTENSION_ATTRIBUTES = frozenset(f"extensionAttribute{n}" for n in range(1, 16))  # onPremisesExtensionAttributes

# Halo Users fields (string fields of the Users schema) a directory attribute may be mapped to.
HALO_USER_FIELDS = frozenset({
    "name", "firstname", "surname", "initials", "title", "emailaddress", "email2", "email3", "login",
    "phonenumber", "homenumber", "mobilenumber", "mobilenumber2", "fax", "department", "notes",
    "other1", "other2", "other3", "other4", "other5", "samaccountname", "third_party_id",
    "matching_value", "manager_email", "azure_id", "azure_tenant_domain", "activedirectory_dn",
    "onpremise_activedirectory_dn",
})

# Always selected: identity, state, and what the defaults and the site mapping need.
BASE_USER_SELECT = ("id", "accountEnabled", "displayName", "mail", "userPrincipalName")

GRAPH_DEVICE_PROPERTIES = frozenset({
    "id", "deviceName", "userPrincipalName", "userId", "userDisplayName", "emailAddress",
    "operatingSystem", "osVersion", "model", "manufacturer", "serialNumber", "imei", "meid",
    "wiFiMacAddress", "ethernetMacAddress", "phoneNumber", "azureADDeviceId", "managedDeviceOwnerType",
    "complianceState", "managementAgent", "enrolledDateTime", "lastSyncDateTime", "isEncrypted",
    "totalStorageSpaceInBytes", "physicalMemoryInBytes",
})
# Graph's metadata says a list read of managedDevices answers these with a default (null / 0) whatever the
# device holds; only GET /deviceManagement/managedDevices/{id}?$select=... returns the value (see
# sandbox/graph_subset.json, list_default). The device import reads lists, and reading every device by
# id would cost one Graph request per device per run (thousands, against Graph's throttling), so a
# mapping of either is refused with a note instead of writing nothing on every run.
SINGLE_DEVICE_READ_ONLY = frozenset({"ethernetMacAddress", "physicalMemoryInBytes"})
MSSENSE_AGENT = "mssense"  # managementAgent of devices managed by Defender for Endpoint, folded
OS_WITH_VERSION = "operatingSystemWithVersion"  # a derived name a device mapping may use: "Windows 10.0.19045"
BASE_DEVICE_SELECT = ("id", "deviceName", "serialNumber", "userId", "userPrincipalName", "operatingSystem",
                      "osVersion", "model", "manufacturer", "lastSyncDateTime")
# Serial numbers firmware reports when it has none: never a key.
PLACEHOLDER_SERIALS = frozenset({"", "0", "none", "n/a", "default string", "system serial number",
                                 "to be filled by o.e.m.", "0123456789"})


@dataclass(frozen=True)
class SiteRule:
    """Members of an Entra group go to a Halo site (first matching rule wins)."""

    group_name: str
    site_id: int


@dataclass(frozen=True)
class UserMapping:
    connection_id: int
    tenant_id: str
    field_map: tuple[tuple[str, str], ...]  # (Graph property, Halo field), later pairs win
    site_rules: tuple[SiteRule, ...]
    unmatched_site: int | None  # site for users in no mapped group; None: skip them
    deactivate_disabled: bool
    notes: tuple[str, ...] = ()

    @property
    def select(self) -> tuple[str, ...]:
        """The $select list: every Graph property the mapping reads, each once."""
        wanted = list(BASE_USER_SELECT)
        for prop, _ in self.field_map:
            graph_name = "onPremisesExtensionAttributes" if prop in EXTENSION_ATTRIBUTES else prop
            if graph_name not in wanted:
                wanted.append(graph_name)
        return tuple(wanted)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.group_name for rule in self.site_rules))


@dataclass(frozen=True)
class DeviceMapping:
    connection_id: int
    assettype_id: int
    default_site: int | None
    field_map: tuple[tuple[str, int], ...]  # (Graph property, Halo asset field id)
    notes: tuple[str, ...] = ()
    exclude_mssense: bool = False  # Halo's exclude_mssense_devices

    @property
    def select(self) -> tuple[str, ...]:
        wanted = list(BASE_DEVICE_SELECT) + (["managementAgent"] if self.exclude_mssense else [])
        for prop, _ in self.field_map:
            if prop != OS_WITH_VERSION and prop not in wanted:
                wanted.append(prop)
        return tuple(wanted)


@dataclass
class Memberships:
    """Which user ids are in each mapped group (by group name, case-insensitive)."""

    by_group: dict[str, frozenset[str]] = field(default_factory=dict)

    def members(self, group_name: str) -> frozenset[str]:
        return self.by_group.get(group_name.casefold(), frozenset())


def _known_graph_user_property(name: str) -> str | None:
    for known in GRAPH_USER_PROPERTIES | EXTENSION_ATTRIBUTES:
        if known.casefold() == name.casefold():
            return known
    return None


def user_mapping_from(connection: Mapping[str, Any]) -> UserMapping:
    """Read the user side of an AzureADConnection record (with details)."""
    field_map = list(DEFAULT_USER_FIELDS)
    notes = []
    for row in rows_of(connection.get("mappings_user")):
        source, target = text_of(row.get("thirdpartyname")), text_of(row.get("name"))
        prop = _known_graph_user_property(source)
        if not prop:
            notes.append(f"User mapping skipped: '{source}' is not a Microsoft Graph user property")
        elif target.lower() not in HALO_USER_FIELDS:
            notes.append(f"User mapping skipped: '{target}' is not a Halo user field this import can set")
        else:
            field_map.append((prop, target.lower()))
    rules = tuple(
        SiteRule(text_of(row.get("group_name")), site)
        for row in sorted(rows_of(connection.get("mappings_site")), key=lambda r: as_int(r.get("sequenceid")) or 0)
        if text_of(row.get("group_name"))
        and (site := as_id(row.get("siteid")) or as_id(row.get("default_site_id")))
    )
    unmatched = as_id(connection.get("unmatchedusersite")) if connection.get("createunmatchedusers") else None
    return UserMapping(
        connection_id=int(connection["id"]),
        tenant_id=str(connection.get("directoryid") or ""),
        field_map=tuple(field_map),
        site_rules=rules,
        unmatched_site=unmatched,
        deactivate_disabled=bool(connection.get("deactivate_users")),
        notes=tuple(notes),
    )


def graph_user_value(user: Mapping[str, Any], prop: str) -> Any:
    """One property of a Graph user as Halo should hold it (strings; '' for nothing)."""
    if prop in EXTENSION_ATTRIBUTES:
        extensions = user.get("onPremisesExtensionAttributes")
        value = extensions.get(prop) if isinstance(extensions, dict) else None
    elif prop == "mail":
        value = user.get("mail") or user.get("userPrincipalName")
    else:
        value = user.get(prop)
    if isinstance(value, list):  # businessPhones, otherMails, proxyAddresses: the first
        value = value[0] if value else None
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def site_for_user(user_id: str, memberships: Memberships, mapping: UserMapping) -> int | None:
    """The site of the first rule whose group holds the user, else the unmatched-users site."""
    for rule in mapping.site_rules:
        if user_id in memberships.members(rule.group_name):
            return rule.site_id
    return mapping.unmatched_site


def user_fields(user: Mapping[str, Any], mapping: UserMapping) -> dict[str, Any]:
    """The Halo fields the Graph user's own properties give (no site, no identity)."""
    fields = {target: graph_user_value(user, prop) for prop, target in mapping.field_map}
    disabled = user.get("accountEnabled") is False
    if mapping.deactivate_disabled:  # else Entra leaves the flag alone (AD, or a person, may have set it)
        fields["inactive"] = disabled
    return fields


def unsent_fields(user: Mapping[str, Any], mapping: UserMapping) -> set[str]:
    """Halo fields a Graph delta item gives no value for: an updated user comes with its id and "at least"
    the changed properties, so a property it lacks says nothing and must not blank the Halo field."""
    source_of = {target: prop for prop, target in mapping.field_map}  # later pairs win, as in user_fields
    unsent = set()
    for target, prop in source_of.items():
        graph_name = "onPremisesExtensionAttributes" if prop in EXTENSION_ATTRIBUTES else prop
        if graph_name not in user or (prop == "mail" and not user.get("mail") and "userPrincipalName" not in user):
            unsent.add(target)
    if "accountEnabled" not in user:
        unsent.add("inactive")
    return unsent


def user_identity(user_id: str, mapping: UserMapping) -> dict[str, Any]:
    """The fields that say which Entra user and connection a Halo user is. azureoid is Halo's field for
    the object id, but /Users list items do not carry it; azure_id does (Users_List), so it is written too."""
    identity: dict[str, Any] = {"azureoid": user_id, "azure_id": user_id, "azure_connectionid": mapping.connection_id}
    if mapping.tenant_id:
        identity["azure_tenant_id"] = mapping.tenant_id
    return identity


def map_user(user: Mapping[str, Any], mapping: UserMapping, site_id: int) -> Wanted:
    """A Graph user (with the site it maps to) as the Halo user it should be."""
    fields = user_fields(user, mapping)
    fields.update(user_identity(user["id"], mapping))
    fields["site_id"] = site_id
    label = fields.get("name") or user.get("userPrincipalName") or user["id"]
    email = fields.get("emailaddress")
    return Wanted(key=user["id"], label=f"{label} ({email})" if email else label, fields=fields,
                  scope=site_scope(site_id))


def site_scope(site_id: Any) -> str:
    """The scope name shared by wanted users and existing Halo users: their site."""
    site = as_id(site_id)
    return f"site {site}" if site else ""


def map_users(users: Iterable[Mapping[str, Any]], memberships: Memberships,
              mapping: UserMapping) -> tuple[list[Wanted], int]:
    """Every Graph user in scope as a Wanted record; returns (wanted, skipped count)."""
    wanted, skipped = [], 0
    for user in users:
        site = site_for_user(user["id"], memberships, mapping)
        if site is None:
            skipped += 1
        else:
            wanted.append(map_user(user, mapping, site))
    return wanted, skipped


def matching_fields(connection: Mapping[str, Any]) -> tuple[str, ...]:
    """Halo fields that link an existing, unowned Halo user to a Graph user (once)."""
    words = str(connection.get("user_matching_fields") or "").replace(";", ",").lower().split(",")
    words += [str(pair.get("value") or pair.get("label") or "").lower()
              for pair in rows_of(connection.get("user_matching_list"))]
    fields = []
    for word in (w.strip() for w in words if w.strip()):
        if "mail" in word:
            fields.append("emailaddress")
        elif "upn" in word or "principal" in word or "login" in word:
            fields.append("login")
    return tuple(dict.fromkeys(fields)) or ("emailaddress",)


def device_mapping_from(connection: Mapping[str, Any]) -> DeviceMapping:
    """Read the Intune side of an AzureADConnection record (with details)."""
    field_map, notes = [], []
    known = {name.casefold(): name for name in GRAPH_DEVICE_PROPERTIES | {OS_WITH_VERSION}}
    for row in rows_of(connection.get("mappings_device")):
        source = text_of(row.get("thirdpartyname"))
        field_id = as_id(row.get("fiid"))
        if source.casefold() not in known:
            notes.append(f"Device mapping skipped: '{source}' is not an Intune managed device property")
        elif known[source.casefold()] in SINGLE_DEVICE_READ_ONLY:
            notes.append(f"Device mapping skipped: Microsoft Graph returns '{known[source.casefold()]}' only when "
                         "one device is read by id (a device listing gives null or 0 for it), so it would always "
                         "write nothing; reading every device by id would cost one Graph request per device per run")
        elif not field_id:
            notes.append(f"Device mapping skipped: '{source}' has no Halo asset field chosen")
        else:
            field_map.append((known[source.casefold()], field_id))
    exclude_mssense = as_bool(connection.get("exclude_mssense_devices")) is True
    first_rule_default = next((as_id(row.get("default_site_id")) for row in rows_of(connection.get("mappings_site"))
                               if as_id(row.get("default_site_id"))), None)
    return DeviceMapping(
        connection_id=int(connection["id"]),
        assettype_id=as_id(connection.get("default_assettype")) or 0,
        default_site=as_id(connection.get("defaultsite")) or first_rule_default,
        field_map=tuple(field_map),
        notes=tuple(notes) + ((MSSENSE_NOTE,) if exclude_mssense else ()),
        exclude_mssense=exclude_mssense,
    )


MSSENSE_NOTE = ("Devices managed by Microsoft Defender for Endpoint (managementAgent msSense) are not imported: "
                "the connection's exclude_mssense_devices is set")


def excluded_device(device: Mapping[str, Any], mapping: DeviceMapping) -> bool:
    """A device the connection leaves out: Defender-managed (msSense) when exclude_mssense_devices is set."""
    agent = device.get("managementAgent")
    return mapping.exclude_mssense and isinstance(agent, str) and agent.casefold() == MSSENSE_AGENT


def graph_device_value(device: Mapping[str, Any], prop: str) -> str:
    if prop == OS_WITH_VERSION:
        parts = (device.get("operatingSystem"), device.get("osVersion"))
        return " ".join(str(part) for part in parts if part)
    value = device.get(prop)
    return "" if value is None else str(value)


def usable_serial(serial: Any) -> str:
    text = str(serial or "").strip()
    return "" if text.casefold() in PLACEHOLDER_SERIALS else text


def primary_user(device: Mapping[str, Any]) -> str:
    """The id of the device's primary user, "" when it has none."""
    user_id = device.get("userId")
    return user_id if isinstance(user_id, str) else ""


def map_device(device: Mapping[str, Any], mapping: DeviceMapping, site_id: int) -> Wanted:
    """An Intune managed device as the Halo asset it should be."""
    name = device.get("deviceName") or device["id"]
    fields: dict[str, Any] = {
        "intune_id": device["id"],
        "intune_connectionid": mapping.connection_id,
        "assettype_id": mapping.assettype_id,
        "inventory_number": name,
        "site_id": site_id,
    }
    serial = usable_serial(device.get("serialNumber"))
    if serial:
        fields["key_field"] = serial
    if primary_user(device):
        fields["azure_userid"] = primary_user(device)
    if mapping.field_map:
        fields["fields"] = sorted(
            ({"id": field_id, "value": graph_device_value(device, prop)} for prop, field_id in mapping.field_map),
            key=lambda item: item["id"])
    return Wanted(key=device["id"], label=f"{name} ({serial})" if serial else name, fields=fields)


def map_devices(devices: Iterable[Mapping[str, Any]], site_of_user: Mapping[str, int | None],
                mapping: DeviceMapping) -> tuple[list[Wanted], int]:
    """Every managed device as a Wanted asset at its primary user's site (else the default site)."""
    wanted, skipped = [], 0
    for device in devices:
        site = site_of_user.get(primary_user(device)) or mapping.default_site
        if site is None:
            skipped += 1
        else:
            wanted.append(map_device(device, mapping, site))
    return wanted, skipped

