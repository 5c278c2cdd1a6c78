"""The Fernet key that encrypts the secrets in the config, and how the key itself is protected.

On Windows the key file holds the key encrypted with DPAPI in *machine* scope
(CryptProtectData + CRYPTPROTECT_LOCAL_MACHINE), so a Scheduled Task running under another account on
the same machine can read it, while a copy of the file on another machine is useless. Machine scope
means any account on this machine that can read the key file can unlock it: the key file (like the
config, the state and the logs) gets an ACL that admits SYSTEM, Administrators and the Integrator's
accounts only (acl.py). Elsewhere the key file holds the key itself and is created with mode 0600; a
key file others may read is made private again, or refused when this account cannot (ensure_private).

Key file format: a header line naming the protection, then the payload in base64::

    halointegrator-key 1 plain            halointegrator-key 1 dpapi-machine
    <fernet key>                          <base64 of the DPAPI blob>
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet

from halointegrator.errors import ConfigError
from . import acl
from .fileio import read_regular, temp_path_for, write_all

HEADER = b"halointegrator-key 1 "
PLAIN = "plain"
DPAPI_MACHINE = "dpapi-machine"
# Fixed extra entropy: another program using machine-scope DPAPI cannot decrypt our blob by accident.
DPAPI_ENTROPY = b"HaloIntegrator config key v1"
CRYPTPROTECT_UI_FORBIDDEN = 0x1
CRYPTPROTECT_LOCAL_MACHINE = 0x4


class KeyFileMissing(ConfigError):
    """The key file does not exist (and was not to be created)."""


class Protector(Protocol):
    name: str

    def protect(self, key: bytes) -> bytes: ...

    def unprotect(self, payload: bytes) -> bytes: ...


class PlainProtector:
    """No protection beyond the file's 0600 mode (Linux, macOS)."""

    name = PLAIN

    def protect(self, key: bytes) -> bytes:
        return key

    def unprotect(self, payload: bytes) -> bytes:
        return payload


class DATA_BLOB(ctypes.Structure):  # noqa: N801 - the Win32 name
    # cbData is a DWORD: 32 bits on Windows. c_uint32 keeps the layout right on every platform.
    _fields_ = [("cbData", ctypes.c_uint32), ("pbData", ctypes.POINTER(ctypes.c_char))]


def blob_from_bytes(data: bytes) -> tuple[DATA_BLOB, ctypes.Array]:
    """A DATA_BLOB pointing at a copy of ``data``; keep the returned buffer alive while it is used."""
    buffer = ctypes.create_string_buffer(data, len(data))
    blob = DATA_BLOB(len(data), ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char)))
    return blob, buffer


def bytes_from_blob(blob: DATA_BLOB) -> bytes:
    if not blob.pbData or not blob.cbData:
        return b""
    return ctypes.string_at(blob.pbData, blob.cbData)


class DpapiProtector:
    """CryptProtectData / CryptUnprotectData through ctypes (no pywin32), machine scope."""

    name = DPAPI_MACHINE

    def __init__(self) -> None:
        self._crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)  # type: ignore[attr-defined]
        self._kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        blob_p = ctypes.POINTER(DATA_BLOB)
        signature = [blob_p, ctypes.c_void_p, blob_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, blob_p]
        for function in (self._crypt32.CryptProtectData, self._crypt32.CryptUnprotectData):
            function.argtypes = signature  # the 2nd argument (description) is passed as NULL
            function.restype = ctypes.c_int
        self._kernel32.LocalFree.argtypes = [ctypes.c_void_p]
        self._kernel32.LocalFree.restype = ctypes.c_void_p

    def protect(self, key: bytes) -> bytes:
        flags = CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE
        return self._call(self._crypt32.CryptProtectData, key, flags)

    def unprotect(self, payload: bytes) -> bytes:
        return self._call(self._crypt32.CryptUnprotectData, payload, CRYPTPROTECT_UI_FORBIDDEN)

    def _call(self, function, data: bytes, flags: int) -> bytes:
        # The buffers must stay referenced until the call returns: the blobs only point at them.
        data_in, data_buffer = blob_from_bytes(data)
        entropy, entropy_buffer = blob_from_bytes(DPAPI_ENTROPY)
        data_out = DATA_BLOB()
        ok = function(ctypes.byref(data_in), None, ctypes.byref(entropy), None, None, flags, ctypes.byref(data_out))
        if not ok:
            code = ctypes.get_last_error()  # type: ignore[attr-defined]
            raise OSError(code, ctypes.FormatError(code).strip())  # type: ignore[attr-defined]
        try:
            return bytes_from_blob(data_out)
        finally:
            if data_out.pbData:  # DPAPI allocated it with LocalAlloc
                self._kernel32.LocalFree(ctypes.cast(data_out.pbData, ctypes.c_void_p))


def default_protector() -> Protector:
    return DpapiProtector() if os.name == "nt" else PlainProtector()


def encode_key_file(protection: str, payload: bytes) -> bytes:
    return HEADER + protection.encode("ascii") + b"\n" + base64.b64encode(payload) + b"\n"


