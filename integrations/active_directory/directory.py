"""Reading a directory over LDAP with ldap3: settings, TLS, bind, complete paged searches.

TLS is always verified, by OpenSSL (the system's CA store, plus an optional CA file); plain LDAP only when the
local setting ``allow_plain_ldap`` says so. A read either returns every entry or raises ``SourceError``:
a short read must never look like people leaving. ``get_info=NO_INFO`` keeps ldap3 from loading the
server schema: it is not needed, and with it ldap3 2.9 corrupted objectGUID filters.

A hostile or broken server is kept in bounds: the bind password (from Halo's record or the local setting)
is registered for redaction and every server message is redacted before it is shortened; each operation
is bounded in time and bytes (``bounds.py``) and by the run's deadline; a search may not go past
``MAX_ENTRIES`` entries or the pages they fill.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPStartTLSError
from ldap3.utils.conv import to_unicode

from halointegrator import deadline as run_deadline
from halointegrator.deadline import Deadline
from halointegrator.engine import endpoint_approval
from halointegrator.errors import Cancelled, SourceError
from halointegrator.redaction import add_secret, shorten
from halointegrator.values import flag
from integrations.active_directory import bounds
from integrations.active_directory.mapping import SourceEntry

LDAPS_PORTS = (636, 3269)  # LDAPS and the Global Catalog over SSL
MAX_PAGE_SIZE = 1000  # AD's default MaxPageSize: asking for more still gets 1000 a page
PAGED_RESULTS = "1.2.840.113556.1.4.319"
TIMEOUT = 60  # seconds: connect and each answer (ldap3 packs it into SO_RCVTIMEO: an int)
MAX_ENTRIES = 500_000  # entries one search may return: more is a server looping, not a directory


@dataclass(frozen=True)
class LdapSettings:
    """How to reach and bind to one directory (from Halo's connection record plus local settings)."""

    host: str
    port: int
    ldaps: bool
    starttls: bool  # on a plain port: upgrade with StartTLS (False only with allow_plain_ldap)
    ca_file: str | None
    bind_user: str
    password: str = field(repr=False)
    page_size: int = MAX_PAGE_SIZE
    timeout: int = TIMEOUT
    local_secret: bool = False  # the password is the local bind_password (Halo did not return one)

    @property
    def transport(self) -> str:
        return "LDAPS" if self.ldaps else "StartTLS" if self.starttls else "plain LDAP"

    @property
    def plain(self) -> bool:
        return not self.ldaps and not self.starttls

    def address(self) -> str:
        return f"{'ldaps' if self.ldaps else 'ldap'}://{self.host}:{self.port}"


def settings_from(connection: dict[str, Any], local: dict[str, Any]) -> LdapSettings:
    """The settings for one connection; ``SourceError`` says which value is missing or refused."""
    host = str(connection.get("hostname") or "").strip()
    if not host:
        raise SourceError("The connection has no host name: set the domain controller's name in Halo.")
    port_text = str(connection.get("port") or "").strip()
    use_ssl = bool(connection.get("use_ssl"))
    try:
        port = int(port_text) if port_text else (636 if use_ssl else 389)
    except ValueError:
        raise SourceError(f"The connection's port '{port_text}' is not a number: leave it blank for the default.") from None
    ldaps = use_ssl or port in LDAPS_PORTS
    starttls = not ldaps and flag(local.get("starttls"), True)
    if not ldaps and not starttls and not flag(local.get("allow_plain_ldap"), False):
        raise SourceError("StartTLS is switched off and plain LDAP is not allowed: tick SSL in Halo to use LDAPS, "
                          "switch StartTLS back on, or (only on a trusted network) set allow_plain_ldap.")
    password = connection.get("integrator_password") or local.get("bind_password") or ""
    add_secret(str(password))  # a server may quote it back in an error message
    page_size = _int(connection.get("pagesize")) or MAX_PAGE_SIZE
    return LdapSettings(
        host=host, port=port, ldaps=ldaps, starttls=starttls,
        ca_file=str(local.get("ca_file") or "").strip() or None,
        bind_user=str(connection.get("username") or "").strip(), password=str(password),
        page_size=max(1, min(page_size, MAX_PAGE_SIZE)),
        local_secret=not connection.get("integrator_password") and bool(local.get("bind_password")))


def approve_endpoint(ctx: Any, settings: LdapSettings) -> None:
    """A bind password kept on this computer binds only to the host, port and bind DN it was approved for
    (halointegrator.engine.endpoint_approval): SourceError, before anything is sent, when Halo names others."""
    if not settings.local_secret:
        return
    endpoint = endpoint_approval.endpoint_text("LDAP", (("host", settings.host), ("port", settings.port),
                                                        ("bind dn", settings.bind_user)))
    key = getattr(ctx, "connection_key", "") or ""
    endpoint_approval.require_approved(ctx, endpoint, "bind password", endpoint_approval.store_again(
        key, "bind_password", "Bind password", "Active Directory"))


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # "1e999" is infinite
        return 0


def resolve(settings: LdapSettings) -> list[str]:
    """The addresses the host name resolves to (``SourceError`` when it does not)."""
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise SourceError(f"The host name {settings.host} does not resolve ({error}): check the name in Halo "
                          f"and this server's DNS.") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def probe_port(settings: LdapSettings) -> None:
    """Open and close a TCP connection (``SourceError`` when the port does not answer)."""
    try:
        socket.create_connection((settings.host, settings.port), timeout=min(settings.timeout, 10)).close()
    except OSError as error:
        raise SourceError(f"{settings.host} does not answer on port {settings.port} ({error}): check the port in "
                          f"Halo, that the domain controller listens on it, and any firewall between.") from None


class VerifiedTls(ldap3.Tls):
    """ldap3's Tls with the certificate and host name checked by OpenSSL itself.

    ldap3 switches the context's hostname check off and calls ``ssl.match_hostname``, which Python 3.12
    removed (its fallback rejects IP addresses). This context verifies the chain against the system's
    CAs (the Windows store on Windows) plus the optional ``ca_file``, and the host name, in the handshake.
    """

    def __init__(self, host: str, ca_file: str | None = None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.host = host
        self.context = ssl.create_default_context()
        if ca_file:
            self.context.load_verify_locations(cafile=ca_file)

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        wrapped = self.context.wrap_socket(connection.socket, server_hostname=self.host,
                                           do_handshake_on_connect=do_handshake)
        self.peer_certificate = wrapped.getpeercert(binary_form=True) if do_handshake else None
        connection.socket = wrapped


def connect(settings: LdapSettings, deadline: Deadline | None = None) -> ldap3.Connection:
    """An open connection with TLS in place (LDAPS or StartTLS), not yet bound; every operation on it is
    bounded (``bounds.BoundedSocket``) and ends at ``deadline`` (default: the run's)."""
    deadline = deadline or run_deadline.current()
    deadline.check(f"connecting to {settings.address()}")
    try:
        tls = VerifiedTls(settings.host, settings.ca_file)
    except (OSError, ssl.SSLError):
        raise SourceError(f"The CA file '{settings.ca_file}' (local setting ca_file) cannot be read as PEM "
                          f"certificates: give the full path of the CA's PEM file.") from None
    per_read = max(1, int(deadline.limit(settings.timeout)))  # ldap3 packs it into SO_RCVTIMEO: an int
    server = ldap3.Server(settings.host, port=settings.port, use_ssl=settings.ldaps, tls=tls,
                          get_info=ldap3.NONE, connect_timeout=per_read)
    conn = ldap3.Connection(server, user=settings.bind_user or None, password=settings.password or None,
                            auto_referrals=False, receive_timeout=per_read, read_only=True,
                            raise_exceptions=False, return_empty_attributes=False)
    try:
        with bounds.OpeningWatch(conn, deadline.limit(bounds.OPERATION_SECONDS)):
            conn.open()
            if settings.starttls and not conn.start_tls():
                raise SourceError(f"StartTLS failed on {settings.address()}: {conn.result.get('description')}. "
                                  f"Use LDAPS (tick SSL in Halo) if the server does not offer StartTLS.")
    except LDAPException as error:
        close(conn)
        if deadline.expired():
            raise deadline.error(f"connecting to {settings.address()}") from None
        raise SourceError(explain_connect_error(error, settings)) from None
    bounds.install(conn, deadline, per_read)
    return conn


def explain_connect_error(error: Exception, settings: LdapSettings) -> str:
    """What a failed connect or TLS handshake means, and what to change."""
    text = str(error)
    where = f"{settings.address()} ({settings.transport})"
    if "CERTIFICATE_VERIFY_FAILED" in text and ("hostname" in text.lower() or "IP address mismatch" in text):
        return _wrong_name(where, settings)
    if "CERTIFICATE_VERIFY_FAILED" in text and ("has expired" in text or "not yet valid" in text):
        when = "has expired" if "has expired" in text else "is not valid yet"
        return (f"The certificate of {where} {when}: have it renewed on the domain controller; if it looks valid "
                f"there, check this computer's date and time.")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        source = f"the CA file {settings.ca_file} or " if settings.ca_file else ""
        return (f"The certificate of {where} is not signed by a CA in {source}this computer's trusted CAs: set "
                f"the local setting ca_file to the PEM file of the CA that issued the domain controller's "
                f"certificate.")
    if "WRONG_VERSION_NUMBER" in text or "UNEXPECTED_EOF" in text or "record layer" in text:
        return (f"TLS failed on {where}: the port does not seem to speak {settings.transport}. LDAPS is usually "
                f"port 636 with SSL ticked; StartTLS uses 389 with SSL unticked.")
    if settings.starttls and ("terminated by server" in text or "closed" in text.lower()):
        return (f"{where} closed the connection before StartTLS: if the port is LDAPS (usually 636), tick SSL "
                f"in Halo.")
    if "invalid server address" in text:
        return f"Could not connect to {where}: the host name {settings.host} does not resolve; check it in Halo."
    if isinstance(error, LDAPStartTLSError):
        return f"StartTLS failed on {where}: {_short(text)}."
    return f"Could not connect to {where}: {_short(text)}."


def _wrong_name(where: str, settings: LdapSettings) -> str:
    return (f"The certificate of {where} does not name {settings.host}: connect with a host name the "
            f"certificate names (usually the domain controller's full DNS name), or reissue the certificate "
            f"with {settings.host} in its subject alternative names.")


def _short(text: str, limit: int = 200) -> str:
    """Server text for a message: redacted whole (it may quote the bind password), then shortened."""
    return shorten(text, limit)


def bind(conn: ldap3.Connection, settings: LdapSettings) -> None:
    """Bind with the connection's account; ``SourceError`` explains a refusal."""
    if not settings.bind_user or not settings.password:
        raise SourceError("The connection has no user name or password: set them in Halo (the password can "
                          "also be kept locally in the bind_password setting).")
    bounds.start_operation(conn)
    try:
        bound = conn.bind()
    except LDAPException as error:
        _raise_if_out_of_time(conn, f"binding to {settings.address()}")
        raise SourceError(f"Bind to {settings.address()} failed: {_short(bounds.failure_of(conn) or str(error))}.") from None
    if not bound:
        _raise_if_out_of_time(conn, f"binding to {settings.address()}")
        raise SourceError(explain_bind_result(conn.result or {}, settings))


def explain_bind_result(result: dict[str, Any], settings: LdapSettings) -> str:
    description = result.get("description") or f"result {result.get('result')}"
    if description in ("strongerAuthRequired", "confidentialityRequired"):
        return (f"The server requires signing or TLS; enable LDAPS or StartTLS ({description} on "
                f"{settings.address()}, which is {settings.transport}).")
    if description == "invalidCredentials":
        return (f"The server refused the user name or password for {settings.bind_user} (invalidCredentials): "
                f"check them in Halo; AD accepts user@domain, DOMAIN\\user or the account's DN.")
    return f"Bind as {settings.bind_user} to {settings.address()} failed: {description} {_short(result.get('message') or '')}".strip()


def open_bound(settings: LdapSettings, deadline: Deadline | None = None) -> ldap3.Connection:
    conn = connect(settings, deadline)
    try:
        bind(conn, settings)
    except SourceError:
        close(conn)
        raise
    return conn


def close(conn: ldap3.Connection) -> None:
    try:
        conn.unbind()
    except (LDAPException, OSError):
        pass


def search_pages(conn: ldap3.Connection, base_dn: str, ldap_filter: str, *, recursive: bool = True,
                 attributes: Sequence[str] = (), page_size: int = MAX_PAGE_SIZE,
                 cancel: threading.Event | None = None) -> Iterator[list[SourceEntry]]:
    """Every entry under ``base_dn`` matching ``ldap_filter``, one page at a time, so a caller can map a
    page and let it go.

    A failure on any page raises SourceError (or Cancelled) from the iteration: a caller that writes
    only after the last page has been read keeps "a short read writes nothing".
    """
    with _lean_entries(conn):
        yield from _pages(conn, base_dn, ldap_filter, ldap3.SUBTREE if recursive else ldap3.LEVEL,
                          list(attributes) or ldap3.NO_ATTRIBUTES, page_size, cancel)


def _pages(conn: ldap3.Connection, base_dn: str, ldap_filter: str, scope: str, attributes: Any, page_size: int,
           cancel: threading.Event | None) -> Iterator[list[SourceEntry]]:
    read, cookie, pages = 0, None, 0
    max_pages = MAX_ENTRIES // max(1, page_size) + 10
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Stopped by the user while reading {base_dn}; nothing was written.")
        pages += 1
        if pages > max_pages or read > MAX_ENTRIES:
            raise SourceError(f"Reading {base_dn} stopped: the server kept sending pages ({read} entries in "
                              f"{pages - 1} pages), more than any directory this Integrator reads ({MAX_ENTRIES} "
                              "entries); nothing was written. The server's paging may be broken.")
        bounds.start_operation(conn)
        try:
            conn.search(base_dn, ldap_filter, scope, attributes=attributes, paged_size=page_size, paged_cookie=cookie)
        except (LDAPException, OSError) as error:
            _raise_if_out_of_time(conn, f"reading {base_dn}")
            raise SourceError(f"Reading {base_dn} failed after {read} entries "
                              f"({_short(bounds.failure_of(conn) or str(error))}); nothing was written.") from None
        _raise_if_out_of_time(conn, f"reading {base_dn}")
        _raise_for_result(conn.result or {}, base_dn, read)
        page = [_entry(item) for item in conn.response or [] if item.get("type") == "searchResEntry"]
        conn.response = None  # the page is all that is kept of it
        cookie = _next_cookie(conn.result or {})
        read += len(page)
        yield page
        if not cookie:
            return


@contextlib.contextmanager
def _lean_entries(conn: Any) -> Iterator[None]:
    """While it lasts, ``conn`` decodes search entries into their DN and raw values only.

    ldap3 decodes each value twice: as bytes, and as text in a case-insensitive dict that this module
    never reads; that second copy is half the CPU of a large read (4 of 9 s for 50,000 people). Other
    messages, and entries with controls or of a shape not known here, go to ldap3's own decoder.
    """
    strategy = getattr(conn, "strategy", None)
    if not getattr(conn, "fast_decoder", False) or not hasattr(strategy, "decode_response_fast"):
        yield
        return
    own = vars(strategy).get("decode_response_fast")
    strategy.decode_response_fast = functools.partial(_decode_lean, strategy.decode_response_fast)
    try:
        yield
    finally:
        if own is None:
            del strategy.decode_response_fast
        else:
            strategy.decode_response_fast = own


def _decode_lean(full: Callable[[dict], dict], message: dict) -> dict:
    if message.get("protocolOp") != 4 or message.get("controls"):  # 4: searchResEntry
        return full(message)
    try:
        dn, attributes = message["payload"][0][3], message["payload"][1][3]
        raw = {bytes(attribute[3][0][3]).decode("utf-8"): [bytes(value[3]) for value in attribute[3][1][3] or ()]
               for attribute in attributes}
        return {"type": "searchResEntry", "dn": to_unicode(dn, from_server=True), "raw_attributes": raw}
    except (IndexError, KeyError, TypeError, UnicodeError):
        return full(message)


def _entry(item: dict[str, Any]) -> SourceEntry:
    raw = item.get("raw_attributes") or {}
    return SourceEntry(item.get("dn") or "", {name.lower(): list(values) for name, values in raw.items()})


def _next_cookie(result: dict[str, Any]) -> bytes | None:
    control = (result.get("controls") or {}).get(PAGED_RESULTS) or {}
    return (control.get("value") or {}).get("cookie") or None


def _raise_for_result(result: dict[str, Any], base_dn: str, read: int) -> None:
    code, description = result.get("result"), result.get("description") or ""
    if code == 0:
        return
    if description == "noSuchObject":
        raise SourceError(f"The mapped DN {base_dn} does not exist on the server: correct the mapping in Halo.")
    if description == "sizeLimitExceeded":
        raise SourceError(f"The server stopped reading {base_dn} at its size limit after {read} entries and did not "
                          f"page: nothing was written. Check that the server supports paged results.")
    if description == "referral":
        raise SourceError(f"The server referred the read of {base_dn} to another server ({result.get('referrals')}): "
                          f"connect to a domain controller of that DN's domain.")
    if description == "invalidDNSyntax":
        raise SourceError(f"The mapped DN {base_dn} is not a valid DN: correct the mapping in Halo.")
    message = _short(result.get("message") or "")
    raise SourceError(f"Reading {base_dn} failed: {description or code} {message}; nothing was written.".replace("  ", " "))


def _raise_if_out_of_time(conn: Any, doing: str) -> None:
    """RunTimedOut when the run's deadline ended the operation on ``conn``."""
    sock = bounds.bounded(conn)
    if sock is not None and (sock.deadline_hit or sock.deadline.expired()):
        raise sock.deadline.error(doing)


def dn_exists(conn: ldap3.Connection, dn: str) -> bool:
    """Whether ``dn`` names an entry the account can see; other failures raise SourceError."""
    bounds.start_operation(conn)
    try:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=ldap3.NO_ATTRIBUTES)
    except LDAPException as error:
        _raise_if_out_of_time(conn, f"looking up {dn}")
        raise SourceError(f"Looking up {dn} failed: {_short(bounds.failure_of(conn) or str(error))}.") from None
    if (conn.result or {}).get("description") == "noSuchObject":
        return False
    _raise_for_result(conn.result or {}, dn, 0)
    return any(item.get("type") == "searchResEntry" for item in conn.response or [])
