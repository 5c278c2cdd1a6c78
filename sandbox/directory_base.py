"""What every sandbox directory shares: the handle a test or the demo holds, and port helpers."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import ldap3

from integrations.active_directory.directory import VerifiedTls  # ldap3's own host check rejects IPs from Python 3.12
from sandbox.directory_data import SandboxUser

STARTUP_TIMEOUT = 30.0


class DirectoryUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start (the message says which)."""


@dataclass
class DirectoryHandle:
    """A running sandbox directory; ``stop()`` ends it (its files stay in ``workdir``)."""

    kind: str  # "slapd" or "samba"
    host: str  # an address the certificate names
    port: int  # plain LDAP (StartTLS)
    ldaps_port: int
    ca_file: str
    bind_dn: str  # the read-only service account the Integrator binds as
    password: str = field(repr=False)
    base_dn: str = ""
    ous: list[str] = field(default_factory=list)
    users: list[SandboxUser] = field(default_factory=list, repr=False)
    workdir: Path = Path(".")
    admin_dn: str = ""
    admin_password: str = field(default="", repr=False)
    other_host: str = ""  # also serves, but the certificate does not name it (hostname-mismatch tests)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> "DirectoryHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def admin_connection(self) -> ldap3.Connection:
        """An LDAPS connection bound as the directory's administrator, for changing test data."""
        tls = VerifiedTls(self.host, self.ca_file)
        server = ldap3.Server(self.host, port=self.ldaps_port, use_ssl=True, tls=tls,
                              get_info=ldap3.NONE, connect_timeout=10)
        return ldap3.Connection(server, self.admin_dn, self.admin_password, auto_bind=True,
                                raise_exceptions=True, receive_timeout=30)

    def disable_user(self, dn: str) -> None:
        with self.admin_connection() as conn:
            conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, ["514"])]})

    def delete_user(self, dn: str) -> None:
        with self.admin_connection() as conn:
            conn.delete(dn)

    def rename_user(self, dn: str, new_surname: str) -> None:
        with self.admin_connection() as conn:
            conn.modify(dn, {"sn": [(ldap3.MODIFY_REPLACE, [new_surname])]})

    def move_user(self, dn: str, new_ou_dn: str) -> str:
        """Move an entry to another OU (its objectGUID stays); returns its new DN."""
        rdn = dn.split(",", 1)[0]
        with self.admin_connection() as conn:
            conn.modify_dn(dn, rdn, new_superior=new_ou_dn)
        return f"{rdn},{new_ou_dn}"

    def clear_attribute(self, dn: str, attribute: str) -> None:
        """Remove every value of one attribute (a person without e-mail: ``mail``)."""
        with self.admin_connection() as conn:
            conn.modify(dn, {attribute: [(ldap3.MODIFY_DELETE, [])]})


def free_port(hosts: Sequence[str] = ("127.0.0.1",)) -> int:
    """A TCP port free on every one of ``hosts`` (the OS picks it on the first)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        if all(port_is_free(host, port) for host in hosts[1:]):
            return port
    raise DirectoryUnavailable(f"no TCP port free on all of {', '.join(hosts)}")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, process: subprocess.Popen, log_file: Path,
                  timeout: float = STARTUP_TIMEOUT) -> None:
    """Block until ``host:port`` accepts connections; a server that exits or hangs is reported."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DirectoryUnavailable(f"the server exited with code {process.returncode}: {_tail(log_file)}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise DirectoryUnavailable(f"the server did not open {host}:{port} within {timeout:.0f} s: {_tail(log_file)}")


def _tail(log_file: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_command(command: list[str], what: str, timeout: float = 120) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise DirectoryUnavailable(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")
