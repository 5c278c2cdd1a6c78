"""The key file: creation (0600, exclusive), its format, and every way reading it can fail."""

from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from halointegrator.local import keystore
from halointegrator.errors import ConfigError


class FakeDpapi:
    """Stands in for DPAPI: reversible, and fails like Windows does on another machine."""

    name = keystore.DPAPI_MACHINE

    def __init__(self, machine: bytes = b"machine-A") -> None:
        self.machine = machine

    def protect(self, key: bytes) -> bytes:
        return self.machine + b"|" + key[::-1]

    def unprotect(self, payload: bytes) -> bytes:
        machine, _, body = payload.partition(b"|")
        if machine != self.machine:
            raise OSError(13, "Key not valid for use in specified state")
        return body[::-1]


def test_creates_a_key_once_and_reads_it_back(tmp_path: Path):
    path = tmp_path / "HaloIntegrator.key"
    key = keystore.load_key(path, create=True)
    Fernet(key)  # a valid Fernet key
    assert keystore.load_key(path, create=True) == key
    assert keystore.load_key(path, create=False) == key
    header = f"halointegrator-key 1 {keystore.default_protector().name}\n".encode()  # dpapi-machine on Windows
    assert path.read_bytes().startswith(header)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_key_file_is_0600_even_with_a_loose_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        keystore.load_key(tmp_path / "k.key", create=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600


def test_write_key_is_exclusive(tmp_path: Path):
    path = tmp_path / "k.key"
    keystore.write_key(path, Fernet.generate_key())
    with pytest.raises(FileExistsError):
        keystore.write_key(path, Fernet.generate_key())


def test_a_key_made_by_another_process_meanwhile_is_used(tmp_path: Path, monkeypatch):
    path = tmp_path / "k.key"
    theirs = Fernet.generate_key()
    real_write = keystore.write_key

    def race(key_path, key, protector=None, **kw):
        real_write(key_path, theirs, protector)  # the other process wins
        real_write(key_path, key, protector, **kw)  # ours then finds the file

    monkeypatch.setattr(keystore, "write_key", race)
    assert keystore.load_key(path, create=True) == theirs


def test_missing_key_without_create(tmp_path: Path):
    with pytest.raises(keystore.KeyFileMissing, match="does not exist"):
        keystore.load_key(tmp_path / "none.key", create=False)
    assert not (tmp_path / "none.key").exists()


def test_a_bare_fernet_key_is_accepted(tmp_path: Path):
    key = Fernet.generate_key()
    (tmp_path / "k.key").write_bytes(key + b"\n")
    assert keystore.load_key(tmp_path / "k.key", create=False) == key


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "damaged"),
        (b"hello", "damaged"),
        (b"halointegrator-key 1 plain\n%%%", "damaged"),
        (keystore.encode_key_file("plain", b"not a fernet key"), "does not hold a valid key"),
        (keystore.encode_key_file("quantum", b"x"), "newer Halo Integrator"),
    ],
)
def test_bad_key_files_name_the_file_and_the_fix(tmp_path: Path, content, expected):
    path = tmp_path / "k.key"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as caught:
        keystore.load_key(path, create=True)
    assert str(path) in str(caught.value) and "re-enter the secrets" in str(caught.value)
    assert path.read_bytes() == content


def test_dpapi_key_file_on_a_machine_without_dpapi(tmp_path: Path):
    path = tmp_path / "k.key"
    keystore.write_key(path, Fernet.generate_key(), FakeDpapi())
    with pytest.raises(ConfigError, match="DPAPI keys do not move between machines"):
        keystore.load_key(path, create=False, protector=keystore.PlainProtector())


def test_dpapi_protected_key_round_trip_and_foreign_machine(tmp_path: Path):
    path = tmp_path / "k.key"
    key = keystore.load_key(path, create=True, protector=FakeDpapi())
    assert path.read_bytes().startswith(b"halointegrator-key 1 dpapi-machine\n")
    assert key not in path.read_bytes()
    assert keystore.load_key(path, create=False, protector=FakeDpapi()) == key
    with pytest.raises(ConfigError, match="copied from another machine"):
        keystore.load_key(path, create=False, protector=FakeDpapi(b"machine-B"))


def test_key_file_format_round_trip():
    payload = bytes(range(256))
    assert keystore.decode_key_file(keystore.encode_key_file("dpapi-machine", payload)) == ("dpapi-machine", payload)


def test_data_blob_helpers_round_trip():
    data = b"\x00binary\xffdata\x00"
    blob, buffer = keystore.blob_from_bytes(data)
    assert blob.cbData == len(data)
    assert keystore.bytes_from_blob(blob) == data
    assert keystore.bytes_from_blob(keystore.DATA_BLOB()) == b""
    # DWORD is 32 bits on Windows: the struct must not use the platform's C long.
    assert keystore.DATA_BLOB.cbData.size == 4
    assert ctypes.sizeof(keystore.DATA_BLOB) == ctypes.sizeof(ctypes.c_void_p) * 2


def test_default_protector_is_plain_off_windows():
    if os.name != "nt":
        assert isinstance(keystore.default_protector(), keystore.PlainProtector)
    assert keystore.CRYPTPROTECT_LOCAL_MACHINE == 0x4 and keystore.CRYPTPROTECT_UI_FORBIDDEN == 0x1


@pytest.mark.skipif(os.name != "nt", reason="real DPAPI needs Windows")
def test_real_dpapi_round_trip(tmp_path: Path):  # pragma: no cover - Windows only
    key = keystore.load_key(tmp_path / "k.key", create=True)
    assert keystore.load_key(tmp_path / "k.key", create=False) == key
