"""The HTTP layer: session trust and proxy, the retry rules, and error bodies turned into sentences."""

from __future__ import annotations

import datetime
import http.server
import json
import logging
import random
import socket
import ssl
import threading

import pytest
import requests
import responses
import urllib3.exceptions

from halointegrator import __version__
from halointegrator.errors import ConfigError
from halointegrator.http import (
    RetryPolicy,
    describe_response_error,
    error_detail,
    make_session,
    never_sent,
    parse_retry_after,
    short_reason,
)

from tests.fixtures_halo import FakeTime

URL = "https://halo.example.com/api/Users"


def policy(time: FakeTime, **overrides) -> RetryPolicy:
    options = dict(sleep=time.sleep, clock=time.clock, rng=random.Random(7), wall_clock=lambda: 1_700_000_000.0)
    options.update(overrides)
    return RetryPolicy(**options)


# ---- make_session -------------------------------------------------------------------------------


def test_session_defaults_verify_tls_and_names_itself():
    session = make_session()
    assert session.verify is True
    assert session.headers["User-Agent"] == f"HaloIntegrator/{__version__}"
    assert not session.explicit_proxies


def test_session_without_verification_when_asked():
    assert make_session(verify_tls=False).verify is False


def test_proxy_is_used_for_http_and_https_and_beats_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:1")
    session = make_session(proxy="proxy.corp:3128")
    merged = session.merge_environment_settings(URL, {}, False, None, None)
    assert merged["proxies"]["https"] == "http://proxy.corp:3128"
    assert merged["proxies"]["http"] == "http://proxy.corp:3128"


def test_ca_bundle_setting_beats_requests_ca_bundle_variable(monkeypatch, tmp_path):
    ca_pem, _key, _cert, _cert_key = make_ca_and_server_cert()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca_pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    session = make_session(ca_bundle=str(bundle))
    merged = session.merge_environment_settings(URL, {}, False, None, None)
    assert merged["verify"] == session.verify != "/nonexistent/ca.pem"


def test_ca_bundle_is_added_to_the_default_trust(tmp_path):
    import certifi

    ca_pem, *_ = make_ca_and_server_cert()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca_pem)
    combined = open(make_session(ca_bundle=str(bundle)).verify, encoding="ascii").read()
    assert open(certifi.where(), encoding="ascii").read() in combined
    assert ca_pem.decode() in combined


def test_ca_bundle_in_der_form_is_accepted(tmp_path):
    ca_pem, *_ = make_ca_and_server_cert()
    der = tmp_path / "ca.cer"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(ca_pem.decode()))
    combined = open(make_session(ca_bundle=str(der)).verify, encoding="ascii").read()
    assert combined.count("BEGIN CERTIFICATE") > 1 and ca_pem.decode().splitlines()[1] in combined


def test_missing_or_useless_ca_bundle_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the CA bundle file .*missing.pem"):
        make_session(ca_bundle=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="holds no certificate"):
        make_session(ca_bundle=str(junk))


def test_tls_server_signed_by_own_ca_is_trusted_only_with_the_bundle(tmp_path):
    ca_pem, _ca_key, cert_pem, key_pem = make_ca_and_server_cert()
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "server.pem").write_bytes(cert_pem + key_pem)
    with serve_once(tls_cert=str(tmp_path / "server.pem")) as url:
        with pytest.raises(requests.exceptions.SSLError) as refused:
            make_session().get(url, timeout=5)
        assert short_reason(refused.value).startswith("certificate not trusted")
        answer = make_session(ca_bundle=str(tmp_path / "ca.pem")).get(url, timeout=5)
    assert answer.json() == {"ok": True}


def test_requests_go_through_the_proxy():
    with serve_once() as proxy_url:
        answer = make_session(proxy=proxy_url).get("http://halo.invalid/api/AuthInfo", timeout=5)
    assert answer.json() == {"ok": True, "path": "http://halo.invalid/api/AuthInfo"}


# ---- RetryPolicy -------------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    time = FakeTime()
    responses.get(URL, status=status)
    responses.get(URL, json={"ok": 1})
    seen = []
    answer = policy(time).send(requests.Session(), "GET", URL, on_retry=lambda *args: seen.append(args))
    assert answer.status_code == 200
    assert len(time.sleeps) == 1 and 1.0 <= time.sleeps[0] <= 2.0
    assert seen == [(1, time.sleeps[0], f"HTTP {status}")]


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_other_statuses_are_returned_at_once(status):
    time = FakeTime()
    responses.get(URL, status=status)
    assert policy(time).send(requests.Session(), "GET", URL).status_code == status
    assert time.sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_retry_after_seconds_is_honoured():
    time = FakeTime()
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, json={})
    policy(time).send(requests.Session(), "GET", URL)
    assert time.sleeps == [7.0]


