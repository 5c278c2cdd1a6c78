"""On-premise Active Directory over LDAP: people in mapped OUs become Halo users of the OU's site.

Halo's LDAPConnection record says where the domain controller is, which account binds, which OU goes
to which site (``ldap_strings``) and which attribute fills which field (``mappings_user``). A sync reads
every mapping completely (paged), maps the people (integrations/ad_mapping.py), reads Halo's users,
plans and applies. Disabled accounts (userAccountControl 0x2) become inactive users; people who left
the mapped OUs are deactivated (never deleted), guarded by the engine's policy.
"""

from __future__ import annotations

from typing import Any, Callable

from halointegrator import engine
from halointegrator.engine.context import RunContext
from halointegrator.errors import IntegratorError, SourceError
from halointegrator.values import identity_key
from halointegrator.engine.model import Check, EntityKind, Integration, LocalSetting, Plan, Report
from halointegrator.engine.runner import split_client_ids
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import (
    DN_FIELD,
    FieldMap,
    MappingScope,
    UserMapper,
    build_field_map,
    identity_field_of,
    parse_mappings,
    parse_match_fields,
    scope_finder,
    search_filter,
)
from integrations.active_directory.directory import LdapSettings

NAME = "active_directory"
HALO_USER_QUERY = {"includeinactive": "true", "includeactive": "true"}  # Halo hides inactive users otherwise
PREREQUISITES = (
    "Enabled for the Halo Integrator in Halo",
    "Allows this Integrator's client id",
    "Domain controller's host name resolves",
    "Domain controller answers on its port",
    "TLS certificate is trusted and names the host",
    "Bind with the connection's account",
    "Each mapped OU exists",
    "Each mapped site exists in Halo",
)
LOCAL_SETTINGS = (
    LocalSetting("bind_password", "Bind password", "secret",
                 "Used when Halo does not return the connection's password to the Integrator."),
    LocalSetting("ca_file", "CA certificate file (PEM)", "path",
                 "The CA that issued the domain controller's certificate, if this computer does not trust it."),
    LocalSetting("allow_plain_ldap", "Allow plain LDAP (no TLS)", "bool",
                 "Off by default: without TLS the bind password crosses the network in clear."),
    LocalSetting("starttls", "Use StartTLS on port 389", "bool",
                 "On by default: upgrade plain LDAP connections to TLS before binding.", default=True),
    LocalSetting("allow_mass_deactivation", "Allow mass deactivation", "bool",
                 "Let a run deactivate more users at once than the safety guard allows."),
)


def connection_name(connection: dict[str, Any]) -> str:
    return str(connection.get("name") or f"LDAP connection {connection.get('id')}")


def list_connections(halo: Any) -> list[dict]:
    """Every LDAPConnection record with its details (mappings, field mappings).

    A plain GET: Halo's document gives /LDAPConnection no paging parameters (only clientidoverride).
    """
    data = halo.get("LDAPConnection")
    if isinstance(data, dict):  # an envelope, should Halo answer with one: its list of records
        data = next((value for value in data.values() if isinstance(value, list)), [])
    records = [record for record in data or [] if isinstance(record, dict)]
    return [halo.get(f"LDAPConnection/{record['id']}", {"includedetails": "true"})
            for record in records if record.get("id") is not None]


def _local(ctx: RunContext, connection: dict[str, Any]) -> dict[str, Any]:
    return ctx.local(NAME, connection.get("id"))


# --- check -------------------------------------------------------------------------------------------

def _not_run(label: str, reason: str) -> Check:
    return Check(label, False, f"not run: {reason}")


def _step(label: str, action: Callable[[], str]) -> Check:
    """Run one check step: its return value is the tick's detail; a SourceError is the cross's."""
    try:
        return Check(label, True, action() or "")
    except IntegratorError as error:
        return Check(label, False, str(error))


def _halo_checks(ctx: RunContext, connection: dict[str, Any]) -> list[Check]:
    enabled = bool(connection.get("halointegratorenabled"))
    allowed = split_client_ids(connection)
    client_ok = not allowed or ctx.client_id in allowed
    return [
        Check(PREREQUISITES[0], enabled, "" if enabled else "tick 'Enable the Halo Integrator' on the connection in Halo"),
        Check(PREREQUISITES[1], client_ok, "any Integrator may run it" if not allowed else
              ("" if client_ok else f"Halo allows only {', '.join(sorted(allowed))}; ours is {ctx.client_id}")),
    ]


