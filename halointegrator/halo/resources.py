"""The Halo records integrations write, as entity kinds: path, list envelope, and what a list read asks for.

Halo hides inactive records from its lists unless asked (``includeinactive``), and may hide service
accounts from /Users (``includeserviceaccount``): a record missing from a list would look like one to
create, so every list read asks for every kind of record.
"""

from __future__ import annotations

from halointegrator.engine.model import EntityKind
from halointegrator.halo import list_fields

ACTIVE_AND_INACTIVE = (("includeactive", "true"), ("includeinactive", "true"))
EVERY_USER = ACTIVE_AND_INACTIVE + (("includeserviceaccount", "true"), ("includenonserviceaccount", "true"))


USER_IDENTITY = ("activedirectory_dn", "onpremise_activedirectory_dn", "azure_id", "login", "emailaddress")
ASSET_IDENTITY = ("key_field", "intune_id")  # Users_List / Device_List fields that say whom a record is


def users(identity_field: str) -> EntityKind:
    """Halo users (``/Users``), whose source identity is kept in ``identity_field``."""
    return EntityKind("user", "Users", "users", identity_field, "name", EVERY_USER, list_fields.USERS, USER_IDENTITY)


def assets(identity_field: str, *, with_fields: bool = False) -> EntityKind:
    """Halo assets (``/Asset``); ``with_fields`` asks for the asset fields a mapping compares."""
    params = ACTIVE_AND_INACTIVE + ((("includeassetfields", "true"),) if with_fields else ())
    return EntityKind("asset", "Asset", "assets", identity_field, "inventory_number", params, list_fields.ASSETS,
                      ASSET_IDENTITY)


def sites(identity_field: str) -> EntityKind:
    """Halo sites (``/Site``)."""
    return EntityKind("site", "Site", "sites", identity_field, "name", ACTIVE_AND_INACTIVE, list_fields.SITES)
