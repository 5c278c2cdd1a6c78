"""A Samba AD DC on a loopback address of its own, with generated OUs, groups and people.

Samba's LDAP ports are fixed (389, 636, 3268, 3269), so each instance takes a free 127.0.0.x. Settings
follow reference/sources-graph-ldap.md §3: DNS backend NONE, only the ldap service, its own pid directory
(the default /run/samba/samba.pid blocks a second instance) and its own certificate with an IP SAN.
People are added over LDAPS with ldap3 (a samba-tool call costs half a second each).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import ldap3

from sandbox.directory_base import DirectoryHandle, DirectoryUnavailable, port_is_free, run_command, wait_for_port
from sandbox.directory_data import GROUPS, SandboxUser, generate_users, group_dn, user_attributes
from sandbox.directory_tls import make_ca, make_server_cert

SAMBA, SAMBA_TOOL = "/usr/sbin/samba", "/usr/bin/samba-tool"
REALM, DOMAIN, HOST_NAME = "CORP.EXAMPLE.COM", "CORP", "dc1"
BASE_DN = "DC=corp,DC=example,DC=com"
OU_NAMES = ("Staff", "Contractors")
ADMIN_PASSWORD, SERVICE_PASSWORD = "Passw0rd.Admin1", "Passw0rd.Reader1"
SAMBA_PORTS = (389, 636, 3268, 3269)
PROVISION_DATA = Path("/usr/share/samba/setup/ad-schema")


def samba_available() -> str:
    """'' when a Samba AD DC can run here, else why not."""
    if not (Path(SAMBA).exists() and Path(SAMBA_TOOL).exists()):
        return "Samba AD DC is not installed (apt-get install samba samba-ad-dc)"
    if not PROVISION_DATA.exists():
        return "Samba's provisioning data is missing (apt-get install samba-ad-provision)"
    if os.geteuid() != 0:
        return "a Samba AD DC must run as root"
    return ""


_CLAIMS: dict[str, int] = {}  # host -> an open, flock-ed file: held until this process ends


def free_loopback_host() -> str:
    """The first 127.0.0.x (x >= 2) with all of Samba's LDAP ports free, claimed for this process.

    Provisioning takes ~10 s before the DC binds its ports, so two test sessions on one machine could both
    see an address free and the second would talk to the first one's DC: a lock file per address says
    who has it (the lock dies with its process).
    """
    for last in range(2, 255):
        host = f"127.0.0.{last}"
        if host in _CLAIMS or not _claim(host):
            continue
        if all(port_is_free(host, port) for port in SAMBA_PORTS):
            return host
    raise DirectoryUnavailable("no loopback address with ports 389/636/3268/3269 free for Samba")


def _claim(host: str) -> bool:
    fd = os.open(os.path.join(tempfile.gettempdir(), f"halo-sandbox-samba-{host}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _CLAIMS[host] = fd
    return True


def _provision(target: Path, host: str) -> Path:
    run_command([SAMBA_TOOL, "domain", "provision", f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc",
          "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}", f"--targetdir={target}",
          f"--host-ip={host}", f"--host-name={HOST_NAME}", f"--option=interfaces={host}/8",
          "--option=bind interfaces only=yes", "--option=server services=ldap"],
         "samba-tool domain provision", timeout=300)
    return target / "etc" / "smb.conf"


def _configure(smb_conf: Path, target: Path, cert: Path, key: Path, ca_file: Path) -> None:
    # Provision does not persist every --option; these go straight into [global].
    extra = (f"\tpid directory = {target / 'run'}\n\tlog file = {target / 'log.%m'}\n"
             f"\ttls enabled = yes\n\ttls certfile = {cert}\n\ttls keyfile = {key}\n\ttls cafile = {ca_file}\n")
    (target / "run").mkdir(exist_ok=True)
    text = smb_conf.read_text()
    smb_conf.write_text(text.replace("[global]\n", "[global]\n" + extra, 1))


def start_samba(workdir: Path, users: int = 30, host: str | None = None) -> DirectoryHandle:
    """Provision, start and populate a DC; returns a DirectoryHandle (kind "samba")."""
    if reason := samba_available():
        raise DirectoryUnavailable(reason)
    host = host or free_loopback_host()
    target = workdir / "samba"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    ca = make_ca(workdir)
    cert, key = make_server_cert(ca, workdir, "dc", [f"{HOST_NAME}.{REALM.lower()}"], [host])
    smb_conf = _provision(target, host)
    _configure(smb_conf, target, cert, key, ca.cert_file)
    log_file = workdir / "samba.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen([SAMBA, "-F", "--no-process-group", "--debug-stdout", "-d", "0",
                                    "-s", str(smb_conf)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ous = [f"OU={name},{BASE_DN}" for name in OU_NAMES]
    handle = DirectoryHandle(
        kind="samba", host=host, port=389, ldaps_port=636, ca_file=str(ca.cert_file),
        bind_dn=f"svc-halo@{REALM.lower()}", password=SERVICE_PASSWORD, base_dn=BASE_DN, ous=ous,
        workdir=workdir, admin_dn=f"Administrator@{REALM.lower()}", admin_password=ADMIN_PASSWORD,
        process=process)
    try:
        wait_for_port(host, 636, process, log_file, timeout=60)
        wait_for_port(host, 389, process, log_file, timeout=30)
        handle.users = populate(handle, generate_users(users, ous, REALM.lower(), with_guids=False))
    except BaseException:
        handle.stop()
        raise
    return handle


def populate(handle: DirectoryHandle, people: list[SandboxUser]) -> list[SandboxUser]:
    """Add OUs, the service account, groups and ``people``; returns them with their server-made GUIDs."""
    with handle.admin_connection() as conn:
        for ou_dn in handle.ous + [f"OU=Service,{BASE_DN}", f"OU=Groups,{BASE_DN}"]:
            conn.add(ou_dn, ["top", "organizationalUnit"])
        _add_person(conn, f"CN=svc-halo,OU=Service,{BASE_DN}", {
            "sAMAccountName": "svc-halo", "userPrincipalName": handle.bind_dn}, SERVICE_PASSWORD, enabled=True)
        for name in GROUPS:
            conn.add(group_dn(name, BASE_DN), ["top", "group"], {"sAMAccountName": name.replace(" ", "")})
    return add_people(handle, people)


def add_people(handle: DirectoryHandle, people: list[SandboxUser]) -> list[SandboxUser]:
    """Add ``people`` (their OUs and the groups exist) and their group memberships; returns them with GUIDs."""
    stored = []
    with handle.admin_connection() as conn:
        for person in people:
            _add_person(conn, person.dn, user_attributes(person), f"Passw0rd.{person.sam[-4:]}", not person.disabled)
            conn.search(person.dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
            stored.append(dataclasses.replace(person, guid=conn.response[0]["raw_attributes"]["objectGUID"][0]))
        for name in GROUPS:
            members = [person.dn for person in people if name in person.groups]
            if members:
                conn.modify(group_dn(name, BASE_DN), {"member": [(ldap3.MODIFY_ADD, members)]})
    return stored


def _add_person(conn: ldap3.Connection, dn: str, attributes: dict, password: str, enabled: bool) -> None:
    quoted = f'"{password}"'.encode("utf-16-le")  # AD's unicodePwd: the quoted password in UTF-16LE
    conn.add(dn, ["top", "person", "organizationalPerson", "user"],
             {**attributes, "unicodePwd": quoted, "userAccountControl": "512" if enabled else "514"})
