"""integrator.py as a scheduled task runs it: AUTO, CONFIGURE, CHECK, exit codes, logs in the Start-in folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from halointegrator.local.config import ConfigStore
from halointegrator.local.lock import RunLock
from halointegrator.local.paths import lock_path_for
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import HALO_SECRET, REPO, configure, integrator, log_text


@pytest.fixture(scope="module")
def halo():
    with HaloSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def start_in(tmp_path):
    folder = tmp_path / "start-in"
    folder.mkdir()
    return folder


@pytest.fixture
def config(tmp_path, halo, start_in):
    path = tmp_path / "app" / "HaloIntegrator.config"
    path.parent.mkdir()
    configure(path, halo.url, cwd=start_in)
    return path


def test_configure_encrypts_the_secret_and_never_takes_it_from_argv(tmp_path, halo, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, halo.url, cwd=start_in)
    for written in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert HALO_SECRET.encode() not in written.read_bytes()
    refused = integrator("CONFIGURE", "--config", str(path), "--set", "client_secret=visible", cwd=start_in)
    assert refused.returncode == 2 and "never on the command line" in refused.stderr


def test_auto_with_nothing_enabled_exits_0_and_logs_where_it_ran(config, start_in):
    result = integrator("auto", "--config", str(config), cwd=start_in)
    assert result.returncode == 0, result.stderr
    log = log_text(start_in)
    assert "No integration is enabled" in log
    assert "Halo version 2.184.21" in log
    summary = json.loads((start_in / "logs" / "last-run.json").read_text())
    assert summary["exit_code"] == 0


def test_auto_with_stdout_and_stderr_closed(config, start_in):
    result = integrator("AUTO", "--config", str(config), cwd=start_in, close_streams=True)
    assert result.returncode == 0
    assert "No integration is enabled" in log_text(start_in)


def test_wrong_secret_exits_2_with_a_clear_log_line(tmp_path, halo, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, halo.url, cwd=start_in, secret="not-the-secret")
    result = integrator("AUTO", "--config", str(path), cwd=start_in)
    assert result.returncode == 2
    log = log_text(start_in)
    assert "Halo refused the client ID or secret" in log
    assert "not-the-secret" not in log


def test_missing_config_exits_2_and_says_how_to_create_one(tmp_path, start_in):
    result = integrator("AUTO", "--config", str(tmp_path / "none.config"), cwd=start_in)
    assert result.returncode == 2
    assert "CONFIGURE" in log_text(start_in)


def test_second_run_while_one_holds_the_lock_exits_3(config, start_in):
    with RunLock(lock_path_for(config)):
        result = integrator("AUTO", "--config", str(config), cwd=start_in)
    assert result.returncode == 3
    assert "Another Halo Integrator run is in progress" in log_text(start_in)


def test_unreachable_halo_exits_2(tmp_path, start_in):
    path = tmp_path / "HaloIntegrator.config"
    configure(path, "http://127.0.0.1:9", cwd=start_in)
    result = integrator("AUTO", "--config", str(path), cwd=start_in)
    assert result.returncode == 2
    assert "127.0.0.1:9" in log_text(start_in)


def test_check_prints_ticks(config, start_in):
    result = integrator("CHECK", "--config", str(config), cwd=start_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\u2714" in result.stdout and "Agent" in result.stdout


def test_version_and_help(start_in):
    from halointegrator import __version__

    assert __version__ in integrator("--version", cwd=start_in).stdout
    help_text = integrator("--help", cwd=start_in).stdout
    assert "AUTO" in help_text and "Exit codes" in help_text


def test_help_and_the_readme_for_the_download_name_every_integration_for_only() -> None:
    from halointegrator.app.cli import build_parser
    from integrations import REGISTRY

    only_help = " ".join(next(action.help for action in build_parser()._actions if action.dest == "only").split())
    dist_readme = " ".join((REPO / "dist-README.txt").read_text(encoding="utf-8").split())
    only_line = dist_readme[dist_readme.index("--only NAME"):][:200]
    for name in REGISTRY:
        assert name in only_help and name in only_line, name


def test_auto_does_not_import_the_gui(config, start_in):
    code = ("import sys; from halointegrator.app.cli import main; rc = main(['AUTO', '--config', sys.argv[1]]); "
            "print('gui imported' if 'halointegrator.gui' in sys.modules or 'tkinter' in sys.modules else 'no gui'); "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(config)], cwd=start_in, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
                            timeout=60)
    assert "no gui" in result.stdout, result.stdout + result.stderr


# ---- CONFIGURE and AUTO at a prompt: what they refuse, what they store, what they say --------------

def test_configure_refuses_an_unknown_connection_setting_or_integration(tmp_path, halo):
    config = tmp_path / "HaloIntegrator.config"
    configure(config, halo.url, cwd=tmp_path)
    typo = integrator("CONFIGURE", "--config", str(config), "--connection", "azure_ad:1", "--set", "grpah_url=x",
                      cwd=tmp_path)
    assert typo.returncode == 2 and "grpah_url" in typo.stderr and "graph_url" in typo.stderr
    wrong = integrator("CONFIGURE", "--config", str(config), "--connection", "azure:1", "--set", "graph_url=x",
                       cwd=tmp_path)
    assert wrong.returncode == 2 and "azure_ad" in wrong.stderr
    switch = integrator("CONFIGURE", "--config", str(config), "--connection", "active_directory:1", "--set",
                        "starttls=maybe", cwd=tmp_path)
    assert switch.returncode == 2 and "true or false" in switch.stderr
    assert ConfigStore(config).load().connections == {}
    off = integrator("CONFIGURE", "--config", str(config), "--connection", "active_directory:1", "--set",
                     "starttls=no", cwd=tmp_path)
    assert off.returncode == 0 and ConfigStore(config).load().connections == {"active_directory:1": {"starttls": False}}


def test_configure_sets_an_integrations_shared_setting_once_for_all_its_connections(tmp_path, halo):
    """The PowerShell scripts folder is one for every script: set with --connection powershell (no id), and
    refused per script with a message that says where it goes, so a script Halo adds cannot bring its own."""
    config = tmp_path / "HaloIntegrator.config"
    configure(config, halo.url, cwd=tmp_path)
    shared = integrator("CONFIGURE", "--config", str(config), "--connection", "powershell", "--set",
                        f"script_folder={tmp_path}", cwd=tmp_path)
    assert shared.returncode == 0, shared.stderr
    assert ConfigStore(config).load().connections == {"powershell:*": {"script_folder": str(tmp_path)}}
    per_script = integrator("CONFIGURE", "--config", str(config), "--connection", "powershell:10", "--set",
                            "script_folder=/elsewhere", cwd=tmp_path)
    assert per_script.returncode == 2 and "--connection powershell." in per_script.stderr
    none = integrator("CONFIGURE", "--config", str(config), "--connection", "azure_ad", "--set", "x=1", cwd=tmp_path)
    assert none.returncode == 2 and "--connection azure_ad:ID" in none.stderr
    assert ConfigStore(config).load().connections == {"powershell:*": {"script_folder": str(tmp_path)}}


def test_configure_with_a_connection_says_what_it_ignored_and_stores_only_the_connection(tmp_path, halo):
    config = tmp_path / "HaloIntegrator.config"
    configure(config, halo.url, cwd=tmp_path, secret="halo-secret-1")
    result = integrator("CONFIGURE", "--config", str(config), "--url", "https://elsewhere.example", "--secret-env",
                        "client_secret=S", "--connection", "azure_ad:1", "--secret-env", "app_secret=A",
                        cwd=tmp_path, env={"S": "other-secret-2", "A": "app-secret-1"})
    assert result.returncode == 0, result.stderr
    assert "client_secret, --url ignored" in result.stdout
    saved = ConfigStore(config).load()
    assert (saved.halo.web_app_url, saved.halo.client_secret) == (halo.url, "halo-secret-1")
    assert saved.connections == {"azure_ad:1": {"app_secret": "app-secret-1"}}


def test_configure_messages_name_only_settable_keys_in_words(tmp_path):
    config = tmp_path / "HaloIntegrator.config"
    unknown = integrator("CONFIGURE", "--config", str(config), "--set", "foo=1", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown," not in unknown.stderr and "request_budget" in unknown.stderr
    number = integrator("CONFIGURE", "--config", str(config), "--set", "request_budget=abc", cwd=tmp_path)
    assert number.returncode == 2 and "takes a whole number" in number.stderr


def test_configure_reads_an_address_without_https_as_test_configuration_does(tmp_path):
    config = tmp_path / "HaloIntegrator.config"
    done = integrator("CONFIGURE", "--config", str(config), "--url", "acme.halopsa.com", "--client-id", "id",
                      "--set", "api_url=acme.halopsa.com/api", "--secret-env", "client_secret=S", cwd=tmp_path,
                      env={"S": "secret-1"})
    assert done.returncode == 0, done.stderr
    saved = ConfigStore(config).load().halo
    assert (saved.web_app_url, saved.api_url) == ("https://acme.halopsa.com", "https://acme.halopsa.com/api")


def test_configure_into_a_missing_folder_says_the_folder_is_missing(tmp_path):
    missing = tmp_path / "no-such-folder" / "HaloIntegrator.config"
    done = integrator("CONFIGURE", "--config", str(missing), "--url", "https://acme.halopsa.com", "--client-id", "id",
                      "--secret-env", "client_secret=S", cwd=tmp_path, env={"S": "secret-1"})
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Create the folder" in done.stderr
    assert not missing.parent.exists()


def test_auto_says_why_it_failed_at_a_prompt(tmp_path):
    done = integrator("AUTO", "--config", str(tmp_path / "none.config"), cwd=tmp_path)
    assert done.returncode == 2
    assert "No configuration at" in done.stderr and "exit code 2" in done.stderr
    assert "client_secret=VARIABLE" in log_text(tmp_path)


def test_the_readme_for_the_download_names_every_setting_kept_on_this_computer() -> None:
    """--connection INTEGRATION:ID --set KEY=...: the user finds each KEY in dist-README.txt."""
    from integrations import REGISTRY

    text = (REPO / "dist-README.txt").read_text(encoding="utf-8")
    paragraph = " ".join(text[text.index("--connection INTEGRATION:ID"):].split("\n\n")[0].split())
    missing = {f"{name}: {setting.key}" for name, integration in REGISTRY.items()
               for setting in integration.local_settings if setting.key not in paragraph}
    assert not missing, missing
