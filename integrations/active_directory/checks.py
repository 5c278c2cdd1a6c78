"""The Active Directory tab's prerequisites, in order; a failed step marks the steps that need it "not run"."""

from __future__ import annotations

from typing import Any, Callable

from halointegrator.engine.context import RunContext
from halointegrator.engine.model import Check, Prerequisite
from halointegrator.errors import IntegratorError, SourceError
from integrations.active_directory import directory
from integrations.active_directory.directory import LdapSettings
from integrations.active_directory.mapping import MappingScope, parse_mappings

SETTINGS = Prerequisite("settings", "The connection's settings are complete")
RESOLVES = Prerequisite("resolves", "Domain controller's host name resolves")
ANSWERS = Prerequisite("answers", "Domain controller answers on its port")
TLS = Prerequisite("tls", "TLS certificate is trusted and names the host")
BIND = Prerequisite("bind", "Bind with the connection's account")
OUS = Prerequisite("ous", "Each mapped OU exists")
SITES = Prerequisite("sites", "Each mapped site exists in Halo")
PREREQUISITES = (SETTINGS, RESOLVES, ANSWERS, TLS, BIND, OUS, SITES)
_DIRECTORY_STEPS = (RESOLVES, ANSWERS, TLS, BIND, OUS)


def check(ctx: RunContext, connection: dict[str, Any]) -> list[Check]:
    """Every prerequisite of one connection (no writes): settings, the directory step by step, the sites."""
    scopes, _ = parse_mappings(connection)
    try:
        settings = directory.settings_from(connection, ctx.local_settings)
        directory.approve_endpoint(ctx, settings)
    except SourceError as error:
        checks = [Check(SETTINGS.label, False, str(error), SETTINGS.key)]
        checks += [_not_run(step, "the connection settings are incomplete") for step in _DIRECTORY_STEPS]
    else:
        checks = [Check(SETTINGS.label, True, f"{settings.address()} ({settings.transport})", SETTINGS.key)]
        checks += _directory_checks(settings, scopes)
    checks += [_site_check(ctx, scope) for scope in scopes] or [Check(SITES.label, False, "no OU mapping", SITES.key)]
    return checks


def _not_run(prerequisite: Prerequisite, reason: str) -> Check:
    return Check(prerequisite.label, False, f"not run: {reason}", prerequisite.key)


def _step(prerequisite: Prerequisite, action: Callable[[], str], label: str = "") -> Check:
    """Run one step: its return value is the tick's detail; an expected error is the cross's."""
    try:
        return Check(label or prerequisite.label, True, action() or "", prerequisite.key)
    except IntegratorError as error:
        return Check(label or prerequisite.label, False, str(error), prerequisite.key)


def _directory_checks(settings: LdapSettings, scopes: list[MappingScope]) -> list[Check]:
    steps = ((RESOLVES, lambda: ", ".join(directory.resolve(settings))),
             (ANSWERS, lambda: directory.probe_port(settings) or f"port {settings.port}"))
    checks: list[Check] = []
    for prerequisite, action in steps:
        checks.append(_step(prerequisite, action))
        if not checks[-1].ok:
            later = _DIRECTORY_STEPS[len(checks):]
            return checks + [_not_run(step, f"{prerequisite.label.lower()} failed") for step in later]
    return checks + _session_checks(settings, scopes)


def _session_checks(settings: LdapSettings, scopes: list[MappingScope]) -> list[Check]:
    try:
        conn = directory.connect(settings)
    except SourceError as error:
        return [Check(TLS.label, False, str(error), TLS.key), _not_run(BIND, "no TLS connection"),
                _not_run(OUS, "no TLS connection")]
    try:
        tls = Check(TLS.label, True, settings.transport if not settings.plain else
                    "not used: plain LDAP is allowed by the local setting allow_plain_ldap", TLS.key)
        bound = _step(BIND, lambda: directory.bind(conn, settings) or f"as {settings.bind_user}")
        if not bound.ok:
            return [tls, bound, _not_run(OUS, "the bind failed")]
        ous = [_dn_check(conn, scope) for scope in scopes]
        return [tls, bound] + (ous or [Check(OUS.label, False, "the connection has no OU mapping in Halo", OUS.key)])
    finally:
        directory.close(conn)


def _dn_check(conn: Any, scope: MappingScope) -> Check:
    def look() -> str:
        if not directory.dn_exists(conn, scope.dn):
            raise SourceError(f"{scope.dn} does not exist (or the account cannot see it): correct the mapping in Halo.")
        return scope.dn

    return _step(OUS, look, f"Mapped OU {scope.name} exists")


def _site_check(ctx: RunContext, scope: MappingScope) -> Check:
    label = f"Site {scope.site_id} of mapping {scope.name} exists in Halo"
    try:
        site = ctx.halo.get(f"Site/{scope.site_id}") or {}
    except IntegratorError as error:
        if getattr(error, "status", None) == 404:
            return Check(label, False, f"Halo has no site {scope.site_id}: choose an existing site for the mapping "
                         "in Halo", SITES.key)
        return Check(label, False, f"Halo did not return site {scope.site_id}: {error}", SITES.key)
    return Check(label, bool(site.get("id")), str(site.get("name") or ""), SITES.key)
