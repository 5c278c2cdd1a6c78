"""An LDAPS relay that counts LDAP requests, so the benchmark can report how many the source received.

slapd keeps no request counter the benchmark could read, and LDAPS hides the messages on the wire.
The relay terminates TLS with the sandbox directory's own server certificate (so the client still
verifies a real chain and host name and pays for TLS), parses each LDAPMessage the client sends
(a BER SEQUENCE whose second element's APPLICATION tag names the operation) and forwards the bytes to
slapd's plain port on loopback. It runs as a thread of the benchmark process: its CPU is not the
integrator's.
"""

from __future__ import annotations

import collections
import select
import socket
import ssl
import threading
from pathlib import Path

OPERATIONS = {0x60: "bind", 0x42: "unbind", 0x63: "search", 0x66: "modify", 0x68: "add", 0x4A: "delete",
              0x6C: "modifydn", 0x6E: "compare", 0x50: "abandon", 0x77: "extended"}


def split_messages(buffer: bytearray) -> list[int]:
    """Remove every complete LDAPMessage from ``buffer``; return the operation tag of each."""
    tags = []
    while True:
        total, content_start = _tlv_size(buffer, 0)
        if total is None or len(buffer) < total:
            return tags
        id_size, _ = _tlv_size(buffer, content_start)  # messageID INTEGER, then the operation
        operation_at = content_start + (id_size or 0)
        tags.append(buffer[operation_at] if operation_at < total else -1)
        del buffer[:total]


def _tlv_size(data: bytearray, start: int) -> tuple[int | None, int]:
    """(whole length of the TLV at ``start`` counted from ``start``, where its content starts) or (None, 0)."""
    if len(data) < start + 2:
        return None, 0
    first = data[start + 1]
    if first < 0x80:
        return 2 + first, start + 2
    octets = first & 0x7F
    if len(data) < start + 2 + octets:
        return None, 0
    length = int.from_bytes(data[start + 2:start + 2 + octets], "big")
    return 2 + octets + length, start + 2 + octets


class LdapRelay:
    """``with LdapRelay(port_of_slapd, cert, key) as relay``: LDAPS on 127.0.0.1:relay.port."""

    def __init__(self, upstream_port: int, cert_file: str | Path, key_file: str | Path,
                 upstream_host: str = "127.0.0.1", host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert_file), str(key_file))
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "LdapRelay":
        self._thread = threading.Thread(target=self._accept_loop, name=f"ldap-relay-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.listener.close()

    def __enter__(self) -> "LdapRelay":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, raw_client: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw_client, server_side=True)
        except (OSError, ssl.SSLError):
            raw_client.close()
            return
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        try:
            self._pump(client, upstream)
        except (OSError, ssl.SSLError):
            pass
        finally:
            client.close()
            upstream.close()

    def _pump(self, client: ssl.SSLSocket, upstream: socket.socket) -> None:
        """One thread per connection: an SSL socket must not be read and written from two threads."""
        pending = bytearray()
        while not self._stopping.is_set():
            readable, _, _ = select.select([client, upstream], [], [], 1.0)
            if client in readable or client.pending():
                data = client.recv(65536)
                while data and client.pending():
                    data += client.recv(client.pending())
                if not data:
                    return
                pending += data
                self._count(split_messages(pending))
                upstream.sendall(data)
            if upstream in readable:
                data = upstream.recv(262144)
                if not data:
                    return
                client.sendall(data)

    def _count(self, tags: list[int]) -> None:
        if tags:
            with self.lock:
                for tag in tags:
                    self.counts[OPERATIONS.get(tag, f"op-{tag:#x}")] += 1
