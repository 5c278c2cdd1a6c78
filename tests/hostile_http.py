"""A hostile HTTP(S) server on 127.0.0.1 for the hostile suite: it forwards to a real sandbox (Halo, Graph)
and answers chosen requests the way a compromised, misconfigured or broken server would.

    with HostileServer(upstream=halo.url) as proxy:          # plain http, or tls=HostileTls(tmp_path)
        proxy.on("POST", "/api/users", redirect_to(attacker.url + "/api/Users"))
        ... CONFIGURE --url proxy.url ...; AUTO ...
        proxy.received                                         # every request it saw (secrets included)

Rules are ``(method, path prefix, answer)``; ``answer(request)`` returns an ``Answer`` (or None to forward).
Answers: ``Answer`` (status, headers, body), ``Drip`` (one byte every ``every`` seconds, in the status line
or in the body), ``Huge`` (a body of ``size`` bytes made on the fly). Every answer stops by itself: a drip
ends after ``limit`` bytes, a huge body at its size, a connection after ``SOCKET_TIMEOUT`` of silence.
A TLS server also accepts plain HTTP on the same port and marks such requests ``plaintext``: that is how a
test sees a client send its token in clear to an https server's port.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from sandbox.directory_tls import make_ca, make_server_cert
from tests.local_server import LocalServer

SOCKET_TIMEOUT = 20.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    plaintext: bool = False  # plain HTTP on a TLS server's port

    def text(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}?{self.query}\n{head}\n\n" + self.body.decode("utf-8", "replace")


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def chunks(self) -> Iterator[tuple[bytes, float]]:
        yield self.head(len(self.body)), 0.0
        yield self.body, 0.0

    def head(self, length: int | None) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {http.client.responses.get(self.status, 'Status')}"]
        headers = {"Content-Type": "application/json", **self.headers}
        if length is not None:
            headers["Content-Length"] = str(length)
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Drip(Answer):
    """``during="head"``: the status line itself, a byte at a time; ``"body"``: headers at once, then the body."""

    during: str = "body"
    every: float = 1.0
    limit: int = 200  # bytes dripped before the answer gives up by itself

    def chunks(self) -> Iterator[tuple[bytes, float]]:
        body = self.body or b'{"users": [' + b" " * self.limit
        if self.during == "head":
            for byte in self.head(len(body))[: self.limit]:
                yield bytes([byte]), self.every
            return
        yield self.head(len(body)), 0.0
        for byte in body[: self.limit]:
            yield bytes([byte]), self.every


@dataclass
class Huge(Answer):
    """A JSON body of ``size`` bytes, sent as fast as the client reads it (never held in memory here)."""

    size: int = 1 << 30
    declare_length: bool = True

    def chunks(self) -> Iterator[tuple[bytes, float]]:
        yield self.head(self.size if self.declare_length else None), 0.0
        piece = b'{"id": 1, "name": "' + b"x" * 65000 + b'"},'
        yield b"[", 0.0
        sent = 1
        while sent + len(piece) < self.size:
            yield piece, 0.0
            sent += len(piece)
        yield b" " * (self.size - sent - 1) + b"]", 0.0


def _expired_copy(ca, cert_file: Path, key_file: Path) -> Path:
    """The certificate in ``cert_file`` re-issued by ``ca`` with a validity that ended yesterday."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1)))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    expired = builder.sign(ca.key, hashes.SHA256())
    path = cert_file.with_name("expired.crt")
    path.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    return path


Rule = Callable[[Request], "Answer | None"]


def redirect_to(location: str, status: int = 307) -> Rule:
    return lambda request: Answer(status, {"Location": location}, b"")


def json_answer(status: int, text: str) -> Rule:
    return lambda request: Answer(status, {}, text.encode("utf-8"))


@dataclass
class HostileTls:
    """A throwaway CA and a certificate for 127.0.0.1 (``ca_file`` is what the Integrator must trust);
    ``names`` gives the certificate other names instead, ``expired`` makes it one that expired yesterday."""

    folder: Path
    names: list[str] | None = None
    expired: bool = False

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ca = make_ca(self.folder, "Hostile Test CA", "hostile-ca.crt")
        self.ca_file = ca.cert_file
        dns, ips = (self.names, []) if self.names is not None else (["localhost"], ["127.0.0.1"])
        self.cert_file, self.key_file = make_server_cert(ca, self.folder, "hostile", dns, ips)
        if self.expired:
            self.cert_file = _expired_copy(ca, self.cert_file, self.key_file)

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


class HostileServer(LocalServer):
    """The server; ``received`` lists every request, ``on`` adds rules (the last added wins)."""

    def __init__(self, upstream: str | None = None, *, tls: HostileTls | None = None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.tls = tls
        self.rules: list[tuple[str, str, Rule]] = []
        self.received: list[Request] = []
        self.tokens: set[str] = set()  # access tokens the upstream issued through this server
        self.lock = threading.Lock()
        self.url = ""

    def on(self, method: str, path_prefix: str, answer: Rule) -> "HostileServer":
        with self.lock:
            self.rules.insert(0, (method.upper(), path_prefix.lower(), answer))
        return self

    def requests_to(self, method: str, path_prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.received if r.method == method.upper() and r.path.lower().startswith(path_prefix.lower())]

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> "HostileServer":
        super().start()
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        return self

    # ---- one connection -----------------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(SOCKET_TIMEOUT)
        plaintext = False
        try:
            if self.tls is not None:
                first = sock.recv(1, socket.MSG_PEEK)
                if first[:1] == b"\x16":  # a TLS handshake record
                    sock = self.tls.context().wrap_socket(sock, server_side=True)
                else:
                    plaintext = True
            reader = sock.makefile("rb")
            while True:
                request = _read_request(reader, plaintext)
                if request is None:
                    return
                with self.lock:
                    self.received.append(request)
                if not self._answer(sock, request):
                    return
        except (OSError, ssl.SSLError, ValueError):
            return  # the client went away or spoke nonsense: this connection is over
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _answer(self, sock: socket.socket, request: Request) -> bool:
        """Send the answer; False when the connection must close afterwards."""
        answer = self._rule_answer(request)
        if answer is None:
            answer = self.forward(request)
        for data, delay in answer.chunks():
            if delay:
                time.sleep(delay)
            sock.sendall(data)
        return not isinstance(answer, (Drip, Huge))

    def _rule_answer(self, request: Request) -> Answer | None:
        with self.lock:
            rules = list(self.rules)
        for method, prefix, rule in rules:
            if request.method == method and request.path.lower().startswith(prefix):
                answer = rule(request)
                if answer is not None:
                    return answer
        return None

    def forward(self, request: Request) -> Answer:
        """The upstream's answer to ``request``, its own address replaced by this server's."""
        if self.upstream is None:
            return Answer(200, {}, b"{}")
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=SOCKET_TIMEOUT)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in HOP_HEADERS}
            path = request.path + (f"?{request.query}" if request.query else "")
            connection.request(request.method, path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            body = response.read().replace(self.upstream.encode(), self.url.encode())
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_HEADERS}
            self._remember_token(body)
            return Answer(response.status, kept, body)
        finally:
            connection.close()


    def _remember_token(self, body: bytes) -> None:
        if b"access_token" in body:
            try:
                token = json.loads(body).get("access_token")
            except (ValueError, AttributeError):
                return
            if isinstance(token, str):
                with self.lock:
                    self.tokens.add(token)


def _read_request(reader, plaintext: bool) -> Request | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65537).decode("latin-1")
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = reader.read(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method.upper(), path, query, headers, body, plaintext)
