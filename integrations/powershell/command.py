"""The PowerShell command line: which interpreter, and the exact arguments a script run gets.

A run is ``<powershell> -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <script>`` followed,
for each parameter, by two arguments of their own: ``-<Name>:`` and the value. Nothing is ever pasted
into a command string, so quotes, ``$( )``, ``;``, backticks and newlines reach the script literally.

Why ``-Name:`` + value and not ``-Name`` + value: both hosts' ``-File`` parsers (Windows PowerShell's and
pwsh's CommandLineParameterParser) bind the argument after a ``-Name:`` to Name whatever it holds,
whereas after a plain ``-Name`` a value starting with a dash (``--``, ``-Force``, ``–x``) would be taken
for another parameter, and ``-Name:value`` in one argument turns ``$true``/``false`` into booleans.

On Windows the arguments become one command line (CreateProcess takes a string): ``windows_command_line``
quotes by the rules the C runtime and .NET split by (the same rules ``subprocess.list2cmdline`` follows,
but it also quotes on any whitespace, not only space and tab). What a command line cannot carry at all
(NUL, unpaired surrogates, more than 32,767 characters) is refused before anything starts.
"""

from __future__ import annotations

import ntpath
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

WINDOWS_COMMAND_LINE_LIMIT = 32_767  # CreateProcessW's lpCommandLine, terminating NUL excluded
HOST_OPTIONS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")
VERSION_PROBE = "$PSVersionTable.PSVersion.ToString()"
PROBE_TIMEOUT_SECONDS = 60.0
_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.]+)?)\b")


@dataclass(frozen=True)
class Interpreter:
    """A PowerShell host found on this server."""

    path: str
    seven: bool  # pwsh (PowerShell 7) rather than Windows PowerShell

    @property
    def title(self) -> str:
        return "PowerShell 7 (pwsh)" if self.seven else "Windows PowerShell (powershell.exe)"


def interpreter_names(seven: bool) -> tuple[str, ...]:
    return ("pwsh",) if seven else ("powershell",)


def installed_locations(seven: bool, environ: Mapping[str, str], system: str = os.name) -> list[str]:
    """Where PowerShell installs itself, in folders only administrators may change: looked at before PATH."""
    if system == "nt":
        if seven:
            return [ntpath.join(environ.get("ProgramFiles") or r"C:\Program Files", "PowerShell", "7", "pwsh.exe")]
        windows = environ.get("SystemRoot") or r"C:\Windows"
        return [ntpath.join(windows, "System32", "WindowsPowerShell", "v1.0", "powershell.exe")]
    return ["/usr/bin/pwsh", "/opt/microsoft/powershell/7/pwsh"] if seven else []


def find_interpreter(seven: bool, override: str = "", environ: Mapping[str, str] | None = None,
                     installed: Sequence[str] | None = None) -> Interpreter | None:
    """The interpreter a script asks for: the local override when set, else where PowerShell installs
    itself (``installed``, default ``installed_locations``), else the first on PATH.

    PATH is searched by hand: only absolute folders, never the current directory (Windows' own search
    and shutil.which look there first, so a powershell.exe planted in the Start-in folder would run),
    and on POSIX never a folder any user may write to (a powershell planted there would run).
    """
    if override.strip():
        path = Path(override.strip())
        return Interpreter(str(path), seven) if path.is_absolute() and path.is_file() else None
    environ = os.environ if environ is None else environ
    for location in installed_locations(seven, environ) if installed is None else installed:
        if _runnable(Path(location)):
            return Interpreter(location, seven)
    for folder in (environ.get("PATH") or "").split(os.pathsep):
        folder = folder.strip().strip('"')
        if not folder or not os.path.isabs(folder) or _anyone_may_write(folder):
            continue
        for name in interpreter_names(seven):
            for candidate in _candidates(Path(folder) / name, environ):
                if _runnable(candidate):
                    return Interpreter(str(candidate), seven)
    return None


def _runnable(path: Path) -> bool:
    return path.is_file() and (os.name == "nt" or os.access(path, os.X_OK))


