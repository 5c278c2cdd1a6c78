"""What an administrator meets at the command line and in the integration tabs (found in a UX review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from halointegrator.local.config import ConfigStore
from halointegrator.gui.integration_tab import merge_checks
from halointegrator.local.logs import redact
from halointegrator.engine.model import Check
from integrations import REGISTRY
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import configure, integrator, log_text


@pytest.fixture(scope="module")
def halo():
    with HaloSandbox() as sandbox:
        yield sandbox


def test_entra_prerequisites_show_each_check_once_beside_its_prerequisite():
    from integrations.entra import checks as entra
    checks = [Check("App secret stored locally", True, "stored", "secret"),
              Check("Microsoft token obtained", True, "t", "token"), Check("User.Read.All granted", True, "ok", "users"),
              Check(entra.DEVICES.label, True, "devices can be read", "devices"),
              Check(entra.ASSET_TYPE.label, True, "asset type 1", "assettype"),
              Check("Group 'Sales' exists in Entra ID", True, "1 group(s)", "groups"),
              Check("Site 1 exists in Halo", True, "HQ", "sites")]
    rows = merge_checks(REGISTRY["azure_ad"].prerequisites, checks)
    assert [mark for mark, _label, _detail in rows] == [True] * len(checks)  # no dot left for a check that ran
    labels = [label for _mark, label, _detail in rows]
    assert labels.index("Default asset type chosen (devices)") < labels.index("Group 'Sales' exists in Entra ID") \
        < labels.index("Site 1 exists in Halo")


def test_a_failed_token_leaves_the_later_prerequisites_as_not_checked():
    checks = [Check("Microsoft token obtained", False, "no", "token")]
    rows = merge_checks(REGISTRY["azure_ad"].prerequisites, checks)
    assert (None, "Each mapped group exists in Entra ID", "") in rows


def test_the_log_keeps_the_secret_env_instruction_readable():
    text = "run HaloIntegrator CONFIGURE --secret-env client_secret=VARIABLE."
    assert redact(text) == text
    assert redact("client_secret=hunter2-real") == "client_secret=***"


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


def test_auto_says_why_it_failed_at_a_prompt(tmp_path):
    done = integrator("AUTO", "--config", str(tmp_path / "none.config"), cwd=tmp_path)
    assert done.returncode == 2
    assert "No configuration at" in done.stderr and "exit code 2" in done.stderr
    assert "client_secret=VARIABLE" in log_text(tmp_path)


def test_the_scheduled_task_names_a_relative_config_by_its_full_path(tmp_path, monkeypatch):
    from halointegrator.local.schedule import task_for_program

    monkeypatch.chdir(tmp_path)
    program = tmp_path / "app" / "HaloIntegrator.exe"
    task = task_for_program(frozen=True, executable=program, script=program, config_path=Path("other.config"),
                            default_config_path=program.parent / "HaloIntegrator.config")
    assert task.arguments == ("AUTO", "--config", str(tmp_path / "other.config"))
    default = program.parent / "HaloIntegrator.config"
    same = task_for_program(frozen=True, executable=program, script=program, config_path=default,
                            default_config_path=default)
    assert same.arguments == ("AUTO",)


def test_configure_reads_an_address_without_https_as_test_configuration_does(tmp_path):
    config = tmp_path / "HaloIntegrator.config"
    done = integrator("CONFIGURE", "--config", str(config), "--url", "acme.halopsa.com", "--client-id", "id",
                      "--set", "api_url=acme.halopsa.com/api", "--secret-env", "client_secret=S", cwd=tmp_path,
                      env={"S": "secret-1"})
    assert done.returncode == 0, done.stderr
    saved = ConfigStore(config).load().halo
    assert (saved.web_app_url, saved.api_url) == ("https://acme.halopsa.com", "https://acme.halopsa.com/api")


@pytest.mark.gui
def test_save_accepts_the_address_test_configuration_called_valid(make_app):
    app = make_app()
    app.config_tab.basic.variables["web_app_url"].set("acme.halopsa.com")
    app.config_tab.basic.variables["client_id"].set("id")
    app.config_tab.basic.variables["client_secret"].set("secret-1")
    assert app.save(), app.dialogs.calls
    assert ConfigStore(app.config_path).load().halo.web_app_url == "https://acme.halopsa.com"


def test_a_failed_connection_is_not_logged_as_finished(caplog):
    import logging

    from halointegrator.engine.model import Report
    from halointegrator.engine.runner import log_report

    log = logging.getLogger("review-ux")
    with caplog.at_level(logging.INFO, logger="review-ux"):
        log_report(Report("active_directory", "HQ", failure="no OU mapping"), "Active Directory", log)
        log_report(Report("active_directory", "HQ"), "Active Directory", log)
    assert caplog.messages == ["Active Directory: HQ failed: no OU mapping",  # the failure itself is named
                               "Active Directory: HQ stopped by that failure; done before it: nothing",
                               "Active Directory: HQ finished: nothing to change"]


def test_configure_into_a_missing_folder_says_the_folder_is_missing(tmp_path):
    missing = tmp_path / "no-such-folder" / "HaloIntegrator.config"
    done = integrator("CONFIGURE", "--config", str(missing), "--url", "https://acme.halopsa.com", "--client-id", "id",
                      "--secret-env", "client_secret=S", cwd=tmp_path, env={"S": "secret-1"})
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Create the folder" in done.stderr
    assert not missing.parent.exists()
