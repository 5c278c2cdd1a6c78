"""Real directories on loopback for the tests and the demo: OpenLDAP slapd and a Samba AD DC.

``start_slapd(workdir, users=N)`` is fast (about a second) and emulates AD's MaxPageSize with a
size limit of 500 that paged searches escape; ``start_samba(workdir)`` provisions a real AD DC (about
ten seconds) for what only AD does: objectGUIDs it assigns, userAccountControl, memberOf, and the
refusal of simple binds on plain 389. Both use their own CA and serve LDAPS and StartTLS.

``python -m sandbox.directory [slapd|samba] [--users N]`` starts one and waits for Ctrl+C.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

from sandbox import directory_samba
from sandbox.directory_base import (
    DirectoryHandle,
    DirectoryUnavailable,
    free_port,
    run_command,
    wait_for_port,
)
from sandbox.directory_data import generate_users, slapd_ldif
from sandbox.directory_tls import make_ca, make_server_cert

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
SLAPD_BASE_DN = "DC=example,DC=com"
SLAPD_OU_NAMES = ("Staff", "Contractors", "Labs")
# The AD-ish names the base filter and the escaping tests search on get an EQUALITY rule in the sandbox's
# copy of msuser.schema (the bundled one has none, so any filter on them is Undefined).
CASE_IGNORE_ATTRIBUTES = ("objectCategory", "sAMAccountName", "userPrincipalName")


def slapd_available() -> str:
    """'' when slapd can run here, else why not."""
    missing = [path for path in (SLAPD, SLAPADD) if not Path(path).exists()]
    if missing or not (SCHEMA_DIR / "msuser.schema").exists():
        return "OpenLDAP is not installed (apt-get install slapd ldap-utils)"
    return ""


def _sandbox_schema(workdir: Path) -> Path:
    text = (SCHEMA_DIR / "msuser.schema").read_text()
    for name in CASE_IGNORE_ATTRIBUTES:
        text = re.sub(rf"(NAME '{name}'\s*\n\s*)SYNTAX '[0-9.]+'",
                      r"\1EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch "
                      r"SYNTAX '1.3.6.1.4.1.1466.115.121.1.15'", text)
    path = workdir / "msuser-sandbox.schema"
    path.write_text(text)
    return path


def _slapd_config(workdir: Path, schema: Path, cert: Path, key: Path, ca_file: Path, password: str) -> Path:
    includes = "".join(f"include {SCHEMA_DIR / name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis"))
    config = f"""{includes}include {schema}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
