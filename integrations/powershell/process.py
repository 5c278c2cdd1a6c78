"""Running one PowerShell process: a time limit that ends the whole tree, and bounded output.

The process starts in a tree of its own: on POSIX a new session (so its process group holds everything
it starts), on Windows a job object that kills every member when closed (``taskkill /T /F`` if the job
cannot be made). When the time limit passes, Stop is pressed, or the script has exited, the whole tree
is ended: nothing a script starts outlives its run or keeps its output pipes open. (A program that
leaves the tree on purpose, with setsid or a job breakaway, can escape; the run then stops waiting for
its output after a short grace period.)

stdout and stderr are each kept up to a bound, the first part and the last part, and the bytes dropped
between them are counted. Output is decoded as UTF-8 when it is valid UTF-8 (or carries a BOM), else
with Windows' OEM code page (what Windows PowerShell writes to a pipe), else with replacement characters.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Sequence

OUTPUT_LIMIT = 1024 * 1024  # bytes kept per stream
HEAD_SHARE = 4  # 1/4 of the bound keeps the start, the rest the end (where errors are)
READ_CHUNK = 64 * 1024
PIPE_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.05
CHILD_ENVIRONMENT = {  # no colour codes, no update check or telemetry output from pwsh
    "NO_COLOR": "1", "POWERSHELL_UPDATECHECK": "Off", "POWERSHELL_TELEMETRY_OPTOUT": "1",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class BoundedOutput:
    """The first and last parts of a stream, with a count of the bytes dropped between them."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.head_limit = max(0, limit // HEAD_SHARE)
        self.tail_limit = max(0, limit - self.head_limit)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        excess = len(self.tail) - self.tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    @property
    def total(self) -> int:
        return len(self.head) + self.dropped + len(self.tail)

    def text(self) -> str:
        """The kept output as text; when bytes were dropped, "[... N bytes not kept ...]" marks the gap."""
        if not self.dropped:
            return decode_output(bytes(self.head + self.tail))
        gap = f"\n[... {self.dropped:,} bytes of output not kept ...]\n"
        return decode_output(bytes(self.head), cut_end=True) + gap + decode_output(bytes(self.tail), cut_start=True)


@dataclass
class ProcessResult:
    """How one process ended."""

    exit_code: int | None = None
    stdout: BoundedOutput = field(default_factory=BoundedOutput)
    stderr: BoundedOutput = field(default_factory=BoundedOutput)
    seconds: float = 0.0
    timed_out: bool = False
    cancelled: bool = False
    pipes_left_open: bool = False  # something outside the tree still held stdout/stderr
    start_error: str = ""

    def stdout_text(self) -> str:
        return strip_terminal_codes(self.stdout.text())

    def stderr_text(self) -> str:
        return strip_terminal_codes(self.stderr.text())


def run_process(argv: Sequence[str], *, timeout: float, cancel: threading.Event | None = None,
                cwd: str | None = None, output_limit: int = OUTPUT_LIMIT) -> ProcessResult:
    """Run ``argv`` to its end, its time limit or ``cancel``; never raises for the process's behaviour."""
    result = ProcessResult(stdout=BoundedOutput(output_limit), stderr=BoundedOutput(output_limit))
    started = time.monotonic()
    try:
        process, tree = _start(argv, cwd)
    except OSError as error:
        result.start_error = f"it could not be started: {error.strerror or error}"
        return result
    readers = [_reader(process.stdout, result.stdout), _reader(process.stderr, result.stderr)]
    try:
        _wait(process, result, started + max(0.0, timeout), cancel)
    finally:
        tree.end()
        result.exit_code = process.wait()
        result.pipes_left_open = not _join(readers, PIPE_GRACE_SECONDS)
        tree.close()
        result.seconds = time.monotonic() - started
    return result


def _wait(process: subprocess.Popen, result: ProcessResult, deadline: float, cancel: threading.Event | None) -> None:
    while process.poll() is None:
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return
        if time.monotonic() >= deadline:
            result.timed_out = True
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(POLL_SECONDS)


def _start(argv: Sequence[str], cwd: str | None) -> tuple[subprocess.Popen, "_Tree"]:
    environment = {**os.environ, **CHILD_ENVIRONMENT}
    common = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                  env=environment)
    if os.name == "nt":
        from integrations.powershell.command import windows_command_line
        from integrations.powershell.wintree import CREATE_NO_WINDOW, WindowsTree

        process = subprocess.Popen(windows_command_line(argv), executable=argv[0], creationflags=CREATE_NO_WINDOW,
                                   **common)
        return process, WindowsTree(process)
    process = subprocess.Popen(list(argv), start_new_session=True, **common)
    return process, _PosixTree(process)


class _Tree:
    def end(self) -> None: ...

    def close(self) -> None: ...


class _PosixTree(_Tree):
    """The process's session: its group id is its pid, and everything it starts stays in the group."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.group = process.pid

    def end(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the whole group has already gone
            os.killpg(self.group, signal.SIGKILL)


def _reader(stream: BinaryIO, sink: BoundedOutput) -> threading.Thread:
    def pump() -> None:
        try:
            while chunk := stream.read1(READ_CHUNK):
                sink.add(chunk)
        except (OSError, ValueError):
            pass  # the pipe was closed under us: what was read is kept
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    thread = threading.Thread(target=pump, name="powershell-output", daemon=True)
    thread.start()
    return thread


def _join(readers: list[threading.Thread], grace: float) -> bool:
    deadline = time.monotonic() + grace
    for thread in readers:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in readers)


# ---- decoding ------------------------------------------------------------------------------------

def decode_output(data: bytes, *, cut_start: bool = False, cut_end: bool = False) -> str:
    """Bytes a script wrote, as text, whatever their encoding; never raises.

    ``cut_start`` / ``cut_end`` say the bytes were cut out of a longer stream, so a character split at
    the cut is dropped rather than making valid UTF-8 look invalid.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    trimmed = _trim_utf8_cuts(data, cut_start, cut_end)
    try:
        return trimmed.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codepage = _oem_codepage()
    if codepage:
        try:
            return data.decode(codepage, errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")


def _trim_utf8_cuts(data: bytes, cut_start: bool, cut_end: bool) -> bytes:
    if cut_start:
        skip = 0
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
            skip += 1
        data = data[skip:]
    if cut_end:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        try:
            kept = decoder.decode(data, final=False)
        except UnicodeDecodeError:
            return data
        return kept.encode("utf-8")
    return data


def _oem_codepage() -> str | None:
    """Windows PowerShell writes to a pipe in the console's OEM code page (e.g. cp850); elsewhere None."""
    if os.name != "nt":
        return None
    try:
        import ctypes

        return f"cp{ctypes.windll.kernel32.GetOEMCP()}"
    except (AttributeError, OSError):
        return None


def strip_terminal_codes(text: str) -> str:
    """Without ANSI colour and cursor sequences (pwsh colours errors), NULs and stray carriage returns."""
    text = _ANSI.sub("", text).replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")
