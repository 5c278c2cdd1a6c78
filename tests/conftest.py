"""Fixtures shared by the whole suite: a test names one and gets it, nothing to import.

Helpers (worlds, clients, seeds) stay in their modules and are imported as usual: fixtures_directory,
fixtures_halo, fixtures_frozen, e2e_world, gui_fixtures, sql_helpers. A module that needs a
fixture made differently (module scope for speed, other credentials) defines its own of the same name,
which pytest uses there instead.

- Real servers, one per session (tests must not change their data): ``slapd`` (1,200 people),
  ``samba`` (a Samba AD DC, 30 people; ``samba_ou`` is an OU of the test's own on it), ``postgres``
  (Lansweeper-like, SCCM-like and HR data). ``fresh_slapd`` is a small slapd the test may change or stop.
  Where a server cannot run here the test is skipped with the reason; on CI (env CI set) it fails.
- Halo: ``halo`` is the Halo sandbox on a free loopback port (seed: nothing enabled for the
  Integrator), ``sandbox`` the same for the window's tests; ``halo_api`` is Halo answered by
  ``responses`` (discovery and tokens added; tests add the API answers), with ``rsps`` and the fake
  clock ``time`` the HaloClient tests drive it with.
- Microsoft: ``graph`` is the Graph emulator with a small tenant; ``graph_world`` the Integrator
  configured for Entra ID against ``halo`` and ``graph``; ``clean_graph_snapshot`` what one clean Entra
  run leaves in a fresh Halo (per module).
- The window: ``make_app`` builds windows (a fake integration, or the registry given).
- The executable: ``frozen_binary``, built once per session (or HALO_FROZEN_BINARY).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import pytest
import responses

from sandbox.database import DatabaseHandle, DatabaseUnavailable, postgres_available, start_postgres
from sandbox.directory import DirectoryHandle, start_samba, start_slapd
from sandbox.directory_data import generate_users
from sandbox.directory_samba import add_people
from sandbox.graph_server import GraphServer
from sandbox.halo_server import HaloSandbox
from tests.e2e_world import APP_ID, APP_SECRET, TENANT_ID, World, clean_snapshot_of, small_tenant
from tests.fixtures_directory import (
    SAMBA_NUMBERS, SLAPD_USERS, require_samba, require_slapd, started, unavailable,
)
from tests.fixtures_frozen import build_binary
from tests.fixtures_halo import FakeTime, add_discovery, add_tokens


# ---- real servers -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def slapd(tmp_path_factory) -> Iterator[DirectoryHandle]:
    """slapd with 1,200 people over three OUs; shared: tests must not change its data."""
    require_slapd()
    handle = started(start_slapd, tmp_path_factory.mktemp("slapd"), users=SLAPD_USERS)
    yield handle
    handle.stop()


@pytest.fixture
def fresh_slapd(tmp_path) -> Iterator[DirectoryHandle]:
    """A small slapd of the test's own (60 people), which the test may change or stop."""
    require_slapd()
    handle = started(start_slapd, tmp_path / "slapd", users=60)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def samba(tmp_path_factory) -> Iterator[DirectoryHandle]:
    """A Samba AD DC provisioned once per session (about ten seconds) with 30 people in two OUs.

    Shared: a test that changes data does so in an OU of its own (``samba_ou``).
    """
    require_samba()
    handle = started(start_samba, tmp_path_factory.mktemp("samba"), users=30)
    yield handle
    handle.stop()


@pytest.fixture
def samba_ou(samba, request) -> Iterator[DirectoryHandle]:
    """An OU of this test's own on the shared Samba DC, with eight people; removed afterwards."""
    ou = f"OU=Sync {request.node.name[:40]},{samba.base_dn}"
    with samba.admin_connection() as conn:
        conn.add(ou, ["top", "organizationalUnit"])
    own = dataclasses.replace(samba, ous=[ou], users=[], process=None)  # process=None: stop() leaves the DC
    own.users = add_people(own, generate_users(8, [ou], "corp.example.com", with_guids=False,
                                                first_number=next(SAMBA_NUMBERS)))
    yield own
    with samba.admin_connection() as conn:
        conn.delete(ou, controls=[("1.2.840.113556.1.4.805", True, None)])  # tree delete


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[DatabaseHandle]:
    """PostgreSQL seeded with 3,000 Lansweeper-like assets, 1,500 SCCM machines and 400 people, reached
    through unixODBC; shared: tests must not change its data (halo_audit aside, which the write tests
    count). A test that changes rows makes a table of its own (tests.sql_helpers.DeviceTable).

    The server speaks TLS only and the Integrator verifies it: while the fixture lives, PGSSLROOTCERT
    (libpq's, inherited by the Integrator processes the tests start) names the sandbox's CA."""
    if reason := postgres_available():
        unavailable(reason)
    try:
        handle = start_postgres(tmp_path_factory.mktemp("postgres"))
    except DatabaseUnavailable as error:
        unavailable(str(error))
        raise  # not reached: unavailable() raises
    with pytest.MonkeyPatch.context() as environment:
        for name, value in handle.client_env().items():
            environment.setenv(name, value)
        yield handle
    handle.stop()


