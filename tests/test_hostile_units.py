"""The pieces the hostile suite stands on, one at a time: the Windows ACL command, the deadline and its
grace for the status write-back, one redaction before any shortening, the LDAP socket's bounds, and the
links Graph may not lead the token to."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import responses

from halointegrator import redaction
from halointegrator.deadline import Deadline, RunTimedOut
from halointegrator.halo.client import HaloClient
from halointegrator.local import acl, fileio
from halointegrator.local.settings import HaloSettings
from integrations.active_directory.bounds import BoundedSocket
from integrations.entra.graph import DeltaExpired, GraphClient, GraphError

WINDOWS_USER = {"USERNAME": "halo-admin", "USERDOMAIN": "CORP"}


# ---- Windows ACLs ---------------------------------------------------------------------------------------

def test_the_icacls_command_for_a_file_and_for_a_folder():
    granted = acl.accounts(WINDOWS_USER)
    assert acl.icacls_command(Path("C:/Halo/HaloIntegrator.key"), folder=False, granted=granted) == [
        "icacls", str(Path("C:/Halo/HaloIntegrator.key")), "/inheritance:r", "/grant:r",
        "*S-1-5-18:F", "*S-1-5-32-544:F", "CORP\\halo-admin:F", "/Q"]
    assert acl.icacls_command(Path("C:/Halo/logs"), folder=True, granted=granted)[4:7] == [
        "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", "CORP\\halo-admin:(OI)(CI)F"]


def test_the_task_account_is_granted_too_and_named_once():
    try:
        acl.set_task_account("CORP\\svc-halo")
        assert acl.accounts(WINDOWS_USER) == ["*S-1-5-18", "*S-1-5-32-544", "CORP\\halo-admin", "CORP\\svc-halo"]
        acl.set_task_account("corp\\HALO-ADMIN")
        assert acl.accounts(WINDOWS_USER) == ["*S-1-5-18", "*S-1-5-32-544", "CORP\\halo-admin"]
    finally:
        acl.set_task_account("")


def test_protect_runs_icacls_without_a_console_window_on_windows_only(tmp_path):
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, 0, b"", b"")

    assert acl.protect(tmp_path / "f", system="posix", run=run) == "" and not calls
    assert acl.protect(tmp_path / "f", system="nt", run=run, environ=WINDOWS_USER) == ""
    command, options = calls[0]
    assert command[0] == "icacls" and options["creationflags"] == acl.CREATE_NO_WINDOW and options["timeout"]


def test_a_failing_icacls_is_a_warning_that_says_what_to_check(tmp_path):
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 5, b"", b"Access is denied.")

    warning = acl.protect(tmp_path / "HaloIntegrator.key", system="nt", run=run, environ=WINDOWS_USER)
    assert "Access is denied" in warning and "Properties > Security" in warning


def test_an_atomic_write_protects_the_new_file_before_it_takes_the_old_ones_place(tmp_path, monkeypatch):
    target = tmp_path / "HaloIntegrator.state"
    seen = []
    monkeypatch.setattr(acl, "protect", lambda path, **kw: seen.append((Path(path), target.exists())) or "")
    fileio.write_atomic(target, b"{}")
    (protected, target_existed), = seen
    assert protected != target and protected.parent == target.parent and not target_existed


# ---- one redaction, before any shortening ----------------------------------------------------------------

def test_text_is_redacted_whole_before_it_is_shortened():
    redaction.add_secret("Unit.Secret.7h3k2m9q")
    text = "x" * 95 + "Unit.Secret.7h3k2m9q tail"
    assert redaction.shorten(text, 100) == "x" * 95 + "*** …"


def test_secrets_a_halo_record_carries_are_learnt():
    redaction.learn_secrets({"id": 1, "integrator_password": "Learnt.Pw.2b8x", "ldap_strings": [
        {"name": "Staff", "client_secret": "Learnt.Secret.5t"}], "password_hint": "plain"})
    assert redaction.redact("Learnt.Pw.2b8x and Learnt.Secret.5t") == "*** and ***"


# ---- the deadline, and what is still sent after it -----------------------------------------------------

API = "https://halo.example.com/api"


@responses.activate
def test_after_the_deadline_only_the_status_write_back_is_sent():
    responses.post("https://halo.example.com/auth/token", json={"access_token": "t-unit", "expires_in": 3600})
    responses.post(f"{API}/LDAPConnection", json=[{"id": 1}])
    now = [0.0]
    deadline = Deadline(60, clock=lambda: now[0], grace=30)
    settings = HaloSettings(web_app_url="https://halo.example.com", client_id="id", client_secret="unit-secret",
                            api_url=API, auth_url="https://halo.example.com/auth", tenant="t")
    client = HaloClient(settings, deadline=deadline)
    now[0] = 61.0
    with pytest.raises(RunTimedOut, match="run_time_limit_minutes"):
        client.get("Users")
    with pytest.raises(RunTimedOut):
        client.post("Users", [{"name": "New"}], idempotent=False)
    client.post("LDAPConnection", [{"id": 1, "halointegrator_lasterror": "stopped"}], idempotent=True)
    assert [call.request.url for call in responses.calls][-1] == f"{API}/LDAPConnection"
    now[0] = 95.0  # past the grace too
    with pytest.raises(RunTimedOut):
        client.post("LDAPConnection", [{"id": 1, "halointegrator_lasterror": "stopped"}], idempotent=True)


# ---- the LDAP socket's bounds -------------------------------------------------------------------------

class FakeSocket:
    def __init__(self, chunk: bytes) -> None:
        self.chunk, self.timeouts = chunk, []

    def settimeout(self, seconds):
        self.timeouts.append(seconds)

    def recv(self, size, *flags):
        return self.chunk


def test_an_ldap_operation_may_not_read_more_than_its_bytes():
    bounded = BoundedSocket(FakeSocket(b"x" * 1000), Deadline(None), per_read=60)
    bounded.start(max_bytes=2500)
    bounded.recv(4096), bounded.recv(4096)
    with pytest.raises(OSError, match="more than"):
        bounded.recv(4096)


def test_each_ldap_read_waits_no_longer_than_the_operation_has_left():
    fake = FakeSocket(b"x")
    bounded = BoundedSocket(fake, Deadline(None), per_read=60)
    bounded.start(seconds=5)
    bounded.recv(10)
    assert fake.timeouts[-1] <= 5
    bounded.start(seconds=0)
    with pytest.raises(socket.timeout):
        bounded.recv(10)
    assert "within 0 s" in bounded.failure and not bounded.deadline_hit


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
