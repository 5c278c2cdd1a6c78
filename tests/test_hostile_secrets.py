"""Hostile servers, part 3: a secret or token a server echoes back never reaches a log, last-run.json,
Halo's Last Error or the screen, not even shortened; the files a run leaves are private to its account.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from halointegrator.errors import ConfigError
from halointegrator.local import logs, paths
from halointegrator.local.config import ConfigStore
from halointegrator.local.settings import Config, HaloSettings
from tests.e2e_world import own_logger
from tests.hostile_http import Answer, HostileServer
from tests.hostile_ldap import HostileLdap
from tests.hostile_world import (
    APP_SECRET, BIND_PASSWORD, HALO_SECRET, IntegratorFolder, assert_contained, enable_directory, enable_entra,
)

SECRETS = {HALO_SECRET, APP_SECRET, BIND_PASSWORD}


HALO_SANDBOX = {"client_secret": HALO_SECRET}  # the conftest fixtures, with the hostile world's secrets
GRAPH_TENANT, GRAPH_SECRET = {"users": 30, "devices": 0}, APP_SECRET


def bearer(request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2]


def test_a_token_answer_echoing_the_client_secret_leaves_no_piece_of_it(tmp_path, halo):
    # The secret sits where a 300-character shortening cuts the message: shortened first, it survives in part.
    description = "y" * 258 + " the secret " + HALO_SECRET + " is not the one we have"
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("POST", "/auth/token", lambda request: Answer(400, {}, json.dumps(
            {"error": "invalid_request", "error_description": description}).encode()))
        folder = IntegratorFolder(tmp_path, proxy.url)
        run = folder.auto()
    assert_contained(run, folder, secrets={HALO_SECRET}, halo=halo, says=["invalid_request"])


def test_a_halo_error_echoing_the_bearer_token_leaves_no_piece_of_it(tmp_path, halo):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("GET", "/api/instanceinfo", lambda request: Answer(400, {}, json.dumps(
            {"message": "z" * 283 + bearer(request) + " is not allowed here"}).encode()))
        folder = IntegratorFolder(tmp_path, proxy.url)
        run = folder.auto()
    assert proxy.tokens
    assert_contained(run, folder, secrets={HALO_SECRET, *proxy.tokens}, halo=halo, says=["HTTP 400"])


def test_a_graph_error_echoing_the_bearer_token_leaves_no_trace_of_it(tmp_path, halo, graph):
    with HostileServer(upstream=graph.url) as graph_proxy:
        graph_proxy.on("GET", "/v1.0/users", lambda request: Answer(400, {}, json.dumps({"error": {
            "code": "InvalidAuthenticationToken", "message": f"Access token {bearer(request)} is not valid"}}).encode()))
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_entra(halo, folder, graph_proxy.url)
        run = folder.auto()
    assert graph_proxy.tokens
    assert halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS | graph_proxy.tokens, halo=halo,
                     says=["InvalidAuthenticationToken"])


def test_a_directory_echoing_halos_bind_password_leaves_no_trace_of_it(tmp_path, halo):
    with HostileLdap(bind="echo") as ldap:
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_directory(halo, folder, ldap.port)
        run = folder.auto()
        assert ldap.binds == [BIND_PASSWORD]
    assert halo.records("ldapconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS, halo=halo, says=["unwillingToPerform"])


def test_a_directory_echoing_the_local_bind_password_leaves_no_trace_of_it(tmp_path, halo):
    with HostileLdap(bind="echo") as ldap:
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_directory(halo, folder, ldap.port, password="")
        folder.connection("active_directory:1", "--secret-env", "bind_password=HOSTILE_SECRET", secret=BIND_PASSWORD)
        run = folder.auto()
        assert ldap.binds == [BIND_PASSWORD]
    assert halo.records("ldapconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS, halo=halo, says=["unwillingToPerform"])


def test_logs_and_the_run_summary_are_private_to_the_account(tmp_path, halo, graph):
    folder = IntegratorFolder(tmp_path, halo.url)
    enable_entra(halo, folder, graph.url)
    assert folder.auto().code == 0, folder.log()[-2000:]
    log_dir = tmp_path / "logs"
    assert stat.S_IMODE((log_dir / "last-run.json").stat().st_mode) == 0o600
    for log_file in log_dir.glob("HaloIntegrator-*.log"):
        assert stat.S_IMODE(log_file.stat().st_mode) & 0o037 == 0, oct(log_file.stat().st_mode)
    assert stat.S_IMODE(log_dir.stat().st_mode) & 0o027 == 0, oct(log_dir.stat().st_mode)


# ---- local files, in this process ------------------------------------------------------------------------

def test_a_log_file_planted_as_a_symlink_is_not_written_through(tmp_path):
    log_dir, victim = tmp_path / "logs", tmp_path / "root-only.conf"
    log_dir.mkdir()
    victim.write_text("precious\n")
    today = dt.date(2026, 12, 1)
    (log_dir / f"HaloIntegrator-{today.isoformat()}.log").symlink_to(victim)
    with own_logger():
        with pytest.raises(ConfigError, match="symbolic link"):
            logger = logs.setup_logging(log_dir, today=lambda: today)
            logger.info("a line that must not land in the victim")
            logging.getLogger("halointegrator").handlers[-1].flush()
    assert victim.read_text() == "precious\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root to make a folder another user owns")
def test_a_fallback_log_folder_made_by_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / "HaloIntegrator" / "logs"
    planted.mkdir(parents=True)
    for folder in (planted.parent, planted):
        os.chown(folder, 65534, 65534)
        folder.chmod(0o777)
    chosen, note = paths.choose_log_dir(tmp_path / "cwd", check_writable=lambda folder: "Permission denied")
    assert chosen != planted and planted not in chosen.parents
    assert chosen.stat().st_uid == os.geteuid() and stat.S_IMODE(chosen.stat().st_mode) == 0o700
    assert "another user" in note


def test_a_fallback_log_folder_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path))
    chosen, _note = paths.choose_log_dir(tmp_path / "cwd", check_writable=lambda folder: "Permission denied")
    assert chosen == tmp_path / "HaloIntegrator" / "logs"
    for folder in (chosen, chosen.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, oct(folder.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_key_file_readable_by_others_is_made_private_and_said_so(tmp_path):
    config_path = tmp_path / "HaloIntegrator.config"
    store = ConfigStore(config_path)
    store.save(Config(halo=HaloSettings(web_app_url="https://x.halopsa.com", client_id="id", client_secret=HALO_SECRET)))
    key = config_path.with_suffix(".key")
    key.chmod(0o644)
    loaded = ConfigStore(config_path)
    assert loaded.load().halo.client_secret == HALO_SECRET
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert any("0644" in note and str(key) in note for note in loaded.notes), loaded.notes


def test_no_secret_reaches_stderr_even_from_an_unexpected_message(tmp_path, capsys, monkeypatch):
    from halointegrator.app import cli

    monkeypatch.chdir(tmp_path)
    logs.add_secret(HALO_SECRET)
    missing = Path(tmp_path) / f"{HALO_SECRET}.config"  # a secret pasted where a path belongs
    with own_logger():
        assert cli.main(["AUTO", "--config", str(missing)]) != 0
    assert HALO_SECRET not in capsys.readouterr().err
