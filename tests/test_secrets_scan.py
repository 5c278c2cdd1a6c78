"""Security: no secret or token in anything a run leaves behind; TLS verified unless visibly switched off;
directory values escaped in LDAP filters; nothing from a server evaluated; secrets never from argv.

The scans run the Integrator through runs that make it talk about its credentials (a token revoked
mid-run, a record Halo refuses, a wrong Halo secret, a wrong Entra secret, a refused LDAP bind, CHECK,
a dry run, --console) and then read every file in its folders, its printed output, and the window's
log: none may hold the Halo client secret, the Entra app secret, the LDAP bind password, or any access
token the sandboxes issued.
"""

from __future__ import annotations

import ast
import os
import ssl
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote, quote_plus

import ldap3
import pytest

from halointegrator.engine.context import RunContext
from halointegrator.http import make_session
from halointegrator.local.settings import HaloSettings
from integrations.entra import reads as azure_reads
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import equality_filter
from sandbox.graph_server import GraphServer
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import HALO_SECRET, REPO, configure, integrator
from tests.e2e_world import APP_ID, APP_SECRET, TENANT_ID, RequestHooks, World, small_tenant
from tests.fixtures_directory import search_all

WRONG_GRAPH_SECRET = "Wrong.Graph.Secret.8k"
WRONG_HALO_SECRET = "Wrong.Halo.Secret.3x"
WRONG_BIND_PASSWORD = "Wrong.Bind.Password.5q"


class Issued:
    """Every access token the sandboxes hand out during the test (revoked ones included)."""

    def __init__(self, halo: HaloSandbox, graph: GraphServer) -> None:
        self.tokens: set[str] = set()
        halo_token, graph_token = halo.api._token, graph.issue_token

        def halo_issue(*args):
            reply = halo_token(*args)
            if reply.status == 200:
                self.tokens.add(__import__("json").loads(reply.body)["access_token"])
            return reply

        def graph_issue(*args):
            answer = graph_token(*args)
            self.tokens.add(answer["access_token"])
            return answer

        halo.api._token, graph.issue_token = halo_issue, graph_issue


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def leaks(texts: dict[str, bytes], secrets: set[str]) -> list[str]:
    """'<where>: <which secret>' for every secret found; secrets shown by their first characters only."""
    found = []
    for where, data in texts.items():
        for secret in secrets:
            if any(form.encode() in data for form in forms(secret)):
                found.append(f"{where}: {secret[:4]}...")
    return found


def files_under(*folders: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for folder in folders for path in folder.rglob("*") if path.is_file()}


def run(*args: str, world: World) -> subprocess.CompletedProcess:
    world.halo.clear_requests()
    return integrator(*args, "--config", str(world.config), cwd=world.folder)


@pytest.fixture
def sandboxes():
    with HaloSandbox() as halo, GraphServer(small_tenant(), tenant_id=TENANT_ID, client_id=APP_ID,
                                            client_secret=APP_SECRET) as graph:
        yield halo, graph, Issued(halo, graph)


def provoke(world: World, outputs: dict[str, bytes]) -> None:
    """Runs that make the Integrator handle, refuse and explain credentials."""
    halo, graph = world.halo, world.graph
    RequestHooks(halo).add("POST", "/api/users", halo.expire_tokens)  # Halo token revoked mid-run
    halo.faults.reject_records(lambda record: str(record.get("name", "")).startswith("A"))
    graph.throttle(1, retry_after=0)
    results = {"auto": run("AUTO", "--console", world=world)}
    halo.faults.reject_records(None)
    graph.revoke_tokens()  # Graph refuses the cached token: a fresh one is fetched
    results["dry run"] = run("AUTO", "--dry-run", "--console", world=world)
    results["check"] = run("CHECK", world=world)
    configure(world.config, halo.url, cwd=world.folder, secret=WRONG_GRAPH_SECRET,
              extra=("--connection", "azure_ad:1", "--secret-env", "app_secret=HALO_TEST_SECRET"))
    results["wrong graph secret"] = run("AUTO", "--console", world=world)
    configure(world.config, halo.url, cwd=world.folder, secret=WRONG_HALO_SECRET)
    results["wrong halo secret"] = run("AUTO", "--console", world=world)
    for name, result in results.items():
        outputs[f"{name} stdout"] = result.stdout.encode()
        outputs[f"{name} stderr"] = result.stderr.encode()
    assert results["auto"].returncode == 1  # the refused records
    assert results["wrong graph secret"].returncode == 1 and results["wrong halo secret"].returncode == 2
    assert "AADSTS7000215" in world.log() and "Halo refused the client ID or secret" in world.log()


