"""The encrypted config store: round trips, secrets never in clear, atomic saves, clear failures."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from halointegrator.engine.status import ConnectionState, StatusStore
from halointegrator.local import config as config_module
from halointegrator.local import fileio
from halointegrator.local import keystore
from halointegrator.local.config import (
    MIGRATIONS, SCHEMA_VERSION, Config, ConfigStore, HaloSettings, UnreadableSecrets,
)
from halointegrator.errors import ConfigError

CLIENT_SECRET = "Cl1ent-Secret-7f3a9c2e-unique"
APP_SECRET = "AppSecret~Qz81-unique"
LDAP_PASSWORD = "Ldap-P@ssw0rd-unique"
PROXY_PASSWORD = "Pr0xy-pass-unique"
ALL_SECRETS = (CLIENT_SECRET, APP_SECRET, LDAP_PASSWORD, PROXY_PASSWORD)


def full_config() -> Config:
    config = Config(
        halo=HaloSettings(
            web_app_url="https://acme.halopsa.com",
            client_id="0b6d7d6e-1f2a-4c9e-9a55-3b8f0e3f2c11",
            client_secret=CLIENT_SECRET,
            proxy=f"http://proxyuser:{PROXY_PASSWORD}@proxy.acme.local:3128",
            page_size=250,
        ),
        options={"allow_mass_deactivation": False},
        gui={"geometry": "900x600+10+10", "tab": 2},
    )
    config.connection("azure_ad", 3).update(app_secret=APP_SECRET, tenant_hint="acme")
    config.connection("active_directory", 1).update(bind_password=LDAP_PASSWORD, ca_file="C:\\ca.pem")
    return config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def store(folder: Path) -> ConfigStore:
    return ConfigStore(folder / "HaloIntegrator.config")


@pytest.fixture
def saved(store: ConfigStore) -> ConfigStore:
    store.save(full_config())
    return store


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def assert_no_plaintext(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in ALL_SECRETS:
                assert secret.encode() not in content, f"{secret} in clear in {path.name}"


def test_round_trip_keeps_every_setting(saved: ConfigStore):
    loaded = ConfigStore(saved.path).load()
    assert loaded == full_config()


def test_missing_file_loads_defaults_and_creates_nothing(store: ConfigStore, folder: Path):
    assert not store.exists()
    assert store.load() == Config()
    assert list(folder.iterdir()) == []


def test_secrets_are_fernet_tokens_and_never_in_clear(saved: ConfigStore, folder: Path):
    doc = json.loads(saved.path.read_text())
    assert set(doc["halo"]["client_secret"]) == {"fernet"}
    assert doc["halo"]["client_secret"]["fernet"].startswith("gAAAA")
    assert set(doc["halo"]["proxy"]) == {"fernet"}
    assert set(doc["connections"]["azure_ad:3"]["app_secret"]) == {"fernet"}
    assert set(doc["connections"]["active_directory:1"]["bind_password"]) == {"fernet"}
    assert doc["connections"]["azure_ad:3"]["tenant_hint"] == "acme"  # not a secret: plain
    StatusStore(folder / "HaloIntegrator.state").save(
        {"azure_ad:3": ConnectionState(source={"delta": "https://graph/delta?token=x"})})
    assert_no_plaintext(folder)


def test_proxy_without_credentials_stays_plain(store: ConfigStore):
    store.save(Config(halo=HaloSettings(proxy="http://proxy.acme.local:3128")))
    assert json.loads(store.path.read_text())["halo"]["proxy"] == "http://proxy.acme.local:3128"
    assert not store.key_path.exists()  # nothing secret: no key needed


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_config_key_and_state_files_are_0600(saved: ConfigStore, folder: Path):
    state = StatusStore(folder / "HaloIntegrator.state")
    state.save({"x:1": ConnectionState()})
    for path in (saved.path, saved.key_path, state.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_repr_shows_no_secret():
    text = repr(full_config())
    assert all(secret not in text for secret in ALL_SECRETS)


def test_secret_values_lists_every_secret():
    values = full_config().secret_values()
    assert set(ALL_SECRETS) <= set(values)
    assert "" not in values
    assert Config().secret_values() == []


def test_a_proxy_url_with_credentials_masks_only_its_user_and_password_not_the_servers_of_its_domain():
    """Redaction masks every 8-character piece of a secret: were the whole proxy URL registered, every
    message naming a server of the proxy's domain would lose its host name ('... on sql01***')."""
    from halointegrator.redaction import SecretRegistry

    config = Config()
    config.halo.proxy = "http://svc-proxy:Pr0xy-Pa55w0rd%21@proxy.contoso.local:8080"
    registry = SecretRegistry()
    for secret in config.secret_values():
        registry.add(secret)
    message = ("The database server does not answer (database 'lansweeperdb' on sql01.contoso.local as lsread); "
               "Halo at https://contoso.halopsa.com; LDAP dc1.contoso.local:636")
    assert registry.redact(message) == message
    shown = registry.redact(config.halo.proxy)
    assert "Pr0xy-Pa55w0rd" not in shown and "svc-proxy" not in shown and "proxy.contoso.local:8080" in shown
    assert config.halo.proxy in config.sealed_values()  # the file still keeps the whole address encrypted