def check(ctx: RunContext, connection: dict[str, Any]) -> list[Check]:
    """The prerequisites, in order; a failed step marks the steps that depend on it "not run"."""
    checks = _halo_checks(ctx, connection)
    scopes, _ = parse_mappings(connection)
    try:
        settings = ldap_source.settings_from(connection, _local(ctx, connection))
    except SourceError as error:
        checks.append(Check("Connection settings", False, str(error)))
        checks += [_not_run(label, "the connection settings are incomplete") for label in PREREQUISITES[2:7]]
    else:
        checks += _directory_checks(settings, scopes)
    checks += [_site_check(ctx, scope) for scope in scopes] or [Check(PREREQUISITES[7], False, "no OU mapping")]
    return checks


def _directory_checks(settings: LdapSettings, scopes: list[MappingScope]) -> list[Check]:
    steps = [
        (PREREQUISITES[2], lambda: ", ".join(ldap_source.resolve(settings))),
        (PREREQUISITES[3], lambda: ldap_source.probe_port(settings) or f"port {settings.port}"),
    ]
    checks = []
    for label, action in steps:
        checks.append(_step(label, action))
        if not checks[-1].ok:
            return checks + [_not_run(later, f"{label.lower()} failed") for later in PREREQUISITES[len(checks) + 2:7]]
    return checks + _session_checks(settings, scopes)


def _session_checks(settings: LdapSettings, scopes: list[MappingScope]) -> list[Check]:
    tls_label, bind_label = PREREQUISITES[4], PREREQUISITES[5]
    try:
        conn = ldap_source.connect(settings)
    except SourceError as error:
        return [Check(tls_label, False, str(error)), _not_run(bind_label, "no TLS connection"),
                _not_run(PREREQUISITES[6], "no TLS connection")]
    try:
        tls = Check(tls_label, True, settings.transport if not settings.plain else
                    "not used: plain LDAP is allowed by the local setting allow_plain_ldap")
        bound = _step(bind_label, lambda: ldap_source.bind(conn, settings) or f"as {settings.bind_user}")
        if not bound.ok:
            return [tls, bound, _not_run(PREREQUISITES[6], "the bind failed")]
        return [tls, bound] + ([_dn_check(conn, scope) for scope in scopes]
                               or [Check(PREREQUISITES[6], False, "the connection has no OU mapping in Halo")])
    finally:
        ldap_source.close(conn)


def _dn_check(conn, scope: MappingScope) -> Check:
    label = f"Mapped OU {scope.name} exists"

    def look() -> str:
        if not ldap_source.dn_exists(conn, scope.dn):
            raise SourceError(f"{scope.dn} does not exist (or the account cannot see it): correct the mapping in Halo.")
        return scope.dn

    return _step(label, look)


def _site_check(ctx: RunContext, scope: MappingScope) -> Check:
    label = f"Site {scope.site_id} of mapping {scope.name} exists in Halo"
    try:
        site = ctx.halo.get(f"Site/{scope.site_id}") or {}
    except IntegratorError as error:
        if getattr(error, "status", None) == 404:
            return Check(label, False, f"Halo has no site {scope.site_id}: choose an existing site for the mapping in Halo")
        return Check(label, False, f"Halo did not return site {scope.site_id}: {error}")
    return Check(label, bool(site.get("id")), str(site.get("name") or ""))


# --- sync --------------------------------------------------------------------------------------------

