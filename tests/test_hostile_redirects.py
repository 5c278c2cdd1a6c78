"""Hostile servers, part 1: redirects and addresses learnt at run time never take a secret or a write
elsewhere. Each case runs ``integrator.py AUTO`` against a hostile proxy in front of the real sandboxes;
the Graph client's own refusals (a link to another scheme or port, a Graph root that is not https) close
the file.
"""

from __future__ import annotations

import json

import pytest

from integrations.entra.graph import DeltaExpired, GraphClient, GraphError
from tests.e2e_world import ENTRA, TENANT_ID
from tests.hostile_http import Answer, HostileServer, HostileTls, redirect_to
from tests.hostile_world import APP_SECRET, HALO_SECRET, IntegratorFolder, assert_contained


def netloc(url: str) -> str:
    return url.split("://", 1)[1]


HALO_SANDBOX = {"client_secret": HALO_SECRET}  # the conftest fixtures, with the hostile world's secrets
GRAPH_TENANT, GRAPH_SECRET = {"users": 30, "devices": 0}, APP_SECRET


@pytest.fixture
def attacker():
    with HostileServer() as server:
        yield server


def entra_folder(tmp_path, halo, halo_url: str, graph_url: str, *settings: str) -> IntegratorFolder:
    with halo.lock:
        halo.state["azureadconnections"][1].update({**ENTRA, "intune_enabled": False})
    folder = IntegratorFolder(tmp_path / "integrator", halo_url, settings=settings)
    folder.connection("azure_ad:1", "--set", f"login_url={graph_url}", "--set", f"graph_url={graph_url}",
                      "--secret-env", "app_secret=HOSTILE_SECRET", secret=APP_SECRET)
    return folder


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirected_token_request_sends_the_secret_nowhere(tmp_path, halo, attacker, status):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("POST", "/auth/token", redirect_to(attacker.url + "/auth/token", status))
        folder = IntegratorFolder(tmp_path, proxy.url)
        run = folder.auto()
    assert not attacker.received, "the token request followed the redirect"
    assert_contained(run, folder, secrets={HALO_SECRET}, halo=halo,
                     says=[netloc(proxy.url), netloc(attacker.url), "redirect"])


def test_https_halo_redirecting_the_token_to_plain_http_gets_nothing(tmp_path, halo, attacker):
    tls = HostileTls(tmp_path / "tls")
    with HostileServer(upstream=halo.url, tls=tls) as proxy:
        proxy.on("POST", "/auth/token", redirect_to(attacker.url + "/auth/token"))
        folder = IntegratorFolder(tmp_path / "integrator", proxy.url, settings=[f"ca_bundle={tls.ca_file}"])
        run = folder.auto()
    assert not attacker.received
    assert_contained(run, folder, secrets={HALO_SECRET}, halo=halo, says=[netloc(attacker.url)])


def test_a_read_redirected_from_https_to_http_on_the_same_host_is_not_followed(tmp_path, halo):
    tls = HostileTls(tmp_path / "tls")
    with HostileServer(upstream=halo.url, tls=tls) as proxy:
        downgraded = proxy.url.replace("https://", "http://")
        proxy.on("GET", "/api/instanceinfo", redirect_to(downgraded + "/api/InstanceInfo", 302))
        folder = IntegratorFolder(tmp_path / "integrator", proxy.url, settings=[f"ca_bundle={tls.ca_file}"])
        run = folder.auto()
        plaintext = [request for request in proxy.received if request.plaintext]
    assert not plaintext, "a request went in clear to the https server's port"
    assert_contained(run, folder, secrets={HALO_SECRET, *proxy_tokens(proxy)}, halo=halo,
                     says=["redirect", "http://"])


def test_a_redirected_write_sends_no_record_and_is_not_counted_as_written(tmp_path, halo, graph, attacker):
    users_before = len(halo.records("users"))
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("POST", "/api/users", redirect_to(attacker.url + "/api/Users"))
        folder = entra_folder(tmp_path, halo, proxy.url, graph.url)
        run = folder.auto()
    assert not attacker.received, "the records went to the other host"
    assert len(halo.records("users")) == users_before
    summary = json.loads((folder.folder / "logs" / "last-run.json").read_text())
    entra = summary["integrations"][0]
    assert not entra.get("counts", {}).get("create"), entra
    last_error = halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert netloc(attacker.url) in last_error and netloc(proxy.url) in last_error and "nothing was sent" in last_error
    # The log is not asked: since the pipeline rewrite a write's failure reaches Last Error and last-run.json
    # but no log line (reported to the lead).
    assert_contained(run, folder, secrets={HALO_SECRET, APP_SECRET}, halo=halo)


