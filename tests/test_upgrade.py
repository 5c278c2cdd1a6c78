"""Drop-in upgrade: a newer HaloIntegrator copied over an older one carries on with the older one's files.

tests/fixtures/config-v1.0.0/ holds what version 1.0.0 wrote (tools/make_upgrade_fixture.py): an
encrypted config with the Halo client secret and one connection secret, its key file (plain kind, so
it opens anywhere) and the local state with a Graph delta link. Never regenerate it: every later
version must read these very files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from halointegrator.engine.status import StatusStore
from halointegrator.local.config import ConfigStore
from halointegrator.local.logs import LOG_FILE_PATTERN
from tests.fixtures_frozen import build_binary, install_binary, log_text, next_patch_version, run_binary, run_unattended

FIXTURE = Path(__file__).parent / "fixtures" / "config-v1.0.0"
FIXTURE_FILES = ("HaloIntegrator.config", "HaloIntegrator.key", "HaloIntegrator.state")
HALO_SECRET = "v1.0.0-fixture-Halo-client-secret"
APP_SECRET = "v1.0.0-fixture-Entra-app-secret"
DELTA_LINK = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=v1.0.0-fixture-delta-token"


def copy_fixture(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIXTURE_FILES:
        shutil.copyfile(FIXTURE / name, folder / name)
    return folder / "HaloIntegrator.config"


def test_the_fixture_is_what_1_0_0_wrote() -> None:
    """Guards the fixture itself: encrypted secrets, a plain key, the delta link."""
    document = json.loads((FIXTURE / "HaloIntegrator.config").read_text(encoding="utf-8"))
    assert document["schema"] == 1
    assert set(document["halo"]["client_secret"]) == {"fernet"}
    assert set(document["connections"]["azure_ad:1"]["app_secret"]) == {"fernet"}
    raw = b"".join((FIXTURE / name).read_bytes() for name in FIXTURE_FILES)
    assert HALO_SECRET.encode() not in raw and APP_SECRET.encode() not in raw
    assert (FIXTURE / "HaloIntegrator.key").read_bytes().startswith(b"halointegrator-key 1 plain\n")


def test_current_source_reads_the_1_0_0_config_and_state(tmp_path: Path) -> None:
    config_path = copy_fixture(tmp_path)

    config = ConfigStore(config_path).load()

    assert config.halo.web_app_url == "https://acme.halopsa.com"
    assert (config.halo.client_id, config.halo.client_secret) == ("halo-integrator", HALO_SECRET)
    assert (config.halo.tenant, config.halo.request_budget, config.halo.verify_tls) == ("acme", 250, True)
    assert config.connections["azure_ad:1"]["app_secret"] == APP_SECRET
    assert config.options == {"allow_mass_deactivation": False}
    assert config.gui == {"size": "900x640", "tab": "processes"}
    state = StatusStore(config_path.with_suffix(".state")).load()
    assert state["azure_ad:1"].source["users_delta"] == DELTA_LINK  # 1.0.0 kept only the source state
    assert state["azure_ad:1"].kinds == {}  # no sync status yet: the Entra reader reads in full once


def test_current_source_saves_the_1_0_0_config_with_the_same_key(tmp_path: Path) -> None:
    config_path = copy_fixture(tmp_path)
    store = ConfigStore(config_path)
    config = store.load()
    config.halo.tenant = "acme2"

    store.save(config)

    assert (tmp_path / "HaloIntegrator.key").read_bytes() == (FIXTURE / "HaloIntegrator.key").read_bytes()
    reloaded = ConfigStore(config_path).load()
    assert (reloaded.halo.tenant, reloaded.halo.client_secret) == ("acme2", HALO_SECRET)
    assert reloaded.connections["azure_ad:1"]["app_secret"] == APP_SECRET


@pytest.fixture(scope="module")
def newer_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second build from the same source that claims the next patch version."""
    return build_binary(tmp_path_factory.mktemp("frozen-next"), version=next_patch_version())


@pytest.mark.frozen
def test_a_newer_exe_copied_over_the_old_one_keeps_config_state_and_logs(
    frozen_binary: Path, newer_binary: Path, tmp_path: Path
) -> None:
    from sandbox.halo_server import HaloSandbox

    folder = tmp_path / "HaloIntegrator"
    config_path = copy_fixture(folder)
    old_exe = install_binary(frozen_binary, folder)
    with HaloSandbox(client_id="halo-integrator", client_secret=HALO_SECRET, tenant="sandbox") as halo:
        # The 1.0.0 user's Halo is the sandbox: only the URL and tenant change, the secret stays encrypted.
        configure_url(old_exe, folder, halo.url)
        assert run_unattended(old_exe, "AUTO", cwd=folder) == 0
        before = snapshot(folder)
        old_log = log_text(folder)

        new_exe = install_binary(newer_binary, folder)
        assert new_exe == old_exe
        assert run_binary(new_exe, "--version", cwd=folder).stdout.strip() == f"Halo Integrator {next_patch_version()}"
        assert run_unattended(new_exe, "AUTO", cwd=folder) == 0

    after = snapshot(folder)
    assert after["config"] == before["config"] and after["key"] == before["key"]
    config = ConfigStore(config_path).load()
    assert (config.halo.client_secret, config.connections["azure_ad:1"]["app_secret"]) == (HALO_SECRET, APP_SECRET)
    assert after["state"]["connections"]["azure_ad:1"]["source"]["users_delta"] == DELTA_LINK  # schema 2 now
    new_log = log_text(folder)
    assert new_log.startswith(old_log)  # appended, not replaced
    assert f"Halo Integrator {next_patch_version()} AUTO" in new_log[len(old_log):]
    assert "Halo version 2." in new_log[len(old_log):]
    assert "No integration is enabled" in new_log[len(old_log):]
    summary = json.loads((folder / "logs" / "last-run.json").read_text(encoding="utf-8"))
    assert (summary["version"], summary["exit_code"]) == (next_patch_version(), 0)
    assert all(LOG_FILE_PATTERN.match(path.name) for path in (folder / "logs").glob("*.log"))


def configure_url(exe: Path, folder: Path, url: str) -> None:
    result = run_binary(exe, "CONFIGURE", "--url", url, "--set", "tenant=sandbox", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr


def snapshot(folder: Path) -> dict:
    return {
        "config": (folder / "HaloIntegrator.config").read_bytes(),
        "key": (folder / "HaloIntegrator.key").read_bytes(),
        "state": json.loads((folder / "HaloIntegrator.state").read_text(encoding="utf-8")),
    }