def test_the_proxy_secrets_are_its_user_and_password_as_typed_and_decoded_never_its_address():
    from halointegrator.local.settings import proxy_secrets

    assert proxy_secrets("http://proxy.contoso.local:3128") == []
    assert proxy_secrets("http://svc:pa%40ss@proxy.contoso.local:3128") == ["svc", "pa@ss", "pa%40ss"]


def test_unknown_keys_survive_a_round_trip(saved: ConfigStore):
    doc = json.loads(saved.path.read_text())
    doc["future_section"] = {"enabled": True, "list": [1, 2]}
    doc["halo"]["future_halo_setting"] = "keep me"
    doc["connections"]["azure_ad:3"]["future_flag"] = {"nested": 1}
    doc["connections"]["azure_ad:3"]["opaque"] = {"fernet": "gAAAAnot-ours"}
    saved.path.write_text(json.dumps(doc))
    store = ConfigStore(saved.path)
    store.save(store.load())
    again = json.loads(saved.path.read_text())
    assert again["future_section"] == {"enabled": True, "list": [1, 2]}
    assert again["halo"]["future_halo_setting"] == "keep me"
    assert again["connections"]["azure_ad:3"]["future_flag"] == {"nested": 1}
    assert again["connections"]["azure_ad:3"]["opaque"] == {"fernet": "gAAAAnot-ours"}
    assert ConfigStore(saved.path).load().connections["azure_ad:3"]["app_secret"] == APP_SECRET


def write_schema_0(store: ConfigStore) -> None:
    fernet = Fernet(keystore.load_key(store.key_path, create=True))
    store.path.write_text(json.dumps({
        "web_app_url": "https://old.halopsa.com",
        "client_id": "old-id",
        "client_secret": {"fernet": fernet.encrypt(CLIENT_SECRET.encode()).decode()},
        "page_size": 100,
        "allow_mass_deactivation": True,
        "connections": {"azure_ad:1": {"app_secret": {"fernet": fernet.encrypt(APP_SECRET.encode()).decode()}}},
        "something_else": 7,
    }))


def test_migrates_a_schema_0_file_without_writing_it(store: ConfigStore):
    assert SCHEMA_VERSION == 1 and 0 in MIGRATIONS
    write_schema_0(store)
    before = snapshot(store.path)
    config = store.load()
    assert snapshot(store.path) == before
    assert config.halo.web_app_url == "https://old.halopsa.com"
    assert config.halo.client_secret == CLIENT_SECRET
    assert config.halo.page_size == 100
    assert config.options == {"allow_mass_deactivation": True}
    assert config.connections["azure_ad:1"]["app_secret"] == APP_SECRET
    assert config.unknown == {"something_else": 7}
    store.save(config)
    doc = json.loads(store.path.read_text())
    assert doc["schema"] == 1 and "client_id" not in doc and doc["halo"]["client_id"] == "old-id"


def test_a_newer_schema_is_read_but_not_overwritten(saved: ConfigStore):
    doc = json.loads(saved.path.read_text())
    doc["schema"] = SCHEMA_VERSION + 1
    saved.path.write_text(json.dumps(doc))
    store = ConfigStore(saved.path)
    assert store.load().halo.client_secret == CLIENT_SECRET
    assert any("newer" in note for note in store.notes)
    before = snapshot(store.path)
    with pytest.raises(ConfigError, match="newer Halo Integrator"):
        store.save(full_config())
    assert snapshot(store.path) == before