def test_an_auth_url_that_discovery_names_over_http_gets_no_secret(tmp_path, halo):
    with HostileServer(upstream=halo.url) as attacker, HostileServer(upstream=halo.url) as proxy:
        # 0.0.0.0 reaches this machine's 127.0.0.1 listeners, yet it is not a loopback address: plain http
        # to it is what the https rule forbids, and the secret must not go there.
        port = attacker.url.rsplit(":", 1)[1]
        proxy.on("GET", "/api/authinfo", lambda request: Answer(200, {}, json.dumps(
            {"auth_url": f"http://0.0.0.0:{port}/auth", "tenant_id": "sandbox"}).encode()))
        folder = IntegratorFolder(tmp_path, proxy.url)
        run = folder.auto()
        sent = [request for request in attacker.received if HALO_SECRET.encode() in request.body]
    assert not sent, "the client secret went to the http address AuthInfo named"
    assert_contained(run, folder, secrets={HALO_SECRET}, halo=halo, says=["http://0.0.0.0", "https"])


def test_a_redirected_microsoft_token_request_sends_the_app_secret_nowhere(tmp_path, halo, graph, attacker):
    with HostileServer(upstream=graph.url) as graph_proxy:
        graph_proxy.on("POST", f"/{TENANT_ID}/oauth2", redirect_to(f"{attacker.url}/{TENANT_ID}/oauth2/v2.0/token"))
        folder = entra_folder(tmp_path, halo, halo.url, graph_proxy.url)
        run = folder.auto()
    assert not attacker.received
    assert_contained(run, folder, secrets={HALO_SECRET, APP_SECRET}, halo=halo, says=[netloc(attacker.url)])


def test_a_next_link_that_downgrades_to_http_gets_no_token(tmp_path, halo, graph):
    tls = HostileTls(tmp_path / "tls")
    with HostileServer(upstream=graph.url, tls=tls) as graph_proxy:
        downgraded = graph_proxy.url.replace("https://", "http://")

        def downgrade_next_link(request):
            if request.path != "/v1.0/users":
                return None
            answer = graph_proxy.forward(request)
            page = json.loads(answer.body)
            if "@odata.nextLink" in page or "$skiptoken" not in request.query:
                page["@odata.nextLink"] = downgraded + "/v1.0/users?$skiptoken=downgraded"
            return Answer(answer.status, answer.headers, json.dumps(page).encode())

        graph_proxy.on("GET", "/v1.0/users", downgrade_next_link)
        folder = entra_folder(tmp_path, halo, halo.url, graph_proxy.url, f"ca_bundle={tls.ca_file}")
        run = folder.auto()
        plaintext = [request for request in graph_proxy.received if request.plaintext]
    assert not plaintext, "the bearer token went in clear to the http link"
    assert halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets={HALO_SECRET, APP_SECRET, *proxy_tokens(graph_proxy)}, halo=halo,
                     says=["http://"])


def proxy_tokens(proxy: HostileServer) -> set[str]:
    return set(proxy.tokens)


# ---- links Graph may not lead the token to ------------------------------------------------------------

def graph_client(graph_url: str = "https://graph.microsoft.com") -> GraphClient:
    return GraphClient(tenant="t", client_id="c", client_secret="unit-graph-secret", login_url=graph_url,
                       graph_url=graph_url)


def test_a_stored_delta_link_to_plain_http_counts_as_expired_and_is_not_followed():
    with pytest.raises(DeltaExpired, match="another scheme"):
        graph_client().delta("http://graph.microsoft.com/v1.0/users/delta?$deltatoken=tampered")


@pytest.mark.parametrize("url", ["http://graph.example.com", "ftp://graph.microsoft.com"])
def test_a_graph_root_that_is_not_https_is_refused(url):
    with pytest.raises(Exception, match="cannot be used"):
        graph_client(url)


def test_a_next_link_to_another_port_is_refused():
    client = graph_client()
    with pytest.raises(GraphError, match="another scheme or port"):
        client._same_origin("https://graph.microsoft.com:8443/v1.0/users")