def _anyone_may_write(folder: str) -> bool:
    """POSIX: a PATH folder every user may write to (a planted powershell there would run)."""
    if os.name == "nt":
        return False
    try:
        return bool(os.stat(folder).st_mode & stat.S_IWOTH)
    except OSError:
        return True  # not there: nothing to find in it


def _candidates(base: Path, environ: Mapping[str, str]) -> Iterable[Path]:
    if os.name != "nt":
        return (base,)
    extensions = [ext for ext in (environ.get("PATHEXT") or ".EXE").split(";") if ext.upper() in (".EXE", ".COM")]
    return [base.with_name(base.name + ext.lower()) for ext in extensions or [".exe"]]


def script_argv(interpreter: Interpreter, script_path: str, arguments: Sequence[tuple[str, str]]) -> list[str]:
    """The argv of one run: host options, -File, then ``-Name:`` and the value for each parameter."""
    argv = [interpreter.path, *HOST_OPTIONS, "-File", script_path]
    for name, value in arguments:
        argv += [f"-{name}:", value]
    return argv


def probe_argv(interpreter: Interpreter) -> list[str]:
    return [interpreter.path, "-NoProfile", "-NonInteractive", "-Command", VERSION_PROBE]


def parse_version(output: str) -> str | None:
    """"7.4.1" from the probe's output; Windows PowerShell 5.1 prints e.g. "5.1.19041.4291"."""
    match = _VERSION.search(output or "")
    return match.group(1) if match else None


def probe_version(interpreter: Interpreter, timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[str | None, str]:
    """(version, problem): runs ``-Command $PSVersionTable.PSVersion.ToString()`` once."""
    from integrations.powershell.process import run_process  # one runner for every PowerShell process

    result = run_process(probe_argv(interpreter), timeout=timeout, output_limit=64 * 1024)
    output = result.stdout_text()
    version = parse_version(output) if result.exit_code == 0 else None
    if version:
        return version, ""
    if result.start_error:
        return None, result.start_error
    if result.timed_out:
        return None, f"it did not answer within {timeout:g} s"
    said = (result.stderr_text() or output).strip().splitlines()
    return None, f"it exited with code {result.exit_code}" + (f": {said[-1][:200]}" if said else "")


# ---- what a command line can carry ---------------------------------------------------------------

def argument_problem(name: str, value: str) -> str | None:
    """Why a parameter value cannot be passed safely as one argument, or None when it can."""
    if "\x00" in value:
        return f"The value of {name} contains a NUL character, which no command line can carry."
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        return f"The value of {name} contains text that is not valid Unicode (an unpaired surrogate)."
    return None


def command_line_problem(argv: Sequence[str]) -> str | None:
    """Why these arguments cannot become one Windows command line, or None."""
    length = len(windows_command_line(argv))
    if length > WINDOWS_COMMAND_LINE_LIMIT:
        return (f"The parameters are too long for a Windows command line ({length:,} characters; Windows "
                f"allows {WINDOWS_COMMAND_LINE_LIMIT:,}). Pass long text another way (e.g. the ticket id, "
                "and let the script read the ticket).")
    return None


def windows_command_line(argv: Sequence[str]) -> str:
    """The command line Windows splits back into exactly ``argv`` (C runtime / .NET rules)."""
    return " ".join(quote_windows_argument(argument) for argument in argv)


def quote_windows_argument(argument: str) -> str:
    """One argument as ``subprocess.list2cmdline`` writes it, but quoted on any whitespace (\\n, \\v, ...).

    list2cmdline quotes only on space and tab; an argument holding a newline is safe only quoted, since
    the parsers disagree on what else splits arguments. With no other whitespace the result is
    list2cmdline's exactly.
    """
    needs_quotes = not argument or any(char.isspace() for char in argument)
    quoted, backslashes = ['"'] if needs_quotes else [], 0
    for char in argument:
        if char == "\\":
            backslashes += 1
            continue
        if char == '"':
            quoted.append("\\" * (backslashes * 2) + '\\"')
        else:
            quoted.append("\\" * backslashes + char)
        backslashes = 0
    quoted.append("\\" * (backslashes * 2 if needs_quotes else backslashes) + ('"' if needs_quotes else ""))
    return "".join(quoted)
