"""A stand-in for powershell.exe / pwsh: PowerShell cannot be installed on the test machines.

``install(folder)`` writes executables named ``powershell`` and ``pwsh`` into ``folder`` that run this
file. The stand-in records the argv it received (a JSON line in $PS_STANDIN_RECORD), binds the
``-File`` arguments as PowerShell's CommandLineParameterParser does, and behaves as the script file
says: a line ``#standin {json}`` in the .ps1 with any of

    stdout / stderr     text to write (UTF-8)        stdout_hex    raw bytes to write to stdout
    echo                print the bound parameters as JSON
    flood               write this many bytes of output (huge output)
    child_pidfile       start a child process that writes its pid there and sleeps (outlives us)
    sleep               seconds to sleep before exiting (a hang)
    exit                the exit code (default 0)

``-Command $PSVersionTable.PSVersion.ToString()`` prints $PS_STANDIN_VERSION (default 7.4.6 for pwsh,
5.1.19041.4291 for powershell) and exits with $PS_STANDIN_PROBE_EXIT (default 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MARKER = "#standin "


def install(folder: Path) -> Path:
    """Executables ``powershell`` and ``pwsh`` in ``folder`` that run this stand-in; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("powershell", "pwsh"):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" --as {name} "$@"\n')
        path.chmod(0o755)
    return folder


def script_text(**behaviour) -> str:
    """A .ps1 body telling the stand-in how to behave (and a param line, as a real script has)."""
    return f"param()\n{MARKER}{json.dumps(behaviour)}\nWrite-Output 'stand-in'\n"


def bind_file_arguments(args: list[str]) -> tuple[dict[str, object], list[str]]:
    """PowerShell's -File argument binding (CommandLineParameterParser.ParseFile, pwsh 7).

    ``-Name:`` takes the next argument whatever it is; ``-Name:value`` binds value (true/false, with or
    without $, become booleans); ``-Name`` alone is a switch or takes the next positional argument.
    """
    bound: dict[str, object] = {}
    positional: list[str] = []
    pending: str | None = None
    last_switch: str | None = None
    for arg in args:
        if pending is not None:
            bound[pending], pending = arg, None
        elif arg[:1] in "-\u2013\u2014\u2015" and len(arg) > 1:
            name, colon, value = arg[1:].partition(":")
            if colon and not value:
                pending = name
            elif colon:
                word = value[1:] if value.startswith("$") else value
                bound[name] = {"true": True, "false": False}.get(word.lower(), value)
            else:
                bound[name], last_switch = True, name
        elif last_switch is not None:
            bound[last_switch], last_switch = arg, None
        else:
            positional.append(arg)
    return bound, positional


def main(argv: list[str]) -> int:
    name = argv[argv.index("--as") + 1]
    args = argv[argv.index("--as") + 2:]
    record = {"as": name, "argv": args, "cwd": os.getcwd(), "pid": os.getpid()}
    if "-Command" in args:
        _record(record)
        default = "7.4.6" if name == "pwsh" else "5.1.19041.4291"
        print(os.environ.get("PS_STANDIN_VERSION", default))
        return int(os.environ.get("PS_STANDIN_PROBE_EXIT", "0"))
    script = args[args.index("-File") + 1]
    record["bound"], record["positional"] = bind_file_arguments(args[args.index("-File") + 2:])
    _record(record)
    behaviour = _behaviour(Path(script))
    return _behave(behaviour, record["bound"])


def _record(record: dict) -> None:
    target = os.environ.get("PS_STANDIN_RECORD")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _behaviour(script: Path) -> dict:
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    return {}


def _behave(behaviour: dict, bound: dict) -> int:
    out = sys.stdout.buffer
    if "stdout" in behaviour:
        out.write(behaviour["stdout"].encode("utf-8"))
    if "stdout_hex" in behaviour:
        out.write(bytes.fromhex(behaviour["stdout_hex"]))
    if behaviour.get("echo"):
        out.write(json.dumps(bound, ensure_ascii=False).encode("utf-8") + b"\n")
    if "stderr" in behaviour:
        sys.stderr.buffer.write(behaviour["stderr"].encode("utf-8"))
        sys.stderr.flush()
    _flood(out, int(behaviour.get("flood", 0)))
    out.flush()
    if "child_pidfile" in behaviour:
        child = "import os,sys,time; open(sys.argv[1],'w').write(str(os.getpid())); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", child, behaviour["child_pidfile"]])
        _wait_for(Path(behaviour["child_pidfile"]))
    time.sleep(float(behaviour.get("sleep", 0)))
    return int(behaviour.get("exit", 0))


def _flood(out, total: int) -> None:
    line = b"x" * 1023 + b"\n"
    while total > 0:
        chunk = line * min(64, total // len(line) + 1)
        out.write(chunk[:total])
        total -= len(chunk[:total])


def _wait_for(path: Path) -> None:
    for _ in range(500):
        if path.exists() and path.read_text().strip():
            return
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