# --- saving atomically ----------------------------------------------------------------------------


def failing(*args, **kwargs):
    raise OSError(28, "No space left on device")


def changed_config() -> Config:
    config = full_config()
    config.halo.web_app_url = "https://changed.halopsa.com"
    return config


@pytest.mark.parametrize("stage", ["write", "verify", "replace"])
def test_a_failure_mid_save_leaves_the_old_file_byte_identical(saved: ConfigStore, monkeypatch, stage):
    before = snapshot(saved.path)
    if stage == "write":
        def half_then_fail(fd, data):
            os.write(fd, data[: len(data) // 2])
            failing()
        monkeypatch.setattr(fileio, "write_all", half_then_fail)
    elif stage == "verify":
        monkeypatch.setattr(ConfigStore, "_verify", lambda self, *a: (_ for _ in ()).throw(RuntimeError("boom")))
    else:
        monkeypatch.setattr(fileio.os, "replace", failing)
    with pytest.raises((ConfigError, RuntimeError)):
        saved.save(changed_config())
    assert snapshot(saved.path) == before
    assert sorted(p.name for p in saved.path.parent.iterdir()) == ["HaloIntegrator.config", "HaloIntegrator.key"]
    monkeypatch.undo()
    assert ConfigStore(saved.path).load() == full_config()


def test_save_verifies_that_secrets_were_encrypted(saved: ConfigStore, monkeypatch):
    from halointegrator.local import config_codec

    before = snapshot(saved.path)
    monkeypatch.setattr(config_codec, "encrypt", lambda fernet, value: value)  # a broken encryption
    with pytest.raises(ConfigError, match="failed its check"):
        saved.save(changed_config())
    assert snapshot(saved.path) == before


def test_wrong_type_is_refused_before_writing(saved: ConfigStore):
    config = full_config()
    config.halo.page_size = "many"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match='"page_size" should be int'):
        saved.save(config)


def test_read_only_file_loads_but_save_says_so(saved: ConfigStore):
    saved.path.chmod(0o400)
    before = snapshot(saved.path)
    store = ConfigStore(saved.path)
    assert store.load() == full_config()
    with pytest.raises(ConfigError, match="read-only") as caught:
        store.save(changed_config())
    assert str(saved.path) in str(caught.value)
    assert snapshot(saved.path) == before
    saved.path.chmod(0o600)  # Windows: let the temp folder be cleaned up


def test_unwritable_folder_gives_config_error(tmp_path: Path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ConfigError, match="Cannot"):
        ConfigStore(not_a_folder / "HaloIntegrator.config").save(Config(halo=HaloSettings(web_app_url="https://x")))


# --- loading failures ----------------------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": b"\x00\xffnot json at all", "list": b"[1]"}[how])


@pytest.mark.parametrize("how", ["truncated", "garbage", "list"])
def test_damaged_file_names_the_file_and_the_fix_and_is_untouched(saved: ConfigStore, how):
    damage(saved.path, how)
    before, key_before = snapshot(saved.path), snapshot(saved.key_path)
    with pytest.raises(ConfigError) as caught:
        ConfigStore(saved.path).load()
    message = str(caught.value)
    assert str(saved.path) in message and "Restore it from a backup" in message
    assert snapshot(saved.path) == before and snapshot(saved.key_path) == key_before


def test_wrong_key_says_dpapi_keys_do_not_move(saved: ConfigStore):
    saved.key_path.unlink()
    keystore.load_key(saved.key_path, create=True)  # another machine's key
    before = snapshot(saved.path)
    with pytest.raises(UnreadableSecrets) as caught:
        ConfigStore(saved.path).load()
    message = str(caught.value)
    assert "DPAPI keys do not move between machines" in message and "re-enter the secrets" in message
    assert "the Halo Client Secret" in message and "app_secret of connection azure_ad:3" in message
    assert all(secret not in message for secret in ALL_SECRETS)
    assert snapshot(saved.path) == before


def test_missing_key_file_while_config_holds_secrets(saved: ConfigStore):
    saved.key_path.unlink()
    before = snapshot(saved.path)
    with pytest.raises(UnreadableSecrets, match="key file .* is missing"):
        ConfigStore(saved.path).load()
    assert snapshot(saved.path) == before
    assert not saved.key_path.exists()  # loading never makes a key


def test_missing_key_is_fine_when_there_are_no_secrets(store: ConfigStore):
    store.save(Config(halo=HaloSettings(web_app_url="https://acme.halopsa.com")))
    assert ConfigStore(store.path).load().halo.web_app_url == "https://acme.halopsa.com"


def unreadable_copies(store: ConfigStore) -> list[Path]:
    return sorted(store.path.parent.glob(f"{store.path.name}.unreadable-*"))


@pytest.mark.parametrize("key_problem", ["wrong", "missing", "damaged"])
def test_discarding_unreadable_secrets_keeps_the_old_file(saved: ConfigStore, folder: Path, key_problem):
    if key_problem == "wrong":
        saved.key_path.write_bytes(keystore.encode_key_file(keystore.PLAIN, Fernet.generate_key()))
    elif key_problem == "missing":
        saved.key_path.unlink()
    else:
        saved.key_path.write_bytes(b"halointegrator-key 1 plain\n!!!")
    old_bytes = saved.path.read_bytes()
    store = ConfigStore(saved.path)
    config = store.load(discard_unreadable_secrets=True)
    assert config.halo.client_secret == "" and config.connections["azure_ad:3"]["app_secret"] == ""
    assert config.halo.web_app_url == "https://acme.halopsa.com"
    assert saved.path.read_bytes() == old_bytes  # loading still wrote nothing
    config.halo.client_secret = CLIENT_SECRET
    store.save(config)
    [kept] = unreadable_copies(store)
    assert kept.read_bytes() == old_bytes
    assert ConfigStore(saved.path).load().halo.client_secret == CLIENT_SECRET
    assert_no_plaintext(folder)


def test_hand_typed_plain_secret_is_encrypted_on_next_save(store: ConfigStore):
    store.path.write_text(json.dumps({"schema": 1, "halo": {"client_secret": CLIENT_SECRET}}))
    config = store.load()
    assert config.halo.client_secret == CLIENT_SECRET
    store.save(config)
    assert CLIENT_SECRET.encode() not in store.path.read_bytes()


def test_keep_aside_moves_a_damaged_file(saved: ConfigStore):
    damage(saved.path, "garbage")
    store = ConfigStore(saved.path)
    kept = store.keep_aside()
    assert kept.read_bytes() == b"\x00\xffnot json at all" and not store.exists()
    store.save(full_config())
    assert ConfigStore(saved.path).load() == full_config()


def test_wrong_type_in_file_names_the_setting_not_the_value(saved: ConfigStore):
    doc = json.loads(saved.path.read_text())
    doc["halo"]["verify_tls"] = "no"
    saved.path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match='"verify_tls" should be bool, not str'):
        ConfigStore(saved.path).load()