@responses.activate
def test_retry_after_http_date_is_honoured():
    time = FakeTime()
    when = datetime.datetime.fromtimestamp(1_700_000_030, tz=datetime.timezone.utc)
    responses.get(URL, status=503, headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    responses.get(URL, json={})
    policy(time).send(requests.Session(), "GET", URL)
    assert time.sleeps == [30.0]


@responses.activate
def test_retry_after_is_capped_by_max_delay():
    time = FakeTime()
    responses.get(URL, status=429, headers={"Retry-After": "3600"})
    responses.get(URL, json={})
    policy(time).send(requests.Session(), "GET", URL)
    assert time.sleeps == [120.0]


@responses.activate
def test_gives_up_after_max_attempts_and_returns_the_last_answer():
    time = FakeTime()
    responses.get(URL, status=503)
    answer = policy(time, max_attempts=4).send(requests.Session(), "GET", URL)
    assert answer.status_code == 503
    assert len(responses.calls) == 4 and len(time.sleeps) == 3


@responses.activate
def test_backoff_grows_exponentially_with_jitter_and_cap():
    time = FakeTime()
    responses.get(URL, status=502)
    policy(time, max_attempts=9, max_total=10_000).send(requests.Session(), "GET", URL)
    ceilings = [2, 4, 8, 16, 32, 64, 120, 120]
    assert len(time.sleeps) == len(ceilings)
    for slept, ceiling in zip(time.sleeps, ceilings):
        assert ceiling / 2 <= slept <= ceiling
    assert len(set(time.sleeps[-2:])) == 2  # jitter: two capped waits differ


@responses.activate
def test_total_wait_is_capped():
    time = FakeTime()
    responses.get(URL, status=429, headers={"Retry-After": "100"})
    answer = policy(time, max_total=250).send(requests.Session(), "GET", URL)
    assert answer.status_code == 429
    assert time.sleeps == [100.0, 100.0]


@responses.activate
def test_connection_errors_and_timeouts_are_retried_for_reads():
    time = FakeTime()
    responses.get(URL, body=requests.ConnectionError("Connection aborted"))
    responses.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(URL, json={"ok": 1})
    assert policy(time).send(requests.Session(), "GET", URL).json() == {"ok": 1}
    assert len(time.sleeps) == 2


@responses.activate
def test_connection_errors_are_raised_when_attempts_run_out():
    time = FakeTime()
    responses.get(URL, body=requests.ConnectionError("Connection aborted"))
    with pytest.raises(requests.ConnectionError):
        policy(time, max_attempts=3).send(requests.Session(), "GET", URL)
    assert len(time.sleeps) == 2


@responses.activate
@pytest.mark.parametrize("status", [502, 504])
def test_creates_are_not_repeated_when_the_server_may_have_processed_them(status):
    time = FakeTime()
    responses.post(URL, status=status)
    answer = policy(time).send(requests.Session(), "POST", URL, idempotent=False, json=[{"name": "a"}])
    assert answer.status_code == status and len(responses.calls) == 1 and time.sleeps == []


@responses.activate
@pytest.mark.parametrize("status", [429, 503])
def test_creates_are_repeated_when_refused_before_processing(status):
    time = FakeTime()
    responses.post(URL, status=status)
    responses.post(URL, json={"id": 1})
    answer = policy(time).send(requests.Session(), "POST", URL, idempotent=False, json=[{"name": "a"}])
    assert answer.json() == {"id": 1} and len(time.sleeps) == 1


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout("read timed out"), requests.ConnectionError("Connection aborted")],
)
def test_creates_are_not_repeated_after_the_request_may_have_arrived(failure):
    time = FakeTime()
    responses.post(URL, body=failure)
    with pytest.raises(type(failure)):
        policy(time).send(requests.Session(), "POST", URL, idempotent=False, json=[])
    assert len(responses.calls) == 1 and time.sleeps == []