def test_nothing_an_entra_run_leaves_holds_a_secret_or_token(sandboxes, tmp_path):
    halo, graph, issued = sandboxes
    world = World(halo, tmp_path / "integrator", graph=graph)
    outputs: dict[str, bytes] = {}
    provoke(world, outputs)
    assert len(issued.tokens) >= 4
    secrets = {HALO_SECRET, APP_SECRET, WRONG_GRAPH_SECRET, WRONG_HALO_SECRET, *issued.tokens}
    written = files_under(world.folder)
    assert {"HaloIntegrator.config", "HaloIntegrator.key", "HaloIntegrator.state", "HaloIntegrator.lock",
            "last-run.json"} <= {Path(name).name for name in written}
    assert leaks({**written, **outputs}, secrets) == []


@pytest.mark.slapd
def test_nothing_an_active_directory_run_leaves_holds_the_bind_password(sandboxes, fresh_slapd, tmp_path):
    halo, graph, issued = sandboxes
    world = World(halo, tmp_path / "integrator", graph=graph, directory=fresh_slapd)
    outputs: dict[str, bytes] = {}
    provoke(world, outputs)
    with halo.lock:
        halo.state["ldapconnections"][1]["integrator_password"] = WRONG_BIND_PASSWORD
    configure(world.config, halo.url, cwd=world.folder)
    refused = run("AUTO", "--console", world=world)
    assert refused.returncode == 1 and "invalidCredentials" in world.log()
    outputs.update({"bind refused stdout": refused.stdout.encode(), "bind refused stderr": refused.stderr.encode()})
    secrets = {HALO_SECRET, APP_SECRET, fresh_slapd.password, WRONG_BIND_PASSWORD, *issued.tokens}
    assert leaks({**files_under(world.folder), **outputs}, secrets) == []


@pytest.mark.gui
def test_the_windows_log_holds_no_secret_or_token(sandboxes, tmp_path, make_app):
    from integrations import REGISTRY
    from tests.gui_fixtures import idle, log_text

    halo, graph, issued = sandboxes
    World(halo, tmp_path, graph=graph)  # the window opens the config this writes
    RequestHooks(halo).add("POST", "/api/users", halo.expire_tokens)
    app = make_app(registry=REGISTRY)
    app.processes_tab.start()
    idle(app)
    assert app.processes_tab.last_result.exit_code == 0, log_text(app)
    text = log_text(app)
    assert "Create user" in text and "Halo refused the token" in text
    assert leaks({"the window's log": text.encode()}, {HALO_SECRET, APP_SECRET, *issued.tokens}) == []



# ---- TLS ------------------------------------------------------------------------------------------

def test_tls_is_verified_by_default_for_halo_microsoft_and_ldap():
    assert HaloSettings().verify_tls is True
    assert make_session().verify is True
    ctx = RunContext(halo=type("Halo", (), {"settings": HaloSettings()})(), log=None,
                     local_settings={"app_secret": "x"})
    graph = azure_reads.make_client(ctx, {"id": 1, "directoryid": "t", "applicationid": "a"})
    assert graph.session.verify is True
    tls = ldap_source.VerifiedTls("dc.example.com")
    assert tls.context.verify_mode == ssl.CERT_REQUIRED and tls.context.check_hostname
    settings = ldap_source.settings_from({"hostname": "dc", "port": "389"}, {})
    assert settings.starttls and not settings.plain  # plain LDAP only when the local setting allows it


def test_switching_tls_checks_off_is_warned_about_on_every_run(sandboxes, tmp_path):
    halo, graph, _issued = sandboxes
    world = World(halo, tmp_path, graph=graph, settings=("verify_tls=false",))
    for _ in range(2):
        assert world.auto().returncode == 0
        assert "TLS certificate checking is off" in world.run_log()
        assert world.run_log().count("TLS certificate verification is off") == 2  # the Halo and Microsoft sessions


@pytest.mark.slapd
def test_plain_ldap_is_warned_about_on_every_run(fresh_slapd, tmp_path):
    with HaloSandbox() as halo:
        world = World(halo, tmp_path / "integrator", directory=fresh_slapd)
        with halo.lock:
            halo.state["ldapconnections"][1].update(use_ssl=False, port=str(fresh_slapd.port))
        configure(world.config, halo.url, cwd=world.folder, extra=(
            "--connection", "active_directory:1", "--set", "starttls=false", "--set", "allow_plain_ldap=true"))
        for _ in range(2):
            assert world.auto().returncode == 0, world.run_log()
            assert "uses plain LDAP (allow_plain_ldap)" in world.run_log()


