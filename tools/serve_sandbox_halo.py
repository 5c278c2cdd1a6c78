"""Serve the sandbox Halo on 127.0.0.1 until killed, and write its URL to a file.

For the smoke tests of a built executable that run outside pytest: scripts/wine-build.sh and
.github/workflows/windows-exe.yml. The URL file appears complete (written then renamed), so a
waiting script never reads half of it.

    python tools/serve_sandbox_halo.py URL_FILE
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.halo_server import HaloSandbox  # noqa: E402 - needs the repository on sys.path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    url_file = Path(argv[0])
    with HaloSandbox() as halo:
        partial = url_file.with_name(url_file.name + ".partial")
        partial.write_text(halo.url, encoding="utf-8")
        partial.replace(url_file)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
