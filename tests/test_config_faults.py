"""A damaged local configuration under `integrator.py AUTO` (as a scheduled task runs it) and CONFIGURE.

Each case: exit code 2, a sentence in the log (and the run summary) that says what is wrong and what to
do, and the config and key files exactly as they were (bytes, mode and time): the Integrator never
"repairs" a file it cannot read, because that would destroy the secrets in it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from halointegrator.local import keystore
from halointegrator.local.paths import key_path_for, state_path_for
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import configure, integrator, log_text


@pytest.fixture(scope="module")
def halo():
    with HaloSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def setup(tmp_path, halo):
    """A good config (with an encrypted secret) in app/, the Start-in folder apart."""
    app, start_in = tmp_path / "app", tmp_path / "start-in"
    app.mkdir()
    start_in.mkdir()
    config = app / "HaloIntegrator.config"
    configure(config, halo.url, cwd=start_in)
    configure(config, halo.url, cwd=start_in, extra=("--connection", "azure_ad:1", "--secret-env",
                                                     "app_secret=HALO_TEST_SECRET"))
    return config, start_in


def fingerprint(folder: Path) -> dict[str, tuple]:
    """Every file of the config's folder: bytes, mode and modification time."""
    return {path.name: (path.read_bytes(), stat.S_IMODE(path.stat().st_mode), path.stat().st_mtime_ns)
            for path in sorted(folder.iterdir()) if path.is_file()}


def auto_refuses(config: Path, start_in: Path, *words: str) -> str:
    before = fingerprint(config.parent)
    result = integrator("AUTO", "--config", str(config), cwd=start_in)
    log = log_text(start_in)
    assert result.returncode == 2, log
    for word in words:
        assert word in log
    summary = json.loads((start_in / "logs" / "last-run.json").read_text())
    assert summary["exit_code"] == 2 and words[0] in summary["message"]
    assert "Traceback" not in log and "Internal error" not in log
    assert fingerprint(config.parent) == before
    return log


def damage(path: Path, data: bytes) -> None:
    """Replace the content, keeping the file's identity (what a crashed editor or a full disk leaves)."""
    path.write_bytes(data)


def test_a_truncated_config(setup):
    config, start_in = setup
    damage(config, config.read_bytes()[: len(config.read_bytes()) // 2])
    auto_refuses(config, start_in, "is damaged or truncated: it is not valid JSON", "The file was not changed")


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe garbage \x80\x81",
    b"",
    b"[1, 2, 3]",
    b'{"schema": 1, "halo": "not an object"}',
    b'{"schema": 1, "halo": {"timeout_seconds": "sixty"}}',
    b"[" * 100_000 + b"]" * 100_000,
], ids=["binary", "empty", "a list", "halo not an object", "wrong type", "nested 100,000 deep"])
def test_a_garbage_config(setup, garbage):
    config, start_in = setup
    damage(config, garbage)
    auto_refuses(config, start_in, str(config))


@pytest.mark.parametrize("setting, value, words", [
    ("timeout_seconds", "NaN", "timeout"),
    ("timeout_seconds", "Infinity", "timeout"),
    ("timeout_seconds", '"sixty"', '"timeout_seconds" should be float'),
    ("page_size", "1e400", '"page_size" should be int'),
    ("budget_window_seconds", "1" + "0" * 400, '"budget_window_seconds" should be int'),
    ("request_budget", "-1", "request budget"),
])
def test_a_setting_edited_by_hand_into_nonsense(setup, setting, value, words):
    config, start_in = setup
    text = config.read_text()
    document = json.loads(text)
    document["halo"][setting] = "@@VALUE@@"
    damage(config, json.dumps(document).replace('"@@VALUE@@"', value).encode())
    assert words in auto_refuses(config, start_in, str(config))


def test_secrets_under_another_key(setup):
    config, start_in = setup
    key_file = key_path_for(config)
    key_file.unlink()
    keystore.write_key(key_file, Fernet.generate_key())
    auto_refuses(config, start_in, "cannot be decrypted with the key", "the Halo Client Secret",
                 "app_secret of connection azure_ad:1")


def test_the_key_file_missing(setup):
    config, start_in = setup
    key_path_for(config).unlink()
    auto_refuses(config, start_in, "but their key file", "is missing")
    assert not key_path_for(config).exists()  # not silently replaced by a new, useless key


@pytest.mark.parametrize("content", [b"", b"not a key", b"halointegrator-key 1 plain\n%%%\n",
                                     b"halointegrator-key 1 dpapi-machine\nAAAA\n"],
                         ids=["empty", "text", "bad base64", "DPAPI from Windows"])
def test_a_damaged_key_file(setup, content):
    config, start_in = setup
    damage(key_path_for(config), content)
    auto_refuses(config, start_in, "Cannot decrypt the secrets in", str(key_path_for(config)))


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads any file; POSIX modes")
def test_an_unreadable_config(setup):
    config, start_in = setup
    config.chmod(0)
    try:
        auto_refuses(config, start_in, "Cannot read the config file")
    finally:
        config.chmod(0o600)


def test_a_config_that_cannot_be_read(setup):
    """What an unreadable file gives (root reads any file, so a folder in its place stands in here)."""
    config, start_in = setup
    config.unlink()
    config.mkdir()
    auto_refuses(config, start_in, "Cannot read the config file", "Run the integrator as a user who may read it")
    assert config.is_dir() and not any(config.iterdir())


def test_a_read_only_config_runs_and_configure_refuses_to_change_it(setup):
    config, start_in = setup
    config.chmod(0o400)
    before = fingerprint(config.parent)
    assert integrator("AUTO", "--config", str(config), cwd=start_in).returncode == 0, log_text(start_in)
    changed = integrator("CONFIGURE", "--config", str(config), "--set", "page_size=50", cwd=start_in)
    assert changed.returncode == 2
    assert "is read-only, so the settings were not saved" in changed.stderr
    after = fingerprint(config.parent)
    assert after[config.name] == before[config.name] and after[key_path_for(config).name] == before[key_path_for(config).name]


def test_a_config_from_a_newer_version_is_read_but_never_overwritten(setup):
    config, start_in = setup
    document = json.loads(config.read_text())
    document.update(schema=99, future_section={"kept": True})
    document["halo"]["future_setting"] = 7
    damage(config, json.dumps(document).encode())
    before = fingerprint(config.parent)
    assert integrator("AUTO", "--config", str(config), cwd=start_in).returncode == 0, log_text(start_in)
    changed = integrator("CONFIGURE", "--config", str(config), "--set", "page_size=50", cwd=start_in)
    assert changed.returncode == 2 and "newer Halo Integrator" in changed.stderr
    assert fingerprint(config.parent)[config.name] == before[config.name]


def test_a_damaged_state_file_is_set_aside_and_the_run_goes_on(setup):
    config, start_in = setup
    state = state_path_for(config)
    damage(state, b'{"azure_ad:1": {"users_delta": "https://graph')
    result = integrator("AUTO", "--config", str(config), cwd=start_in)
    assert result.returncode == 0
    assert "is damaged or from a newer version and was set aside" in log_text(start_in)
    kept = [path for path in config.parent.iterdir() if path.name.startswith(state.name + ".damaged-")]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b'{"azure_ad:1"')
    assert json.loads(state.read_text())["schema"] == 2  # the run's own state, written afresh
