"""Running the Integrator against hostile servers, and the checks every hostile case makes.

``IntegratorFolder`` is a Start-in folder configured (through CONFIGURE) for a Halo address that may be a
hostile proxy; ``auto()`` runs ``integrator.py AUTO`` there under a memory limit, killed after a timeout,
and reports its exit code, output, wall time and peak memory (``os.wait4``). ``assert_contained`` is the
common verdict: the run stopped by itself, within bounded memory, with a non-zero exit code, and no
secret (nor any 8-character piece of one) in any file it left, its output, or Halo's Last Error.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tests.cli_helpers import INTEGRATOR, integrator

HALO_SECRET = "hX9q2Lm7Vt4Rw8Zp3Ks6"  # the hostile suite's own Halo secret: long, so pieces of it are findable
APP_SECRET = "gA7mQ2xR9vL4tW8nK3pZ"
BIND_PASSWORD = "bP5sN8cY2hJ6fD9wQ4rT"
MEMORY_LIMIT_MB = 1536  # address space of the child: a red case must not take the machine down with it
PEAK_MB = 400  # "memory stays within a few hundred MB whatever a server sends"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    killed: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_bounded(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90.0) -> Run:
    """``python integrator.py ARGS``, its address space limited, killed after ``timeout`` seconds."""
    def limit() -> None:
        size = MEMORY_LIMIT_MB << 20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    full_env = {**os.environ, **(env or {})}
    full_env.pop("DISPLAY", None)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(INTEGRATOR), *args], cwd=cwd, env=full_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=limit)
    out, err = bytearray(), bytearray()
    readers = [threading.Thread(target=lambda s=stream, b=buf: b.extend(s.read()), daemon=True)
               for stream, buf in ((process.stdout, out), (process.stderr, err))]
    for reader in readers:
        reader.start()
    killed = threading.Event()
    killer = threading.Timer(timeout, lambda: (killed.set(), process.kill()))
    killer.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    return Run(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
               time.monotonic() - started, usage.ru_maxrss / 1024, killed.is_set())


class IntegratorFolder:
    """The Integrator's folder, configured for ``halo_url`` with ``HALO_SECRET``."""

    def __init__(self, folder: Path, halo_url: str, *, settings: Iterable[str] = ()) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "HaloIntegrator.config"
        extra: list[str] = []
        for setting in settings:
            extra += ["--set", setting]
        self.configure("--url", halo_url, "--client-id", "halo-integrator", "--secret-env",
                       "client_secret=HOSTILE_SECRET", *extra, secret=HALO_SECRET)

    def configure(self, *args: str, secret: str = "") -> None:
        result = integrator("CONFIGURE", "--config", str(self.config), *args, cwd=self.folder,
                            env={"HOSTILE_SECRET": secret})
        assert result.returncode == 0, result.stdout + result.stderr

    def connection(self, integration: str, *args: str, secret: str = "") -> None:
        self.configure("--connection", integration, *args, secret=secret)

    def auto(self, *options: str, timeout: float = 90.0) -> Run:
        return run_bounded(["AUTO", "--config", str(self.config), *options], cwd=self.folder, timeout=timeout)

    def log(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in sorted((self.folder / "logs").glob("*.log")))

    def files(self) -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in self.folder.rglob("*") if p.is_file() and not p.is_symlink()}


def enable_entra(halo: Any, folder: IntegratorFolder, graph_url: str) -> None:
    """Halo's Entra ID connection enabled (users only), its app secret and Graph address kept locally."""
    from tests.e2e_world import ENTRA

    with halo.lock:
        halo.state["azureadconnections"][1].update({**ENTRA, "intune_enabled": False})
    folder.connection("azure_ad:1", "--set", f"login_url={graph_url}", "--set", f"graph_url={graph_url}",
                      "--secret-env", "app_secret=HOSTILE_SECRET", secret=APP_SECRET)


def enable_directory(halo: Any, folder: IntegratorFolder, port: int, *, password: str = BIND_PASSWORD) -> None:
    """Halo's LDAP connection aimed at a (hostile) plain-LDAP server on 127.0.0.1:``port``."""
    from tests.hostile_ldap import BASE_DN

    record = {
        "name": "Hostile directory", "hostname": "127.0.0.1", "port": str(port), "use_ssl": False,
        "username": "CN=svc,DC=hostile,DC=test", "integrator_password": password, "pagesize": 1000,
        "halointegratorenabled": True, "halointegrator_batch": 100, "halointegrator_allowedclientids": "",
        "uactguidmappingfield": "", "user_matching_fields": "", "mappings_user": [],
        "ldap_strings": [{"id": 101, "connection_id": 1, "name": "Staff", "dn": BASE_DN, "filter": "",
                          "isrecursive": True, "site_id": 2}],
    }
    with halo.lock:
        halo.state["ldapconnections"][1].update(record)
    folder.connection("active_directory:1", "--set", "allow_plain_ldap=true", "--set", "starttls=false")


def pieces(secret: str, size: int = 8) -> set[str]:
    """Every ``size``-character piece of ``secret``: a shortened secret is still a leak."""
    return {secret[i:i + size] for i in range(0, max(1, len(secret) - size + 1))}


def leaks(texts: dict[str, str | bytes], secrets: Iterable[str]) -> list[str]:
    found = []
    for where, text in texts.items():
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        for secret in secrets:
            if secret and any(piece.encode() in data for piece in pieces(secret)):
                found.append(f"{where}: a piece of {secret[:3]}...")
    return found


def last_errors(halo: Any) -> dict[str, str]:
    """Every Last Error Halo holds on its connection records."""
    texts = {}
    for table in ("ldapconnections", "azureadconnections"):
        for record in halo.records(table):
            texts[f"Last Error of {table} {record.get('id')}"] = str(record.get("halointegrator_lasterror") or "")
    return texts


def assert_contained(run: Run, folder: IntegratorFolder, *, secrets: Iterable[str], halo: Any = None,
                     says: Iterable[str] = ()) -> None:
    """The verdict every hostile case shares (``says``: words the user must be told, in the log or output)."""
    assert not run.killed, f"the run did not stop by itself within its time limit ({run.seconds:.0f} s)"
    assert run.peak_mb < PEAK_MB, f"the run took {run.peak_mb:.0f} MB"
    assert run.code != 0, "the run said it succeeded"
    assert "Traceback" not in run.output and "Internal error" not in folder.log(), folder.log()[-3000:]
    texts: dict[str, str | bytes] = {**folder.files(), "stdout": run.stdout, "stderr": run.stderr}
    if halo is not None:
        texts.update(last_errors(halo))
    found = leaks(texts, list(secrets))
    assert not found, found
    told = (folder.log() + run.output).lower()
    for words in says:
        assert words.lower() in told, f"not told {words!r}: {folder.log()[-2500:]}"