@responses.activate
def test_creates_are_repeated_when_the_connection_was_never_made():
    time = FakeTime()
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: refused")
    responses.post(URL, body=requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, URL, refused)))
    responses.post(URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    responses.post(URL, json={"id": 2})
    answer = policy(time).send(requests.Session(), "POST", URL, idempotent=False, json=[])
    assert answer.json() == {"id": 2} and len(time.sleeps) == 2


@responses.activate
def test_tls_errors_are_not_retried():
    time = FakeTime()
    responses.get(URL, body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(requests.exceptions.SSLError):
        policy(time).send(requests.Session(), "GET", URL)
    assert time.sleeps == []


@responses.activate
def test_a_timeout_is_always_passed_and_may_be_overridden():
    responses.get(URL, json={})
    policy(FakeTime()).send(requests.Session(), "GET", URL)
    policy(FakeTime()).send(requests.Session(), "GET", URL, timeout=3)
    assert responses.calls[0].request.req_kwargs["timeout"] == (15.0, 120.0)
    assert responses.calls[1].request.req_kwargs["timeout"] == (3.0, 3.0)  # one number: connect and read alike


@responses.activate
def test_retries_log_the_host_but_no_header_body_or_query(caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(URL, status=503)
    responses.post(URL, json={})
    policy(FakeTime()).send(
        requests.Session(), "POST", URL + "?tenant=t-secretish", headers={"Authorization": "Bearer tok-123456"},
        data={"client_secret": "sec-abcdef"},
    )
    assert "halo.example.com" in caplog.text and "HTTP 503" in caplog.text
    for hidden in ("tok-123456", "sec-abcdef", "t-secretish", "/api/Users"):
        assert hidden not in caplog.text


def test_connection_refused_is_recognised_as_never_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as failure:
        requests.get(f"http://127.0.0.1:{port}/api", timeout=5)
    assert never_sent(failure.value)
    assert short_reason(failure.value) == "connection refused"
    assert str(port) not in short_reason(failure.value)


@pytest.mark.parametrize(
    "value, seconds",
    [("", None), ("5", 5.0), (" 0 ", 0.0), ("-3", 0.0), ("1.5", 1.5), ("soon", None),
     ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0), ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0)],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, now=1_700_000_000.0) == seconds


# ---- describe_response_error -------------------------------------------------------------------


def answer(status: int, body: str | bytes, content_type: str = "application/json", reason: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers["Content-Type"] = content_type
    response.reason = reason
    response.url = URL
    return response


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"resultCode": 2, "errorMessage": "Site not found"}, "Site not found"),
        ({"ClassName": "HaloException", "Message": "Invalid client_id"}, "HaloException: Invalid client_id"),
        ({"Message": "An error has occurred."}, "An error has occurred"),
        ({"error": "invalid_client", "error_description": "The client is unknown."}, "invalid_client: The client is unknown"),
        ({"error": "invalid_grant"}, "invalid_grant"),
        ({"[0].site_id": ["The field site_id must be a number."]}, "[0].site_id: The field site_id must be a number."),
        ({"title": "One or more validation errors occurred.", "errors": {"name": ["Required"]}}, "One or more validation"),
        ({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}},
         "Authorization_RequestDenied: Insufficient privileges"),
        ("CODE:APP03/2 Please select the CAB members to approve", "CODE:APP03/2 Please select"),
    ],
)
def test_error_bodies_become_sentences(body, expected):
    sentence = describe_response_error(answer(400, json.dumps(body), reason="Bad Request"), "halo.example.com")
    assert sentence.startswith("Halo at halo.example.com answered HTTP 400 Bad Request: ")
    assert expected in sentence


def test_html_answer_says_a_proxy_may_intercept():
    page = answer(200, "<!DOCTYPE html><html><body>Sign in to the web gateway</body></html>", "text/html")
    sentence = describe_response_error(page, "halo.example.com")
    assert sentence.startswith("Halo at halo.example.com answered with an HTML page instead of JSON")
    assert "proxy or firewall may be intercepting" in sentence and "Check the proxy setting" in sentence


def test_html_without_content_type_is_still_recognised():
    sentence = describe_response_error(answer(403, "  <html>Access denied</html>", ""), "10.0.0.5:8443")
    assert "10.0.0.5:8443 answered with an HTML page" in sentence


def test_truncated_json_is_named():
    sentence = describe_response_error(answer(200, '{"record_count": 3, "users": [{"id": 1'), "halo.example.com")
    assert "incomplete JSON" in sentence and "halo.example.com" in sentence


def test_plain_text_and_empty_bodies():
    assert describe_response_error(answer(500, "Boom", "text/plain"), "h") == "Halo at h answered HTTP 500: Boom."
    assert describe_response_error(answer(502, "", "", "Bad Gateway"), "h") == "Halo at h answered HTTP 502 Bad Gateway."
    assert describe_response_error(answer(200, "OK", "text/plain"), "h") == (
        "Halo at h answered HTTP 200 with something that is not JSON: OK"
    )


def test_status_hints_and_service_name():
    forbidden = describe_response_error(answer(403, '{"Message": "denied"}'), "h")
    assert "lacks a permission" in forbidden
    graph = describe_response_error(answer(404, "{}"), "graph.microsoft.com", service="Microsoft Graph")
    assert graph.startswith("Microsoft Graph at graph.microsoft.com answered HTTP 404")


def test_long_details_are_clipped():
    sentence = describe_response_error(answer(400, json.dumps({"Message": "x" * 5000})), "h")
    assert len(sentence) < 450


def test_error_detail_of_odd_shapes():
    assert error_detail(None) == "" and error_detail(42) == ""
    assert error_detail([{"Message": "a"}, {"Message": "b"}]) == "a; b"


# ---- local servers: a TLS server with its own CA, and a forward proxy --------------------------


def make_ca_and_server_cert():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Corp Root CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), ca_key, cert.public_bytes(pem), key_pem


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = {"ok": True, "path": self.path} if self.path.startswith("http") else {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class serve_once:  # noqa: N801 (used as a context manager)
    """A loopback HTTP(S) server answering JSON; as a proxy it echoes the absolute URL it was asked for."""

    def __init__(self, tls_cert: str = ""):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        scheme = "http"
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()