TLSCACertificateFile {ca_file}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
sizelimit size.soft=500 size.hard=500 size.prtotal=unlimited
database mdb
maxsize 104857600
suffix "{SLAPD_BASE_DN}"
rootdn "cn=admin,{SLAPD_BASE_DN}"
rootpw {password}
directory {workdir}/db
index objectClass eq
access to dn.base="" by * read
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
"""
    path = workdir / "slapd.conf"
    path.write_text(config)
    return path


def start_slapd(workdir: str | Path, users: int = 1200, seed: int = 1815) -> DirectoryHandle:
    """Start slapd on 127.0.0.1 (and 127.0.0.2, which its certificate does not name) with ``users`` people."""
    if reason := slapd_available():
        raise DirectoryUnavailable(reason)
    workdir = Path(workdir)
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    ca = make_ca(workdir)
    cert, key = make_server_cert(ca, workdir, "server", ["localhost"], ["127.0.0.1"])
    admin_password, service_password = "Sandbox.Admin.1", "Sandbox.Reader.1"
    config = _slapd_config(workdir, _sandbox_schema(workdir), cert, key, ca.cert_file, admin_password)
    ous = [f"OU={name},{SLAPD_BASE_DN}" for name in SLAPD_OU_NAMES]
    people = generate_users(users, ous, "example.com", seed=seed)
    service_dn = f"CN=svc-halo,OU=Service,{SLAPD_BASE_DN}"
    ldif = slapd_ldif(SLAPD_BASE_DN, ous, people, random.Random(seed + 1)) + _service_account_ldif(
        service_dn, service_password)
    (workdir / "data.ldif").write_text(ldif)
    run_command([SLAPADD, "-q", "-f", str(config), "-l", str(workdir / "data.ldif")], "slapadd")
    port, ldaps_port = free_port(("127.0.0.1", "127.0.0.2")), free_port(("127.0.0.1", "127.0.0.2"))
    urls = " ".join(f"{scheme}://{host}:{number}/" for host in ("127.0.0.1", "127.0.0.2")
                    for scheme, number in (("ldap", port), ("ldaps", ldaps_port)))
    log_file = workdir / "slapd.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen([SLAPD, "-f", str(config), "-h", urls, "-d", "0"],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle = DirectoryHandle(
        kind="slapd", host="127.0.0.1", port=port, ldaps_port=ldaps_port, ca_file=str(ca.cert_file),
        bind_dn=service_dn, password=service_password, base_dn=SLAPD_BASE_DN, ous=ous, users=people,
        workdir=workdir, admin_dn=f"cn=admin,{SLAPD_BASE_DN}", admin_password=admin_password,
        other_host="127.0.0.2", process=process)
    try:
        wait_for_port("127.0.0.1", ldaps_port, process, log_file)
        wait_for_port("127.0.0.1", port, process, log_file)
    except BaseException:
        handle.stop()
        raise
    return handle


def _service_account_ldif(dn: str, password: str) -> str:
    # A plain person, not an AD user: it must not be imported, and as a non-root DN it is held to the
    # size limit (the rootdn is not), which is what makes the paging test mean something.
    return (f"dn: OU=Service,{SLAPD_BASE_DN}\nobjectClass: organizationalUnit\nou: Service\n\n"
            f"dn: {dn}\nobjectClass: person\ncn: svc-halo\nsn: svc-halo\nuserPassword: {password}\n\n")


def samba_available() -> str:
    return directory_samba.samba_available()


def start_samba(workdir: str | Path, users: int = 30, host: str | None = None) -> DirectoryHandle:
    """Provision and start a Samba AD DC on a free loopback address (see sandbox/directory_samba.py)."""
    return directory_samba.start_samba(Path(workdir), users=users, host=host)


def connection_record(handle: DirectoryHandle, site_ids: Sequence[int], *, connection_id: int = 1,
                      name: str = "", use_ssl: bool = True, page_size: int = 1000,
                      allowed_client_ids: str = "", batch: int = 100,
                      client_ids: Sequence[int | None] = ()) -> dict[str, Any]:
    """An LDAPConnection record (includedetails=true shape; schema fields only) for ``handle``.

    One ``ldap_strings`` mapping per OU in ``handle.ous``, paired in order with ``site_ids``.
    ``use_ssl`` picks LDAPS on ``ldaps_port``; otherwise the plain port, on which the Integrator uses StartTLS.
    """
    mappings = []
    for number, (ou_dn, site_id) in enumerate(zip(handle.ous, site_ids), start=1):
        client_id = client_ids[number - 1] if number <= len(client_ids) else None
        mappings.append({
            "id": connection_id * 100 + number, "connection_id": connection_id,
            "name": ou_dn.split(",")[0].split("=")[1], "dn": ou_dn, "filter": "", "isrecursive": True,
            "site_id": site_id, **({"client_id": client_id} if client_id else {}),
        })
    return {
        "id": connection_id, "name": name or f"Sandbox {handle.kind}", "hostname": handle.host,
        "port": str(handle.ldaps_port if use_ssl else handle.port), "use_ssl": use_ssl,
        "username": handle.bind_dn, "integrator_password": handle.password, "basedn": handle.base_dn,
        "pagesize": page_size, "halointegratorenabled": True, "halointegrator_batch": batch,
        "halointegrator_allowedclientids": allowed_client_ids, "uactguidmappingfield": "",
        "user_matching_fields": "", "ldap_strings": mappings, "mappings_user": [],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.directory", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("slapd", "samba"), nargs="?", default="slapd")
    parser.add_argument("--users", type=int, default=None)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix=f"sandbox-{args.kind}-"))
    start = start_slapd if args.kind == "slapd" else start_samba
    handle = start(workdir, users=args.users or (1200 if args.kind == "slapd" else 30))
    print(f"{args.kind} running: ldap://{handle.host}:{handle.port} ldaps://{handle.host}:{handle.ldaps_port}")
    print(f"  bind DN {handle.bind_dn}  password {handle.password}  CA {handle.ca_file}")
    print(f"  OUs: {'; '.join(handle.ous)}  ({len(handle.users)} users)   Ctrl+C stops it")
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
