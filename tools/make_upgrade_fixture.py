"""Write tests/fixtures/config-v1.0.0/: the files Halo Integrator 1.0.0 leaves beside itself.

HaloIntegrator.config (encrypted secrets), HaloIntegrator.key and HaloIntegrator.state (a Graph delta
link), written through the real ConfigStore and StateStore of version 1.0.0. The files are committed
and never regenerated: every later version must read them (tests/test_upgrade.py). The key file is
the plain kind (not DPAPI) so the fixture opens on any machine; the values are fake.

    python tools/make_upgrade_fixture.py [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from halointegrator import __version__  # noqa: E402 - needs the repository on sys.path
from halointegrator.local.config import Config, ConfigStore, HaloSettings, StateStore  # noqa: E402
from halointegrator.local.keystore import PlainProtector  # noqa: E402

FIXTURE_VERSION = "1.0.0"
DEFAULT_OUT = REPO / "tests" / "fixtures" / f"config-v{FIXTURE_VERSION}"


def fixture_config() -> Config:
    """What a 1.0.0 user had saved: the Halo connection, one connection secret, options, window state."""
    halo = HaloSettings(
        web_app_url="https://acme.halopsa.com",
        client_id="halo-integrator",
        client_secret="v1.0.0-fixture-Halo-client-secret",
        tenant="acme",
        request_budget=250,
    )
    return Config(
        halo=halo,
        connections={"azure_ad:1": {"app_secret": "v1.0.0-fixture-Entra-app-secret", "graph_url": ""}},
        options={"allow_mass_deactivation": False},
        gui={"size": "900x640", "tab": "processes"},
    )


def fixture_state() -> dict:
    return {
        "azure_ad:1": {
            "users_delta": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=v1.0.0-fixture-delta-token",
            "users_full_read_at": "2026-11-27T02:00:00Z",
        }
    }


def write_fixture(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "HaloIntegrator.config"
    ConfigStore(config_path, protector=PlainProtector()).save(fixture_config())
    StateStore(config_path.with_suffix(".state")).save(fixture_state())
    return sorted(out.glob("HaloIntegrator.*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="overwrite an existing fixture (never for a released one)")
    args = parser.parse_args(argv)
    if __version__ != FIXTURE_VERSION and args.out == DEFAULT_OUT:
        print(f"This is version {__version__}: the {FIXTURE_VERSION} fixture must come from {FIXTURE_VERSION}.")
        return 1
    if (args.out / "HaloIntegrator.config").exists() and not args.force:
        print(f"{args.out} already holds a fixture; released fixtures are never rewritten (--force to do it anyway).")
        return 1
    for path in write_fixture(args.out):
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
