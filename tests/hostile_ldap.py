"""A hostile LDAP server on 127.0.0.1 (plain LDAP, BER by hand): it echoes the bind password in its error
message, drips its answers a byte at a time, or pages forever.

    with HostileLdap(bind="echo") as ldap:       # bind="ok", search="drip" | "endless" | "people"
        ldap.port, ldap.binds                     # the passwords it was sent

Only what the Integrator's reader sends is understood: a simple bind, a search (with or without the paged
results control) and an unbind. Each connection ends after ``SOCKET_TIMEOUT`` of silence; a drip ends
after ``DRIP_LIMIT`` bytes; endless pages stop after ``PAGE_LIMIT`` pages: every case stops by itself.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

from tests.local_server import LocalServer

SOCKET_TIMEOUT = 20.0
DRIP_LIMIT = 400
PAGE_LIMIT = 100_000
PAGED_OID = b"1.2.840.113556.1.4.319"
BASE_DN = "OU=Staff,DC=hostile,DC=test"


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def integer(value: int, tag: int = 0x02) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def octets(value: bytes | str, tag: int = 0x04) -> bytes:
    return tlv(tag, value.encode("utf-8") if isinstance(value, str) else value)


def read_tlv(data: bytes, at: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, next offset) of the element at ``at``; ValueError when incomplete."""
    if at + 2 > len(data):
        raise ValueError("incomplete")
    tag, first = data[at], data[at + 1]
    at += 2
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    else:
        length = first
    if at + length > len(data):
        raise ValueError("incomplete")
    return tag, data[at:at + length], at + length


def message(message_id: int, op: bytes, controls: bytes = b"") -> bytes:
    return tlv(0x30, integer(message_id) + op + controls)


def result(tag: int, code: int, text: str = "") -> bytes:
    return tlv(tag, integer(code, 0x0A) + octets("") + octets(text))


def paged_control(cookie: bytes) -> bytes:
    value = tlv(0x30, integer(0) + octets(cookie))
    return tlv(0xA0, tlv(0x30, octets(PAGED_OID) + octets(value)))


def person(number: int) -> bytes:
    guid = uuid.UUID(int=number + 1).bytes_le
    attributes = [("objectGUID", guid), ("sAMAccountName", f"user{number}".encode()),
                  ("displayName", f"User {number}".encode()), ("userAccountControl", b"512")]
    encoded = b"".join(tlv(0x30, octets(name) + tlv(0x31, octets(value))) for name, value in attributes)
    return tlv(0x64, octets(f"CN=User {number},{BASE_DN}") + tlv(0x30, encoded))


class HostileLdap(LocalServer):
    """``bind``: "echo" (refuse, quoting the password) or "ok"; ``search``: "drip", "endless" or "people"."""

    def __init__(self, *, bind: str = "echo", search: str = "people", people: int = 3) -> None:
        self.bind_mode, self.search_mode, self.people = bind, search, people
        self.binds: list[str] = []
        self.searches = 0
        self.lock = threading.Lock()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(SOCKET_TIMEOUT)
        buffer = b""
        try:
            while True:
                try:
                    _tag, content, end = read_tlv(buffer)
                except ValueError:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                    continue
                buffer = buffer[end:]
                if not self._handle(sock, content):
                    return
        except OSError:
            return
        finally:
            sock.close()

    def _handle(self, sock: socket.socket, content: bytes) -> bool:
        _tag, raw_id, at = read_tlv(content)
        message_id = int.from_bytes(raw_id, "big")
        op_tag, op, _ = read_tlv(content, at)
        if op_tag == 0x60:  # bindRequest: version, name, [0] simple password
            _t, _version, at = read_tlv(op)
            _t, _name, at = read_tlv(op, at)
            _t, password, _ = read_tlv(op, at)
            return self._bind(sock, message_id, password.decode("utf-8", "replace"))
        if op_tag == 0x63:
            return self._search(sock, message_id)
        return False  # unbind, or anything else: close

    def _bind(self, sock: socket.socket, message_id: int, password: str) -> bool:
        with self.lock:
            self.binds.append(password)
        if self.bind_mode == "echo":  # unwillingToPerform, quoting the password where a 200-character cut falls
            text = ("00002035: LdapErr: DSID-0C090F8B, comment: The server is unwilling to process the request, "
                    "data 0, v4563; " + "detail " * 12)[:185] + f"'{password}' was given"
            sock.sendall(message(message_id, result(0x61, 53, text)))
            return True
        sock.sendall(message(message_id, result(0x61, 0)))
        return True

    def _search(self, sock: socket.socket, message_id: int) -> bool:
        with self.lock:
            self.searches += 1
            number = self.searches
        if self.search_mode == "drip":
            for byte in message(message_id, person(number))[:DRIP_LIMIT]:
                time.sleep(1.0)
                sock.sendall(bytes([byte]))
            return False
        if self.search_mode == "endless" and number <= PAGE_LIMIT:
            sock.sendall(message(message_id, result(0x65, 0), paged_control(f"page-{number}".encode())))
            return True
        for index in range(self.people):
            sock.sendall(message(message_id, person(index)))
        sock.sendall(message(message_id, result(0x65, 0), paged_control(b"")))
        return True
