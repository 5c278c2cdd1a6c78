"""A hostile PostgreSQL server on 127.0.0.1: it asks for the password in clear (protocol 3
AuthenticationCleartextPassword), keeps what it is sent, and answers with an error whose text it is
told (``echo``: the error ends with the password it received, after ``filler`` characters), or
(``hang_after_login``) accepts the login and then never answers a query.

    with HostilePostgres(filler=450) as server:
        server.port, server.passwords

Declines SSL and GSS encryption by default: the Integrator asks for TLS (SSLmode verify-full or
require), so it gives up before any password is sent. With ``tls=(cert_file, key_file)`` it accepts
TLS with that certificate (one the client trusts: an attacker's host with a publicly trusted
certificate, a Halo editor's server; or one it does not) and then asks for the password in clear
inside it. Every connection ends after a few seconds of silence; the server stops with the ``with`` block.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import struct
import threading

from sandbox.directory_tls import make_server_cert

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104


class HostilePostgres:
    def __init__(self, *, filler: int = 0, message: str = "password authentication failed for user",
                 hang_after_login: bool = False, tls: tuple[str, str] | None = None) -> None:
        self.filler, self.message, self.hang_after_login = filler, message, hang_after_login
        self.tls = None
        if tls is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
        self.queries = self.ssl_requests = self.handshakes = 0
        self.passwords: list[str] = []
        self.startups: list[dict[str, str]] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(120 if outer.hang_after_login else 5)
                try:
                    outer._serve(self.request)
                except (OSError, ValueError, struct.error, ssl.SSLError):
                    pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HostilePostgres":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            length, code = struct.unpack("!ii", _read(sock, 8))
            if code == SSL_REQUEST:
                self.ssl_requests += 1
            if code == SSL_REQUEST and self.tls is not None:
                sock.sendall(b"S")
                sock = self.tls.wrap_socket(sock, server_side=True)
                self.handshakes += 1
                continue
            if code in (SSL_REQUEST, GSS_REQUEST):
                sock.sendall(b"N")
                continue
            body = _read(sock, length - 8)
            parts = body.split(b"\0")
            self.startups.append({parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)
                                  if parts[i]})
            break
        sock.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read(sock, 1)
        length = struct.unpack("!i", _read(sock, 4))[0]
        payload = _read(sock, length - 4)
        if kind == b"p" and self.hang_after_login:  # log in, then never answer a query
            self.passwords.append(payload.rstrip(b"\0").decode("utf-8", "replace"))
            ok = b"R" + struct.pack("!ii", 8, 0)
            status = b"".join(b"S" + struct.pack("!i", 4 + len(k) + len(v) + 2) + k + b"\0" + v + b"\0" for k, v in (
                (b"server_version", b"15.0"), (b"client_encoding", b"UTF8"), (b"standard_conforming_strings", b"on"),
                (b"DateStyle", b"ISO, MDY"), (b"integer_datetimes", b"on")))
            sock.sendall(ok + status + b"K" + struct.pack("!iii", 12, 1, 2) + b"Z" + struct.pack("!i", 5) + b"I")
            while sock.recv(65536):  # read and never answer, until the client gives up (or 120 s of silence)
                self.queries += 1
            return
        if kind == b"p":
            password = payload.rstrip(b"\0").decode("utf-8", "replace")
            self.passwords.append(password)
            text = f"{self.message} {'x' * self.filler}{password}"
            fields = b"SFATAL\0VFATAL\0C28P01\0M" + text.encode() + b"\0\0"
            sock.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ValueError("closed")
        data += chunk
    return data


def certificate_from(ca, folder, dns_names: tuple[str, ...] = ("localhost",),
                     ip_addresses: tuple[str, ...] = ("127.0.0.1",)) -> tuple[str, str]:
    """(cert file, key file) for a HostilePostgres's ``tls``, issued by ``ca`` (sandbox.directory_tls)."""
    cert, key = make_server_cert(ca, folder, "hostile-postgres", list(dns_names), list(ip_addresses))
    return str(cert), str(key)
