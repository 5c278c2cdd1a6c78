"""Screenshots of every tab of the real program against the running sandbox (README's docs/screenshots/).

    .venv/bin/python scripts/screenshots.py --out docs/screenshots/linux              # from source, 100 %
    .venv/bin/python scripts/screenshots.py --out DIR --dpi 144                         # 150 %
    .venv/bin/python scripts/screenshots.py --out DIR --program "wine build/wine/dist/HaloIntegrator.exe"

It starts `python -m sandbox --serve` with the program configured for it, opens the program's window on
an Xvfb of its own (sized and with the DPI asked for: Tk on X follows the display's DPI; wine follows its
registry's LogPixels, which scripts/wine-build.sh sets) with HALO_SELFTEST_TOUR set (halointegrator/gui/
tour.py: each tab in turn, its button pressed), and takes a PNG of the window (ImageMagick's import)
each time the tour says a tab is ready. Exit code 0 when every tab was photographed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READY = "Press Ctrl-C here to stop the sandbox."
SCREENS = {96: (1280, 1024), 144: (1920, 1200)}  # room for the window at 100 % (960x760) and 150 % (1440x1140)
TOUR_SECONDS = 600


def say(text: str) -> None:
    print(f"screenshots: {text}", flush=True)


def start_sandbox(program: list[str], workdir: Path, users: int, ldap_users: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "sandbox", "--serve", "--workdir", str(workdir), "--users", str(users),
               "--ldap-users", str(ldap_users), "--program", shlex.join(program)]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        print("  sandbox: " + line.rstrip(), flush=True)
        if line.strip() == READY:
            return process
    raise SystemExit(f"python -m sandbox --serve ended (exit code {process.wait()}) before it was up")


def window_id(title: str, env: dict[str, str]) -> str:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"], env=env,
                           capture_output=True, text=True, timeout=30)
    ids = found.stdout.split()
    return ids[-1] if ids else "root"


def photograph(tour: Path, out: Path, env: dict[str, str], window: subprocess.Popen, palette: bool) -> list[str]:
    """Answer the tour: a PNG for each <name>.ready, then <name>.done; until the window closes."""
    taken: list[str] = []
    deadline = time.monotonic() + TOUR_SECONDS
    while time.monotonic() < deadline:
        for ready in sorted(tour.glob("*.ready")):
            name = ready.stem
            if name in taken:
                continue
            target = out / f"{name}.png"
            target.unlink(missing_ok=True)
            shot = subprocess.run(["import", "-window", window_id(ready.read_text(encoding="utf-8"), env),
                                   str(target)], env=env, capture_output=True, text=True, timeout=60)
            if shot.returncode != 0:
                say(f"import failed for {name}: {shot.stderr.strip()}")
            elif palette:  # 256 colours: a quarter of the size, the same picture (for docs/ in git)
                subprocess.run(["convert", str(target), "-dither", "None", "-colors", "256", f"PNG8:{target}"],
                               check=True, timeout=60)
            taken.append(name)
            (tour / f"{name}.done").touch()
            say(f"{target}")
        if window.poll() is not None:
            return taken
        time.sleep(0.2)
    window.kill()
    raise SystemExit(f"the window's tour did not end within {TOUR_SECONDS} s")


def open_window(program: list[str], config: Path, env: dict[str, str]) -> subprocess.Popen:
    """The program's window. Its output goes through a pipe: Windows Python under wine cannot start
    with a file as stdout ("Failed to start embedded python interpreter!")."""
    window = subprocess.Popen([*program, "--config", str(config)], cwd=config.parent, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def relay() -> None:
        for line in window.stdout:
            print("  window: " + line.rstrip(), flush=True)

    threading.Thread(target=relay, daemon=True).start()
    return window


def run(args: argparse.Namespace) -> int:
    from pyvirtualdisplay import Display

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    program = shlex.split(args.program) if args.program else [sys.executable, str(REPO / "integrator.py")]
    with tempfile.TemporaryDirectory(prefix="halo-screenshots-") as scratch, \
            Display(backend="xvfb", size=SCREENS.get(args.dpi, SCREENS[144]), extra_args=["-dpi", str(args.dpi)]):
        workdir, tour = args.workdir.resolve(), Path(scratch) / "tour"
        env = {**os.environ, "HALO_SELFTEST_TOUR": str(tour)}
        sandbox = start_sandbox(program, workdir, args.users, args.ldap_users)
        try:
            window = open_window(program, workdir / "HaloIntegrator.config", env)
            taken = photograph(tour, out, env, window, args.palette)
            code = window.wait(timeout=60)
        finally:
            sandbox.send_signal(signal.SIGINT)
            sandbox.communicate(timeout=60)
    say(f"{len(taken)} screenshot(s) in {out}; the window exited with {code}")
    return 0 if taken and code == 0 and len(taken) >= args.expect else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs (<n>-<tab>.png)")
    parser.add_argument("--program", default="", help="the Integrator to photograph (default: integrator.py)")
    parser.add_argument("--dpi", type=int, default=96, help="96 for 100 %%, 144 for 150 %%")
    parser.add_argument("--users", type=int, default=1000, help="Entra ID users in the sandbox")
    parser.add_argument("--ldap-users", type=int, default=300, help="people in the OpenLDAP directory")
    parser.add_argument("--expect", type=int, default=0, help="the tabs to photograph (default: all of them)")
    parser.add_argument("--workdir", type=Path, default=REPO / "sandbox-run",
                        help="the sandbox's folder, as python -m sandbox --serve (emptied first)")
    parser.add_argument("--palette", action="store_true", help="256-colour PNGs (small enough for docs/ in git)")
    args = parser.parse_args(argv)
    if not args.expect:
        sys.path.insert(0, str(REPO))
        from integrations import REGISTRY

        args.expect = len(REGISTRY) + 2  # Configuration, one tab per integration, Processes
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
