"""Halo Integrator entry point: `HaloIntegrator.exe` (window), `AUTO` (scheduled run), `CONFIGURE`, `CHECK`.

Entry only: every import happens inside main() so that a windowed executable, whose stdout and stderr
are None, can never die on an import error before the CLI's own error handling is in place.
"""

import sys


def main() -> int:
    try:
        from halointegrator.app.cli import main as cli_main
    except BaseException:  # noqa: BLE001 - a broken bundle must still exit with a code, not a dialog
        return 4
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
