"""The Halo field names the SQL integrations read from the Control record and write into assets and users,
and text_of, which reads a text setting Halo may send as a number. An SQLImport's fields are read by name in settings.py.
Tests check every name here, and every SQLImport field the settings read, against the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

# --- where the connections are, and where Last Sync / Last Error go back --------------------------
CONTROL_PATH = "Control"  # GET /Control: one object; POST /Control takes [{"id": ..., field: value}]
SQL_IMPORT_PATH = "SQLImport"  # GET /SQLImport?integratorenabled=true: a bare array; /SQLImport/{id}
SQL_IMPORT_LIST_PARAMS = {"integratorenabled": "true"}
SQL_IMPORT_DETAIL_PARAMS = {"includedetails": "true"}

# Control fields of the two Control-held sources: {meaning: (lansweeper field, sccm field)}.
CONTROL_FIELDS: dict[str, tuple[str | None, str | None]] = {
    "enabled": ("halointegrator_lansweeper", "halointegrator_sccm"),
    "lastsync": ("halointegrator_lansweeper_lastsync", "halointegrator_sccm_lastsync"),
    "lasterror": ("halointegrator_lansweeper_lasterror", "halointegrator_sccm_lasterror"),
    "allowed": ("lansweeper_allowed_clientids_list", "sccm_allowed_clientids_list"),
    "server": ("lansweeper_sqlserver", "sccm_sqlserver"),
    "database": ("lansweeper_sqldatabase", "sccm_sqldatabase"),
    "user": ("lansweeper_sqlusername", "sccm_sqlusername"),
    "password": ("lansweeper_new_sql_password", "sccm_new_sql_password"),
    "driver": ("lansweeper_sqldriver", "sccm_sqldriver"),
    "provider": ("lansweeper_sqlprovider", "sccm_sqlprovider"),
    "port": ("lansweeper_sql_port", "sccm_sql_port"),
    "timeout": ("lansweeper_sql_timeout", "sccm_sql_timeout"),
    "udl": (None, "sccm_udl"),  # the document gives Lansweeper no UDL field
    "query": ("lansweeper_query", "sccm_query"),
    "idfield": ("lansweeper_idfield", "sccm_idfield"),
    "typefield": ("lansweeper_typefield", "sccm_typefield"),
    "sitefield": ("lansweeper_sitefield", "sccm_sitefield"),
    "userfield": ("lansweeper_userfield", "sccm_userfield"),
    "usermatchingfield": ("lansweeper_usermatchingfield", "sccm_usermatchingfield"),
    "assetimportidentifier": ("lansweeper_assetimportidentifier", "sccm_assetimportidentifier"),
    "defaultsite": ("lansweeper_defaultsite", "sccm_defaultsite"),
    "fieldmappings": ("lansweeper_fieldmappings", "sccm_fieldmappings"),
    "default_assettype": ("lansweeper_default_assettype", None),  # SCCM: a local setting instead
    "type_rules": ("lansweeper_mappings_xtype", None),
    "site_rules": ("lansweeper_site_rules", None),
    "override_site_rules": ("lansweeper_override_site_rules", None),
}
# Flags Halo spells twice for Lansweeper (both exist in the document): either one set means set.
CONTROL_FLAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "updateonly": (("lansweeper_updateonly", "lansweeper_update_asset_only"), ("sccm_updateonly",)),
    "dontupdatesite": (("lansweeper_dontupdatesite", "lansweeper_dont_update_site"), ("sccm_dontupdatesite",)),
    "dontremoveusers": (("lansweeper_dontremoveusers", "lansweeper_dont_remove_users"), ("sccm_dontremoveusers",)),
    "useuserssite": (("lansweeper_userssite", "lansweeper_use_users_site"), ("sccm_userssite",)),
    "dontupdatetype": (("lansweeper_dont_update_asset_type",), ()),
}
# What tells the Lansweeper kinds apart (see settings.lansweeper_kind): SQL details vs the cloud API's.
LANSWEEPER_CLOUD_FIELDS = ("lansweeper_authorized", "lansweeper_sitemappings", "lansweeper_exports",
                           "lansweeper_fieldmappings_api")
LANSWEEPER_KIND_FIELDS = ("lansweeper_instance_type", "lansweeper_databasetype")
GLOBAL_ASSET_IDENTIFIER = "assetimportidentifier"  # Control: used when the source names none

# --- what the mapping writes ---------------------------------------------------------------------
# Plain Device (asset) fields a field mapping may name (nhdname); identity slots are in the Device_List.
ASSET_FIELDS = frozenset({
    "inventory_number", "key_field", "key_field2", "key_field3", "notes", "warranty_start", "warranty_end",
    "warranty_note", "supplier_purchasedate", "supplier_reference", "supplier_expirydate", "contract_ref",
    "username", "phone_number", "use", "ethernetMacAddress", "physicalMemoryInBytes",
})
# Users fields a users import may write; identity fields are the ones a Users_List item carries.
USER_FIELDS = frozenset({
    "name", "firstname", "surname", "initials", "title", "emailaddress", "email2", "email3", "phonenumber",
    "phonenumber_preferred", "homenumber", "mobilenumber", "mobilenumber2", "fax", "login", "notes",
    "other1", "other2", "other3", "other4", "other5", "department",
})
USER_IDENTITY_FIELDS = ("emailaddress", "login", "other1", "other2", "other3", "other4", "other5", "name")
# Halo Users fields a usermatchingfield may name, and the words Halo's screens may use for them.
USER_MATCH_ALIASES = {
    "emailaddress": "emailaddress", "email": "emailaddress", "e-mail": "emailaddress", "mail": "emailaddress",
    "email address": "emailaddress", "login": "login", "username": "login", "user name": "login",
    "samaccountname": "login", "name": "name", "displayname": "name", "display name": "name",
    "other1": "other1", "other2": "other2", "other3": "other3", "other4": "other4", "other5": "other5",
    "activedirectory_dn": "activedirectory_dn",
}
# Mapping targets with a meaning beyond a plain field (SQL imports have no type/site/user columns).
ASSET_TYPE_TARGETS = {"assettype_name": "name", "assettype_id": "id"}
SITE_TARGETS = {"site_name": "name", "site_id": "id"}
USER_TARGETS = {"user_email": "emailaddress"}


def text_of(value: Any) -> str:
    """A text setting of an SQL import record, where Halo may send a number (a port: 1433) for text."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()