def test_module_exports_the_contract():
    for name in ("HaloSettings", "Config", "ConfigStore", "validate_halo_settings", "MIGRATIONS"):
        assert hasattr(config_module, name)
    assert ConfigStore(Path("x/HaloIntegrator.config")).key_path == Path("x/HaloIntegrator.key")


@pytest.mark.parametrize("kept, wanted", [
    ({}, {}),
    ({"powershell:10": {"timeout_minutes": "5"}}, {"timeout_minutes": "5"}),
    ({"powershell:*": {"script_folder": "/srv/scripts"}}, {"script_folder": "/srv/scripts"}),
    ({"powershell:10": {"script_folder": "/tmp"}}, {}),  # an older per-script folder stands in for nothing
    ({"powershell:10": {"script_folder": "/tmp", "timeout_minutes": "5"},
      "powershell:*": {"script_folder": "/srv/scripts", "other": "x"}},
     {"script_folder": "/srv/scripts", "timeout_minutes": "5"}),
    ({"powershell:11": {"timeout_minutes": "9"}}, {}),
])
def test_a_connections_settings_take_the_shared_ones_only_from_the_shared_place(kept, wanted):
    """A shared setting (the one scripts folder) comes only from the integration's shared place: a value kept
    for one connection can neither widen it nor stand in for it when it is not set."""
    from halointegrator.local.settings import settings_for

    assert settings_for("powershell", 10, ["script_folder"], kept) == wanted