# ---- LDAP filters, evaluation, argv, file modes -----------------------------------------------------

INJECTIONS = ["*", "*)(uid=*", "*)(|(objectClass=*)", "admin)(&", "\\2a", "a\x00b", "(cn=*)", "*))%00"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_value_in_an_ldap_filter_is_only_ever_a_value(value):
    text = equality_filter("sAMAccountName", value)
    assert text.count("(") == text.count(")") == 5  # (&(&(base)(base))(attr=value)) and nothing more
    assert "*" not in text.split("(sAMAccountName=", 1)[1]
    ldap3.operation.search.parse_filter(text, None, auto_escape=False, auto_encode=True, validator=None,
                                        check_names=False)


@pytest.mark.slapd
def test_injected_values_find_nobody_in_a_real_directory(fresh_slapd):
    settings = ldap_source.settings_from(
        {"hostname": fresh_slapd.host, "port": str(fresh_slapd.ldaps_port), "use_ssl": True,
         "username": fresh_slapd.bind_dn, "integrator_password": fresh_slapd.password},
        {"ca_file": fresh_slapd.ca_file})
    connection = ldap_source.open_bound(settings)
    try:
        someone = fresh_slapd.users[0].sam
        found = search_all(connection, fresh_slapd.base_dn, equality_filter("sAMAccountName", someone))
        assert len(found) == 1
        for value in INJECTIONS:
            assert search_all(connection, fresh_slapd.base_dn, equality_filter("sAMAccountName", value)) == []
    finally:
        ldap_source.close(connection)


DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__", "system", "popen", "loads"}
ALLOWED = {("loads", "json"), ("compile", "re")}  # json.loads parses data; pickle.loads would run code


def test_nothing_from_a_server_is_evaluated():
    """No eval/exec/pickle/shell in the application: a server's answer is only ever parsed as JSON."""
    found = []
    for path in [*(REPO / "halointegrator").rglob("*.py"), *(REPO / "integrations").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{path.name}: imports {name}" for name in names
                          if name.split(".")[0] in ("pickle", "marshal", "shelve", "yaml")]
            if isinstance(node, ast.Call):
                function = node.func
                name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                owner = getattr(function.value, "id", "") if isinstance(function, ast.Attribute) else ""
                if name in DANGEROUS_CALLS and (name, owner) not in ALLOWED:
                    found.append(f"{path.name}:{node.lineno}: {owner + '.' if owner else ''}{name}()")
                if any(keyword.arg == "shell" for keyword in node.keywords):
                    found.append(f"{path.name}:{node.lineno}: shell=")
    assert found == []


@pytest.mark.parametrize("arguments", [
    ("--set", "client_secret=Argv.Secret.1"),
    ("--set", "proxy=http://proxyuser:Argv.Secret.1@proxy.example.com:8080"),
    ("--connection", "azure_ad:1", "--set", "app_secret=Argv.Secret.1"),
    ("--connection", "active_directory:1", "--set", "bind_password=Argv.Secret.1"),
    ("--url", "https://admin:Argv.Secret.1@acme.halopsa.com"),
], ids=["client secret", "proxy password", "app secret", "bind password", "password in the URL"])
def test_configure_never_takes_a_secret_from_the_command_line(tmp_path, arguments):
    config = tmp_path / "HaloIntegrator.config"
    command = ["CONFIGURE", "--config", str(config), "--client-id", "id", "--secret-env",
               "client_secret=HALO_TEST_SECRET", *arguments]
    if "--url" not in arguments:
        command += ["--url", "https://acme.halopsa.com"]
    result = integrator(*command, cwd=tmp_path, env={"HALO_TEST_SECRET": "from-the-environment"})
    assert result.returncode == 2
    assert any(words in result.stderr for words in ("never on the command line", "user name or password"))
    assert leaks({**files_under(tmp_path), "stdout": result.stdout.encode(), "stderr": result.stderr.encode()},
                 {"Argv.Secret.1"}) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_config_key_state_and_lock_are_0600_even_with_a_loose_umask(tmp_path):
    with HaloSandbox() as halo:
        old = os.umask(0)
        try:
            world = World(halo, tmp_path)
            assert world.auto().returncode == 0
        finally:
            os.umask(old)
    for name in ("HaloIntegrator.config", "HaloIntegrator.key", "HaloIntegrator.state", "HaloIntegrator.lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
