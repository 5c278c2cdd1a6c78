"""The command line: AUTO (scheduled run), CONFIGURE (headless setup), CHECK, or the window.

Exit codes: 0 all succeeded, 1 at least one integration failed, 2 configuration or authentication
problem, 3 another run in progress, 4 internal error. AUTO never opens a window and never prints when
stdout is None (a windowed executable); everything it has to say goes to the log file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from halointegrator import PRODUCT_NAME, __version__
from halointegrator.errors import EXIT_CONFIG, EXIT_INTERNAL, EXIT_OK, ConfigError, IntegratorError
from halointegrator.redaction import redact

COMMANDS = ("AUTO", "CONFIGURE", "CHECK")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="HaloIntegrator",
        description=f"{PRODUCT_NAME} {__version__}: imports users and devices into Halo. "
        "Without a command it opens the window.",
        epilog="Exit codes: 0 all succeeded, 1 an integration failed, 2 configuration or authentication "
        "problem, 3 another run in progress, 4 internal error (see the log).",
    )
    parser.add_argument("command", nargs="?", type=str.upper, choices=COMMANDS,
                        help="AUTO: run every enabled integration without a window (for Task Scheduler); "
                        "CONFIGURE: set the Halo connection without a window; CHECK: test the configuration")
    parser.add_argument("--version", action="version", version=f"{PRODUCT_NAME} {__version__}")
    parser.add_argument("--config", type=config_file, help="the configuration file (default: HaloIntegrator.config "
                        "beside the program)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change in Halo, change nothing")
    parser.add_argument("--only", metavar="NAME", help="run one integration only: active_directory, azure_ad, "
                        "lansweeper, sccm, sql_import or powershell")
    parser.add_argument("--allow-mass-deactivation", action="store_true",
                        help="let a run deactivate more users than the safety threshold allows")
    parser.add_argument("--console", action="store_true", help="AUTO/CHECK: also print the log to the console")
    configure = parser.add_argument_group("CONFIGURE")
    configure.add_argument("--url", help="the Halo Web App URL, e.g. https://yourcompany.halopsa.com")
    configure.add_argument("--client-id", help="the Client ID from Configuration > Integrations > Halo Integrator")
    configure.add_argument("--connection", metavar="INTEGRATION:ID",
                           help="apply --set/--secret-env to the local settings of one Halo connection, e.g. "
                           "azure_ad:1; INTEGRATION alone: its settings for all its connections, e.g. powershell")
    configure.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                           help="a setting (api_url, auth_url, tenant, ca_bundle, proxy, verify_tls, request_budget, ...)")
    configure.add_argument("--secret-env", action="append", default=[], metavar="KEY=ENVVAR",
                           help="a secret read from an environment variable (e.g. client_secret=HALO_SECRET); "
                           "secrets are never taken from the command line")
    configure.add_argument("--secret-stdin", action="append", default=[], metavar="KEY",
                           help="a secret read from standard input, one line")
    return parser


def config_file(text: str) -> Path:
    """--config's value: a file name (argparse turns the ArgumentTypeError into a usage error, exit 2)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty: give the configuration file, e.g. --config "
                                         "C:\\HaloIntegrator\\HaloIntegrator.config")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("the path contains bytes that are not UTF-8 text: type it again") from None
    return Path(text)


class RedactingStream:
    """stdout / stderr as the program writes them: every secret the run knows is masked on the way out."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - any text stream
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is the stream's
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run; never raises (a windowed executable must exit with a code)."""
    _give_streams_a_sink()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (argparse printed why)
        return int(exit_.code or 0) if isinstance(exit_.code, int) else EXIT_CONFIG
    try:
        if args.command == "AUTO":
            from halointegrator.app.auto import run_auto
            return run_auto(args)
        if args.command == "CHECK":
            from halointegrator.app.check import run_check
            return run_check(args)
        if args.command == "CONFIGURE":
            from halointegrator.app.configure import run_configure
            return run_configure(args)
        from halointegrator.gui.app import main as gui_main
        return gui_main(config_path=args.config)
    except IntegratorError as error:
        _say(str(error))
        return error.exit_code
    except BaseException:  # noqa: BLE001 - last line of defence: a code, never a dialog nobody closes
        logging.getLogger("halointegrator").exception("Internal error")
        _say("Internal error: see the log file for details.")
        return EXIT_INTERNAL


def _give_streams_a_sink() -> None:
    """A windowed executable has no stdout/stderr: give argparse and friends somewhere harmless to write."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _say(text: str) -> None:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # a message quoting undecodable input
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError, AttributeError):
        pass


__all__ = ["main", "build_parser", "EXIT_OK", "ConfigError"]
