"""Reading Active Directory for one connection: every mapped OU completely, as Wanted Halo users.

The source's rules for finding its users in Halo's lean /Users list: the objectGUID lives in the
connection's GUID field (default third_party_guid), which the list does not show; the DN
(activedirectory_dn) does show, and names the user the directory means. So a user is recognised by
its DN (compared in canonical form) when the sync status does not know it, matched on the
connection's matching fields (and the login) when no import owns it, and a Halo user with a DN under
a mapped OU that the status does not know is read in full to see whether it carries a GUID.
"""

from __future__ import annotations

from typing import Any

from halointegrator.engine.context import RunContext
from halointegrator.engine.model import Identity, KindRead, SourceRead
from halointegrator.errors import SourceError
from halointegrator.halo.resources import users
from halointegrator.values import identity_key
from integrations.active_directory import directory
from integrations.active_directory.directory import LdapSettings
from integrations.active_directory.mapping import (
    DN_FIELD, FieldMap, MappingScope, UserMapper, build_field_map, claim_finder, identity_field_of, normalize_dn,
    parse_mappings, parse_match_fields, scope_finder, search_filter,
)


def read(ctx: RunContext, connection: dict[str, Any]) -> SourceRead:
    """Read AD completely and map it; raises SourceError on any failure, before anything is written."""
    settings = directory.settings_from(connection, ctx.local_settings)
    directory.approve_endpoint(ctx, settings)
    scopes, field_map, match_fields, notes = configuration(connection)
    mapper = _read_directory(ctx, settings, scopes, field_map)
    kind = users(field_map.identity_field)
    empty = frozenset(scope.dn for scope in scopes if not mapper.read.get(scope.dn))
    identity = user_identity(field_map.identity_field, scopes, match_fields)
    return SourceRead([KindRead(kind, mapper.wanted, identity, empty_scopes=empty,
                                notes=tuple(notes + mapper.notes))])


def configuration(connection: dict[str, Any]) -> tuple[list[MappingScope], FieldMap, tuple[str, ...], list[str]]:
    identity, problem = identity_field_of(connection)
    if problem:
        raise SourceError(problem)
    scopes, notes = parse_mappings(connection)
    if not scopes:
        raise SourceError("The connection has no usable OU mapping (each needs a DN and a site): add one in Halo.")
    field_map, field_notes = build_field_map(connection.get("mappings_user"), identity)
    match_fields, match_notes = parse_match_fields(connection.get("user_matching_fields"))
    return scopes, field_map, match_fields, notes + field_notes + match_notes


def user_identity(identity_field: str, scopes: list[MappingScope], match_fields: tuple[str, ...]) -> Identity:
    """How this connection's users are found in Halo's lean lists (see the module's docstring)."""
    find_scope = scope_finder(scopes)  # remembers each DN it has placed: the core asks for every Halo user
    claimed = claim_finder(scopes)

    def owns(record: dict) -> bool | None:
        if identity_field not in record:
            return None  # a lean list item: only a whole read shows the GUID
        return bool(identity_key(record.get(identity_field))) and claimed(record.get(DN_FIELD))

    return Identity(
        recognise=(DN_FIELD,),
        match=tuple(dict.fromkeys((*match_fields, "login"))),
        hints=(DN_FIELD,),  # a Halo user without a DN came from no directory: it carries no GUID
        claims=lambda record: claimed(record.get(DN_FIELD)),
        owns=owns,
        compare=_compare,
        scope_of=lambda record: find_scope(record.get(DN_FIELD)),
    )


def _compare(field_name: str, value: Any) -> str:
    return normalize_dn(value) if field_name == DN_FIELD else identity_key(value)


def _read_directory(ctx: RunContext, settings: LdapSettings, scopes: list[MappingScope],
                    field_map: FieldMap) -> UserMapper:
    """Every mapping, completely, mapped page by page; raises SourceError on any failure.

    Each page becomes Wanted users as it arrives and its raw entries are let go: at 50,000 people the
    raw entries would be about 130 MB more.
    """
    if settings.plain:
        ctx.log.warning("Active Directory: %s uses plain LDAP (allow_plain_ldap): the bind password crosses the "
                        "network unencrypted. Use LDAPS or StartTLS.", settings.address())
    mapper = UserMapper(field_map)
    conn = directory.open_bound(settings)
    try:
        for number, scope in enumerate(scopes, start=1):
            ctx.progress(f"Reading {scope.name}", number - 1, len(scopes))
            before = mapper.read.get(scope.dn, 0)
            for page in directory.search_pages(
                    conn, scope.dn, search_filter(scope.filter), recursive=scope.recursive,
                    attributes=field_map.attributes(), page_size=settings.page_size, cancel=ctx.cancel):
                mapper.add(scope, page)
            ctx.log.info("Active Directory: read %d user(s) from %s", mapper.read.get(scope.dn, 0) - before, scope.dn)
    finally:
        directory.close(conn)
    return mapper

