"""PostgreSQL's TLS through psqlODBC: what the connection string asks for, and what a refusal means.

psqlODBC hands its ``SSLmode`` to libpq, whose default is "prefer": whoever answers for the server's
name may decline TLS and ask for the password in clear, and gets it. So the Integrator always names
the mode (psqlODBC's documented keyword ``SSLmode``, docs/config-opt.html):

- ``verify-full`` by default: TLS required, the certificate checked against the CA file and the name
  checked against the certificate (its SAN: the name or IP address the connection uses);
- ``require`` with the connection's local setting "Trust the server certificate": encrypted, the name
  not checked (libpq still checks the chain if a root certificate file is in place).

The CA comes from libpq's usual place (PGSSLROOTCERT; else %APPDATA%\\postgresql\\root.crt on Windows,
~/.postgresql/root.crt elsewhere), or from the connection's local setting ``ca_file``, passed as
libpq's ``sslrootcert`` through psqlODBC's documented ``pqopt`` keyword ("Libpq parameters (a conninfo
style string e.g. pqopt={sslcert=~/mycert sslkey=~/mykey} enclosed with braces in the case of
connection strings)").
"""

from __future__ import annotations

from halointegrator.errors import SourceError

VERIFIED, UNVERIFIED = "verify-full", "require"
CA_FILE_SETTING = "ca_file"
TRUST_SETTING = "'Trust the server certificate'"
WHERE_LIBPQ_LOOKS = ("libpq's root certificate file (the file the PGSSLROOTCERT environment variable names; else "
                     r"%APPDATA%\postgresql\root.crt on Windows, ~/.postgresql/root.crt elsewhere)")


def tls_parts(trust_server_certificate: bool, ca_file: str) -> list[tuple[str, str]]:
    """The psqlODBC keywords for TLS: always a mode that never falls back to plain text."""
    parts = [("SSLmode", UNVERIFIED if trust_server_certificate else VERIFIED)]
    if ca_file:
        parts.append(("pqopt", f"sslrootcert={conninfo_quoted(ca_file)}"))
    return parts


def conninfo_quoted(value: str) -> str:
    """A libpq conninfo value in single quotes ('\\' and "'" escaped by a backslash, libpq's rule), so a
    path with spaces stays one value. psqlODBC carries pqopt in braces: a path with ';', '{' or '}' could
    end it early, and is refused."""
    if any(char in value for char in ";{}\0\r\n"):
        raise SourceError(f"The CA file path '{value}' (local setting {CA_FILE_SETTING}) holds a ';', a brace or "
                          "a line break, which PostgreSQL's ODBC driver cannot take: move the file to a path "
                          "without them and set the local setting again.")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def explain_tls(lowered: str, where: str, text: str, ca_file: str) -> str:
    """A sentence for a PostgreSQL TLS refusal (``lowered``: what libpq said, casefolded), or ""."""
    ca = f"the CA file {ca_file} (local setting {CA_FILE_SETTING})" if ca_file else f"a CA in {WHERE_LIBPQ_LOOKS}"
    if "does not support ssl" in lowered or ("no pg_hba.conf entry" in lowered and "no encryption" in lowered
                                              and "ssl" not in lowered):
        return (f"The PostgreSQL server does not offer TLS ({where}), and the Integrator never sends the SQL "
                "password unencrypted, so nothing was sent: turn on ssl in the server's postgresql.conf with a "
                "certificate (and 'hostssl' lines in pg_hba.conf), or check that the server name and port in Halo "
                f"are the database server's. The driver said: {text}")
    if "root certificate file" in lowered and ("does not exist" in lowered or "could not" in lowered):
        return (f"No CA certificate to check the PostgreSQL server's certificate with ({where}): the Integrator "
                "verifies it. Put the PEM file of the CA that issued it in the connection's local setting "
                f"{CA_FILE_SETTING}, or in {WHERE_LIBPQ_LOOKS}; or, if you accept the risk on your network, tick "
                f"the local setting {TRUST_SETTING} (encrypted, not verified). The driver said: {text}")
    if "does not match host name" in lowered:
        return (f"The PostgreSQL server's certificate is not for the name the Integrator connects to ({where}): "
                "use the server name its certificate names (its subject alternative names) in Halo, or give the "
                "server a certificate for this name; or, if you accept the risk on your network, tick the local "
                f"setting {TRUST_SETTING}. The driver said: {text}")
    if "certificate verify failed" in lowered or ("certificate" in lowered and "ssl" in lowered):
        return (f"The PostgreSQL server's TLS certificate is not trusted ({where}): it is not signed by {ca}. "
                f"Set the local setting {CA_FILE_SETTING} to the PEM file of the CA that issued the server's "
                f"certificate; or, if you accept the risk on your network, tick the local setting {TRUST_SETTING} "
                f"(encrypted, not verified). The driver said: {text}")
    return ""
