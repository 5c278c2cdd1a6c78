"""Hostile and broken input, the smaller cases: CONFIGURE refuses what cannot work and says what to type;
certificate failures are explained as what they are; a full disk is called a full disk; a DN means the
same whichever escapes spell it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from halointegrator.errors import ConfigError, HaloError
from halointegrator.halo.client import HaloClient
from halointegrator.local import config as config_module
from halointegrator.local.config import write_advice
from halointegrator.local.settings import HaloSettings
from integrations.active_directory.mapping import MappingScope, dn_key, normalize_dn, scope_finder
from tests.cli_helpers import INTEGRATOR, integrator
from tests.hostile_http import HostileServer, HostileTls

SECRET_ENV = {"HOSTILE_SECRET": "a-secret-value-1"}


def configure(tmp_path, *args, env=None, stdin=None, timeout=30):
    return integrator("CONFIGURE", "--config", str(tmp_path / "HaloIntegrator.config"), *args, cwd=tmp_path,
                      env={**SECRET_ENV, **(env or {})}, stdin=stdin, timeout=timeout)


def assert_refused(result, tmp_path, *words):
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    for word in words:
        assert word.lower() in text.lower(), text
    assert not list(tmp_path.glob("HaloIntegrator.*")), "a refused CONFIGURE left files behind"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "notaurl", "halo.example.com:99999", "https://[::1",
                                 "ftp://halo.example.com", "https://", "https://user:pw@halo.example.com"])
def test_configure_refuses_an_address_that_cannot_work_and_says_what_to_type(tmp_path, url):
    result = configure(tmp_path, "--url", url, "--client-id", "id", "--secret-env", "client_secret=HOSTILE_SECRET")
    assert_refused(result, tmp_path, "https://yourcompany.halopsa.com")


def test_configure_reports_a_bad_address_and_an_unset_variable_together(tmp_path):
    result = configure(tmp_path, "--url", "ftp://x", "--client-id", "id", "--secret-env", "client_secret=HOSTILE_UNSET")
    assert_refused(result, tmp_path, "ftp://x", "HOSTILE_UNSET")


@pytest.mark.parametrize("setting", ["client_secret =x", " client_secret=x", "Client_Secret=x", "bind_password =x"])
def test_configure_refuses_a_secret_on_the_command_line_however_it_is_spaced(tmp_path, setting):
    result = configure(tmp_path, "--url", "https://x.halopsa.com", "--client-id", "id", "--set", setting)
    assert_refused(result, tmp_path, "--secret-env")


def test_secret_env_without_a_variable_says_how_to_write_it(tmp_path):
    result = configure(tmp_path, "--url", "https://x.halopsa.com", "--client-id", "id", "--secret-env", "client_secret")
    assert_refused(result, tmp_path, "client_secret=VARIABLE")


def test_an_empty_config_path_is_refused(tmp_path):
    result = integrator("CONFIGURE", "--config", "", "--url", "https://x.halopsa.com", cwd=tmp_path)
    assert_refused(result, tmp_path, "--config")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("command", ["AUTO", "CONFIGURE", "CHECK"])
def test_a_config_that_is_a_fifo_is_refused_instead_of_hanging(tmp_path, command):
    fifo = tmp_path / "HaloIntegrator.config"
    os.mkfifo(fifo)
    result = integrator(command, "--config", str(fifo), cwd=tmp_path, timeout=30)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr


def run_with_bytes(tmp_path, args: list[bytes], env_extra: dict[bytes, bytes] | None = None, stdin: bytes = b""):
    env = {key.encode(): value.encode() for key, value in os.environ.items() if key != "DISPLAY"}
    env.update(env_extra or {})
    command = [sys.executable.encode(), str(INTEGRATOR).encode(), b"CONFIGURE", b"--config",
               str(tmp_path / "HaloIntegrator.config").encode(), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, input=stdin, capture_output=True, timeout=30)


@pytest.mark.parametrize("case", ["client id", "variable", "stdin"])
def test_text_that_is_not_utf8_is_refused_without_a_traceback_or_a_stray_key(tmp_path, case):
    args = [b"--url", b"https://x.halopsa.com", b"--client-id", b"id"]
    env, stdin = {}, b""
    if case == "client id":
        args[3] = b"id\xff\xfe"
        args += [b"--secret-env", b"client_secret=HOSTILE_SECRET"]
    elif case == "variable":
        env = {b"HOSTILE_BYTES": b"secret\xff\xfe"}
        args += [b"--secret-env", b"client_secret=HOSTILE_BYTES"]
    else:
        args += [b"--secret-stdin", b"client_secret"]
        stdin = b"secret\xff\xfe\n"
    result = run_with_bytes(tmp_path, args, env, stdin)
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 2 and "Traceback" not in text and "UTF-8" in text, text
    assert not list(tmp_path.glob("HaloIntegrator.*")), "a refused CONFIGURE left files behind"


# ---- certificates -------------------------------------------------------------------------------------

@pytest.mark.parametrize("problem, words", [("wrong name", "does not name 127.0.0.1"), ("expired", "expired")])
def test_a_certificate_problem_is_explained_as_what_it_is(tmp_path, problem, words):
    tls = HostileTls(tmp_path, names=["wrong.example"] if problem == "wrong name" else None,
                     expired=problem == "expired")
    with HostileServer(tls=tls) as server:
        settings = HaloSettings(web_app_url=server.url, client_id="id", client_secret="secret-1",
                                ca_bundle=str(tls.ca_file), api_url=server.url + "/api",
                                auth_url=server.url + "/auth", tenant="t")
        with HaloClient(settings) as client, pytest.raises(HaloError) as raised:
            client.token()
    message = str(raised.value)
    assert words in message and "does not include the authority" not in message, message


# ---- the state file on a full disk --------------------------------------------------------------------

def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_called_a_full_disk_not_a_permission_problem(tmp_path, monkeypatch):
    advice = write_advice(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "HaloIntegrator.state")
    assert "full" in advice and "free some space" in advice.lower() and "who may write" not in advice
    monkeypatch.setattr(config_module, "write_atomic", full_disk)
    with pytest.raises(ConfigError, match="is full"):
        config_module.ConfigStore(tmp_path / "HaloIntegrator.config").save(config_module.Config())


def test_a_full_disk_while_saving_the_state_says_so(tmp_path, monkeypatch):
    from halointegrator.engine import status

    monkeypatch.setattr(status, "write_atomic", full_disk)
    with pytest.raises(ConfigError) as raised:
        status.StatusStore(tmp_path / "HaloIntegrator.state").save({})
    message = str(raised.value).lower()
    assert "is full" in message and "permissions" not in message, message


# ---- DNs as Active Directory compares them ------------------------------------------------------------

SAME_DNS = [
    (r"OU=Sales\, EMEA,DC=corp,DC=example", r"ou=sales\2c emea,dc=corp,dc=example"),
    (r"OU=Sales\2C EMEA,DC=corp,DC=example", r"OU=SALES\, EMEA,DC=Corp,DC=Example"),
    (r"CN=Smith\+Jones,OU=Staff,DC=x", r"cn=smith\2bjones,ou=staff,dc=x"),
    (r"CN=O\'Neil\, Pat,OU=Staff,DC=x", r"CN=O'Neil\2C Pat,OU=Staff,DC=x"),
    ("OU = Staff , DC = x", "ou=staff,dc=x"),
    (r"CN=a+UID=b,DC=x", r"UID=b+CN=a,DC=x"),
    (r"CN=\#hash,DC=x", r"CN=\23hash,DC=x"),
    ("CN=Zoë,DC=x", r"CN=Zo\C3\AB,DC=x"),
]
DIFFERENT_DNS = [
    (r"OU=Sales\, EMEA,DC=corp,DC=example", "OU=Sales,OU=EMEA,DC=corp,DC=example"),
    (r"CN=a\ ,DC=x", "CN=a,DC=x"),  # an escaped trailing space belongs to the value
    ("OU=Staff,DC=x", "OU=Staff,DC=y"),
]


@pytest.mark.parametrize("first, second", SAME_DNS)
def test_one_dn_in_any_spelling_is_the_same_dn(first, second):
    assert normalize_dn(first) == normalize_dn(second)
    assert dn_key(first) == dn_key(second)
    assert scope_finder([MappingScope("second", second)])(first) == second
    assert scope_finder([MappingScope("first", first)])(second) == first


@pytest.mark.parametrize("first, second", DIFFERENT_DNS)
def test_different_dns_stay_different(first, second):
    assert normalize_dn(first) != normalize_dn(second)


def test_an_ou_written_with_one_escape_still_owns_its_people_written_with_the_other():
    scopes = [MappingScope("Sales", r"OU=Sales\, EMEA,DC=corp,DC=example", site_id=2)]
    find = scope_finder(scopes)
    assert find(r"CN=Ada Lovelace,OU=Sales\2C EMEA,DC=corp,DC=example") == scopes[0].dn
    assert find(r"cn=ada lovelace,ou=sales\, emea,dc=CORP,dc=example") == scopes[0].dn
    assert find("CN=Ada Lovelace,OU=Sales,OU=EMEA,DC=corp,DC=example") == ""