def decode_key_file(content: bytes) -> tuple[str, bytes]:
    """(protection, payload) from a key file; a bare Fernet key counts as "plain". ValueError if neither."""
    stripped = content.strip()
    if not stripped.startswith(HEADER):
        if is_fernet_key(stripped):
            return PLAIN, stripped
        raise ValueError("not a Halo Integrator key file")
    header, _, body = stripped.partition(b"\n")
    protection = header[len(HEADER):].decode("ascii", "replace").strip()
    try:
        payload = base64.b64decode(body.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("the key is damaged") from exc
    return protection, payload


def is_fernet_key(key: bytes) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True


def new_key() -> bytes:
    return Fernet.generate_key()


def write_key(key_path: Path, key: bytes, protector: Protector | None = None, *, exclusive: bool = True) -> None:
    """Write a protected key file, mode 0600. ``exclusive``: fail with FileExistsError if one exists.

    The file appears whole or not at all: it is written under a temporary name, then linked (POSIX) or
    renamed (Windows, where a rename never replaces) into place. Two processes racing to make the key
    (two CONFIGUREs, the window and a task) must never read the other's half-written file: it would
    look damaged, and the loser would put it aside and make a key the winner's config cannot use.
    """
    protector = protector or default_protector()
    content = encode_key_file(protector.name, protector.protect(key))
    key_path = Path(key_path)
    temp = temp_path_for(key_path)
    _write_new(temp, content)
    try:
        if not exclusive:
            os.replace(temp, key_path)
        elif os.name == "nt":
            os.rename(temp, key_path)
        else:
            _link_exclusive(temp, key_path, content)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)  # still there after a link, or after a refused rename


def _write_new(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        write_all(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    acl.protect(path)


def ensure_private(key_path: Path) -> str:
    """POSIX: a key file that the group or others may read is set back to 0600; the sentence saying so
    (to log), or "" when it was private. ConfigError when this account cannot make it private."""
    if os.name != "posix":
        return ""
    try:
        mode = stat.S_IMODE(os.stat(key_path).st_mode)
    except OSError:
        return ""
    if not mode & 0o077:
        return ""
    try:
        os.chmod(key_path, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"The key file {key_path} can be read by other users (mode {mode:04o}), and this account cannot "
            f"change that ({exc.strerror or exc}). Its owner should run: chmod 600 {key_path}. Anyone who could "
            "read it together with the config could decrypt the secrets in it."
        ) from None
    return (f"The key file {key_path} could be read by other users (mode {mode:04o}); it is now 0600. Anyone who "
            "could read it together with the config could decrypt the secrets: if others may have, generate a new "
            "client secret in Halo (and new connection secrets) and enter them again.")


def _link_exclusive(temp: Path, key_path: Path, content: bytes) -> None:
    try:
        os.link(temp, key_path)  # FileExistsError when another process made the key first
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: create in place (a racing reader may see it early)
        _write_new(key_path, content)


def load_key(key_path: Path, create: bool, protector: Protector | None = None) -> bytes:
    """The Fernet key kept in ``key_path``; a new one is made first when missing and ``create``."""
    key_path = Path(key_path)
    protector = protector or default_protector()
    if create and not key_path.exists():
        try:
            write_key(key_path, new_key(), protector)
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the key file {key_path}: {exc.strerror or exc}. Run the integrator as a user "
                f"who may write in {key_path.parent}, or move the integrator to a folder that user can write."
            ) from None
    try:
        content = read_regular(key_path)
    except FileNotFoundError:
        raise KeyFileMissing(f"The key file {key_path} does not exist. {REPLACE_KEY_FIX}") from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the key file {key_path}: {exc.strerror or exc}. Run the integrator as a user who may "
            f"read it (a Scheduled Task's account needs read access to the integrator's folder)."
        ) from None
    return _key_from_content(key_path, content, protector)


def _unprotect(key_path: Path, payload: bytes, protector: Protector) -> bytes:
    try:
        return protector.unprotect(payload)
    except OSError:
        raise ConfigError(
            f"Windows could not unlock the key file {key_path}. The file was probably copied from another "
            f"machine: DPAPI keys do not move between machines. {REPLACE_KEY_FIX}"
        ) from None


def _key_from_content(key_path: Path, content: bytes, protector: Protector) -> bytes:
    try:
        protection, payload = decode_key_file(content)
    except ValueError as exc:
        raise ConfigError(f"The key file {key_path} is damaged ({exc}). {REPLACE_KEY_FIX}") from None
    if protection == PLAIN:
        key = payload
    elif protection == protector.name:
        key = _unprotect(key_path, payload, protector)
    elif protection == DPAPI_MACHINE:
        raise ConfigError(
            f"The key file {key_path} is protected with Windows DPAPI, which only the Windows machine that "
            f"wrote it can open: it was copied from another machine, and DPAPI keys do not move between "
            f"machines. {REPLACE_KEY_FIX}"
        )
    else:
        raise ConfigError(
            f"The key file {key_path} uses a protection ({protection!r}) this version does not know: it was "
            f"probably written by a newer Halo Integrator. Use that version, or {REPLACE_KEY_FIX_LOWER}"
        )
    if not is_fernet_key(key):
        raise ConfigError(f"The key file {key_path} does not hold a valid key. {REPLACE_KEY_FIX}")
    return key


REPLACE_KEY_FIX_LOWER = (
    "restore the key file that was created with this config on this machine, or re-enter the secrets "
    "(Client Secret and connection secrets) in the Configuration tab, which makes a new key."
)
REPLACE_KEY_FIX = REPLACE_KEY_FIX_LOWER[0].upper() + REPLACE_KEY_FIX_LOWER[1:]


STATE_MAC_CONTEXT = b"HaloIntegrator state file MAC v1"


def state_mac_key(key_path: Path, protector: Protector | None = None) -> bytes:
    """The secret that signs the state file (engine/status.py), kept beside the config key: derived from
    the key in ``key_path`` (made first when missing), so it is protected as that key is (DPAPI on
    Windows, 0600) and moves or is replaced with it. Replacing the key file makes the state file look
    changed: it is then rebuilt from Halo once, which is harmless."""
    key = load_key(key_path, create=True, protector=protector)
    return hmac.new(key, STATE_MAC_CONTEXT, hashlib.sha256).digest()