def _read_directory(ctx: RunContext, settings: LdapSettings, scopes: list[MappingScope],
                    field_map: FieldMap) -> UserMapper:
    """Every mapping, completely, mapped page by page; raises SourceError on any failure, before any write.

    Each page becomes Wanted users as it arrives and its raw entries are let go: at 50,000 people the
    raw entries would be about 130 MB more.
    """
    if settings.plain:
        ctx.log.warning("Active Directory: %s uses plain LDAP (allow_plain_ldap): the bind password crosses the "
                        "network unencrypted. Use LDAPS or StartTLS.", settings.address())
    mapper = UserMapper(field_map)
    conn = ldap_source.open_bound(settings)
    try:
        for number, scope in enumerate(scopes, start=1):
            ctx.progress(f"Reading {scope.name}", number - 1, len(scopes))
            before = mapper.read.get(scope.dn, 0)
            for page in ldap_source.search_pages(
                    conn, scope.dn, search_filter(scope.filter), recursive=scope.recursive,
                    attributes=field_map.attributes(), page_size=settings.page_size, cancel=ctx.cancel):
                mapper.add(scope, page)
            ctx.log.info("Active Directory: read %d user(s) from %s", mapper.read.get(scope.dn, 0) - before, scope.dn)
    finally:
        ldap_source.close(conn)
    return mapper


def _owner_rules(identity: str, scopes: list[MappingScope]) -> tuple[Callable[[dict], bool], Callable[[dict], str]]:
    """Which Halo users this connection owns (a GUID and a DN inside a mapping), and their scope.

    The planner asks both for every Halo user; each DN is normalised once (scope_finder remembers it).
    """
    find_scope = scope_finder(scopes)

    def owns(record: dict) -> bool:
        return bool(identity_key(record.get(identity))) and bool(find_scope(record.get(DN_FIELD)))

    def scope_of(record: dict) -> str:
        return find_scope(record.get(DN_FIELD))

    return owns, scope_of


def _configuration(connection: dict[str, Any]) -> tuple[list[MappingScope], FieldMap, tuple[str, ...], list[str]]:
    identity, problem = identity_field_of(connection)
    if problem:
        raise SourceError(problem)
    scopes, notes = parse_mappings(connection)
    if not scopes:
        raise SourceError("The connection has no usable OU mapping (each needs a DN and a site): add one in Halo.")
    field_map, field_notes = build_field_map(connection.get("mappings_user"), identity)
    match_fields, match_notes = parse_match_fields(connection.get("user_matching_fields"))
    return scopes, field_map, match_fields, notes + field_notes + match_notes


def _plan(ctx: RunContext, connection: dict[str, Any], local: dict[str, Any]) -> Plan:
    """Read AD completely, map it and plan against Halo's users; nothing is written here."""
    settings = ldap_source.settings_from(connection, local)
    scopes, field_map, match_fields, notes = _configuration(connection)
    mapped = _read_directory(ctx, settings, scopes, field_map)
    existing = ctx.halo.list("Users", "users", dict(HALO_USER_QUERY))
    owns, scope_of = _owner_rules(field_map.identity_field, scopes)
    allow_mass = ctx.allow_mass_deactivation or ldap_source.flag(local.get("allow_mass_deactivation"), False)
    plan = engine.plan(
        EntityKind("user", "Users", "users", field_map.identity_field, "name"), mapped.wanted, existing,
        owns=owns, match_fields=match_fields, scope_of=scope_of,
        empty_scopes=[scope.dn for scope in scopes if not mapped.read.get(scope.dn)],
        policy=engine.Policy(allow_mass_deactivation=allow_mass))
    plan.notes[:0] = notes + mapped.notes
    return plan


def sync(ctx: RunContext, connection: dict[str, Any]) -> Report:
    """Read AD completely, map, plan against Halo's users, and apply (or only log, in a dry run).

    The plan is made in a frame of its own so the mapped people and Halo's users are freed before the
    writes: the plan's changes are all the apply needs.
    """
    plan = _plan(ctx, connection, _local(ctx, connection))
    batch = int(connection.get("halointegrator_batch") or 0) or 100
    return engine.apply(plan, ctx.halo, dry_run=ctx.dry_run, batch_size=batch, log=ctx.log, cancel=ctx.cancel,
                        integration=NAME, connection=connection_name(connection), progress=ctx.progress)


INTEGRATION = Integration(
    name=NAME,
    title="Active Directory",
    description=("Imports the people of the OUs mapped in Halo's Active Directory connection as Halo users of "
                 "each OU's site, over LDAPS or StartTLS: names, email, phones, job title, department, "
                 "logon names and DN. Disabled accounts, and people who left the mapped OUs, become inactive."),
    connection_path="LDAPConnection",
    prerequisites=PREREQUISITES,
    local_settings=LOCAL_SETTINGS,
    list_connections=list_connections,
    check=check,
    sync=sync,
)