# ---- Halo -------------------------------------------------------------------------------------------

@pytest.fixture
def halo(request) -> Iterator[HaloSandbox]:
    """The Halo sandbox on 127.0.0.1 (client halo-integrator / sandbox-secret; nothing enabled for the
    Integrator in its default seed). A test module may set ``HALO_SANDBOX`` (HaloSandbox's keywords, e.g. the
    hostile suites' own client secret)."""
    with HaloSandbox(**getattr(request.module, "HALO_SANDBOX", {})) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox() -> Iterator[HaloSandbox]:
    """The Halo sandbox for the window's tests, as ``halo`` (seed: both connections disabled)."""
    with HaloSandbox() as running:
        yield running


@pytest.fixture
def time() -> FakeTime:
    """A clock that only moves when the code under test sleeps (tests.fixtures_halo.make_client uses it)."""
    return FakeTime()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def halo_api(rsps) -> responses.RequestsMock:
    """Halo answered by ``responses``: it discovers and hands out tokens; tests add the API answers."""
    add_discovery(rsps)
    add_tokens(rsps)
    return rsps


# ---- Microsoft Graph ----------------------------------------------------------------------------------

@pytest.fixture
def graph(request) -> Iterator[GraphServer]:
    """The Graph emulator with a small tenant (60 users in 3 groups, 12 devices). A test module may set
    ``GRAPH_TENANT`` (small_tenant's keywords) and ``GRAPH_SECRET`` (the app's client secret)."""
    tenant = small_tenant(**getattr(request.module, "GRAPH_TENANT", {}))
    with GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID,
                     client_secret=getattr(request.module, "GRAPH_SECRET", APP_SECRET)) as server:
        yield server


@pytest.fixture
def graph_world(halo, graph, tmp_path) -> World:
    """Entra ID (users and Intune devices) into the Halo sandbox; the LDAP connection stays disabled."""
    return World(halo, tmp_path, graph=graph)


@pytest.fixture(scope="module")
def clean_graph_snapshot(tmp_path_factory) -> dict[str, list[str]]:
    """Halo after one clean Entra ID run, for comparing a run that met faults and recovered."""
    return clean_snapshot_of(tmp_path_factory.mktemp("clean-run"))


# ---- the window ---------------------------------------------------------------------------------------

@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Builds windows with a fake integration (or the registry given), config and logs in tmp_path;
    without a display the test skips (in CI it fails)."""
    from halointegrator.gui.app import App  # the window's modules (and tkinter) only for window tests
    from halointegrator.local.logs import setup_logging
    from tests.gui_fixtures import FAKE, FakeDialogs, fake_integration, new_root

    made = []

    def make(registry=None, *, dialogs=None, scaling=None, config_path=None, **options):
        registry = {FAKE: fake_integration()} if registry is None else registry
        root = new_root(scaling)
        log = setup_logging(tmp_path / "logs")
        app = App(root, config_path or tmp_path / "HaloIntegrator.config", registry=registry, log=log,
                  log_dir=tmp_path / "logs", dialogs=dialogs or FakeDialogs(), **options)
        made.append(app)
        root.update()
        return app

    yield make
    for app in made:
        if not app.closed:
            app.destroy()


# ---- the executable -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def frozen_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built executable of the current source (or HALO_FROZEN_BINARY)."""
    given = os.environ.get("HALO_FROZEN_BINARY")
    if given:
        if not Path(given).is_file():
            pytest.fail(f"HALO_FROZEN_BINARY={given} is not a file")
        return Path(given)
    return build_binary(tmp_path_factory.mktemp("frozen"))
