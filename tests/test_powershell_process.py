"""Running PowerShell for real processes: the stand-in interpreter on a temporary PATH (POSIX).

Exit codes, output, non-UTF-8 output, a hang, a child that outlives the script, huge output, Stop;
and the checks (PowerShell found and its version, the script file, parameter names).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from integrations.powershell.checks import check_parameter_names, check_powershell, check_script_file, checks_for
from integrations.powershell.command import find_interpreter, installed_locations, probe_version, script_argv
from integrations.powershell.location import resolve_script, unc_problem
from integrations.powershell.outcome import judge, result_message
from integrations.powershell.process import BoundedOutput, decode_output, run_process
from integrations.powershell.records import script_from
from integrations.powershell.settings import RunSettings
from tests.powershell_standin import install, script_text

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in interpreter is a POSIX script")


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """The stand-in `powershell` and `pwsh` alone on PATH; returns a helper to write scripts."""
    folder = install(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("PS_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))
    return Standin(tmp_path)


class Standin:
    def __init__(self, root: Path) -> None:
        self.root = root

    def script(self, name: str = "task.ps1", **behaviour) -> Path:
        path = self.root / "scripts" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(script_text(**behaviour), encoding="utf-8")
        return path

    def calls(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def run(self, script: Path, arguments=(), *, seven: bool = False, timeout: float = 30, **options):
        interpreter = find_interpreter(seven)
        return run_process(script_argv(interpreter, str(script), list(arguments)), timeout=timeout, **options)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); it no longer runs
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_until_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


# ---- finding PowerShell ----------------------------------------------------------------------------

def test_the_interpreter_is_found_on_path_by_the_scripts_setting(standin, tmp_path):
    assert find_interpreter(False).path == str(tmp_path / "bin" / "powershell")
    assert find_interpreter(True).path == str(tmp_path / "bin" / "pwsh")


def test_relative_path_entries_and_the_current_folder_are_not_searched(tmp_path, monkeypatch):
    planted = install(tmp_path / "here")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PATH", os.pathsep.join([".", "here", "", str(tmp_path / "empty")]))
    assert find_interpreter(False) is None and find_interpreter(True) is None


def test_an_interpreter_in_a_path_folder_anyone_may_write_is_not_used(tmp_path):
    """A folder any local user may write, earlier on PATH than PowerShell's own: a powershell planted
    there would run every script as the Integrator's account, so such a folder is skipped."""
    writable = tmp_path / "tools"
    writable.mkdir()
    writable.chmod(0o777)
    planted = writable / "powershell"
    planted.write_text("#!/bin/sh\nexit 0\n")
    planted.chmod(0o755)
    system = install(tmp_path / "system")
    found = find_interpreter(False, environ={"PATH": f"{writable}{os.pathsep}{system}"}, installed=[])
    assert found is not None and found.path == str(system / "powershell")


def test_powershells_own_install_location_is_looked_at_before_path(tmp_path):
    """Where PowerShell installs itself (admin-only folders) wins over whatever PATH names first."""
    installed = install(tmp_path / "opt") / "pwsh"
    on_path = install(tmp_path / "bin")
    found = find_interpreter(True, environ={"PATH": str(on_path)},
                             installed=[str(tmp_path / "nowhere"), str(installed)])
    assert found is not None and found.path == str(installed)


@pytest.mark.parametrize("seven, system, environ, wanted", [
    (True, "nt", {"ProgramFiles": "D:\\Programs"}, ["D:\\Programs\\PowerShell\\7\\pwsh.exe"]),
    (True, "nt", {}, ["C:\\Program Files\\PowerShell\\7\\pwsh.exe"]),
    (False, "nt", {"SystemRoot": "C:\\WINNT"}, ["C:\\WINNT\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"]),
    (False, "nt", {}, ["C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"]),
    (True, "posix", {}, ["/usr/bin/pwsh", "/opt/microsoft/powershell/7/pwsh"]),
    (False, "posix", {}, []),
])
def test_the_install_locations_looked_at_first(seven, system, environ, wanted):
    """pwsh and powershell.exe are looked for where their installers put them before PATH is searched."""
    assert installed_locations(seven, environ, system) == wanted


def test_an_override_path_is_used_only_when_it_exists(standin, tmp_path):
    assert find_interpreter(True, str(tmp_path / "bin" / "pwsh")).path == str(tmp_path / "bin" / "pwsh")
    assert find_interpreter(True, str(tmp_path / "nowhere" / "pwsh.exe")) is None


def test_the_version_probe_runs_once_and_names_the_version(standin, monkeypatch):
    monkeypatch.setenv("PS_STANDIN_VERSION", "7.4.6")
    assert probe_version(find_interpreter(True)) == ("7.4.6", "")
    assert standin.calls()[0]["argv"] == ["-NoProfile", "-NonInteractive", "-Command",
                                          "$PSVersionTable.PSVersion.ToString()"]
    monkeypatch.setenv("PS_STANDIN_PROBE_EXIT", "3")
    version, problem = probe_version(find_interpreter(True))
    assert version is None and "exited with code 3" in problem


# ---- exit codes and output --------------------------------------------------------------------------

def test_the_script_gets_the_exact_argv_and_its_folder_as_working_folder(standin):
    script = standin.script(echo=True)
    result = standin.run(script, [("Name", "Ada"), ("Odd", "-Force; $(rm -rf /) `\n\"--")], cwd=str(script.parent))
    call = standin.calls()[0]
    assert call["argv"] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", str(script),
                            "-Name:", "Ada", "-Odd:", "-Force; $(rm -rf /) `\n\"--"]
    assert call["cwd"] == str(script.parent)
    assert json.loads(result.stdout_text()) == {"Name": "Ada", "Odd": "-Force; $(rm -rf /) `\n\"--"}


@pytest.mark.parametrize("code", [0, 1, 2, 255])
def test_exit_codes_are_reported(standin, code):
    result = standin.run(standin.script(exit=code, stdout="done\n"))
    assert result.exit_code == code and not result.timed_out and result.stdout_text() == "done\n"


def test_stdout_and_stderr_are_captured_apart(standin):
    result = standin.run(standin.script(stdout="all good\n", stderr="\x1b[31;1mWrite-Error: careful\x1b[0m\n"))
    assert result.stdout_text() == "all good\n"
    assert result.stderr_text() == "Write-Error: careful\n"  # pwsh's colour codes are removed


def test_non_utf8_output_is_decoded_safely(standin):
    result = standin.run(standin.script(stdout_hex=b"caf\xe9 \xff\xfe ok\r\n".hex()))
    assert result.stdout_text() == "caf\ufffd \ufffd\ufffd ok\n"


def test_utf16_output_with_a_bom_is_decoded(standin):
    result = standin.run(standin.script(stdout_hex=("\ufeffGrüße".encode("utf-16-le")).hex()))
    assert result.stdout_text() == "Grüße"


def test_huge_output_is_bounded_and_says_how_much_was_dropped(standin):
    result = standin.run(standin.script(flood=20_000_000, exit=0), output_limit=64 * 1024)
    assert result.exit_code == 0
    assert result.stdout.total == 20_000_000
    assert len(result.stdout.head) + len(result.stdout.tail) == 64 * 1024
    assert result.stdout.dropped == 20_000_000 - 64 * 1024
    assert "bytes of output not kept" in result.stdout_text()
    _success, headline = judge(script_from({"id": 1}), result)
    message = result_message(headline, result)
    assert len(message) <= 8000 and "19,934,464 bytes in its middle were not kept" in message


# ---- time limit, process tree, Stop -----------------------------------------------------------------

def test_a_script_that_never_ends_is_ended_at_its_time_limit(standin):
    script = standin.script(sleep=600)
    result = standin.run(script, timeout=5)  # long enough for the stand-in to start on a busy machine
    assert result.timed_out and result.exit_code != 0
    assert not alive(standin.calls()[0]["pid"])
    success, headline = judge(script_from({"id": 1}), result)
    assert not success and "past its time limit" in headline and "not run again automatically" in headline


def test_a_child_that_would_outlive_a_hung_script_is_ended_too(standin, tmp_path):
    pidfile = tmp_path / "child.pid"
    result = standin.run(standin.script(child_pidfile=str(pidfile), sleep=600), timeout=5)
    assert result.timed_out
    assert wait_until_gone(int(pidfile.read_text()))


def test_a_child_left_running_by_a_finished_script_is_ended_and_does_not_hold_the_run(standin, tmp_path):
    pidfile = tmp_path / "child.pid"
    result = standin.run(standin.script(child_pidfile=str(pidfile), stdout="started a helper\n"), timeout=60)
    assert result.exit_code == 0 and not result.timed_out and not result.pipes_left_open
    assert result.stdout_text() == "started a helper\n"
    assert wait_until_gone(int(pidfile.read_text()))


def test_stop_ends_a_running_script_and_says_it_may_have_made_changes(standin):
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        result = standin.run(standin.script(sleep=600), timeout=600, cancel=cancel)
    finally:
        timer.cancel()
    assert result.cancelled and not result.timed_out
    success, headline = judge(script_from({"id": 1}), result)
    assert not success and headline.startswith("Stopped from the Integrator") and "part of its changes" in headline


def test_an_interpreter_that_cannot_start_is_reported_not_raised(tmp_path):
    broken = tmp_path / "pwsh"
    broken.write_text("not a program")
    broken.chmod(0o755)
    result = run_process([str(broken), "-File", "x.ps1"], timeout=5)
    assert result.start_error and result.exit_code is None
    success, headline = judge(script_from({"id": 1}), result)
    assert not success and headline.startswith("Not run: PowerShell it could not be started")


# ---- decoding and bounding (pure) ----------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (b"plain", "plain"),
    ("Grüße".encode(), "Grüße"),
    (b"\xef\xbb\xbfwith bom", "with bom"),
    (b"\xe9t\xe9", "\ufffdt\ufffd"),
    (b"", ""),
])
def test_decode_output(data, expected):
    assert decode_output(data) == expected


def test_a_character_split_at_the_kept_parts_edge_does_not_spoil_utf8():
    sink = BoundedOutput(limit=8)
    sink.add("ééééééé".encode() + b"!")  # 15 bytes: 2 kept at the start, 6 at the end, cut mid-character
    text = sink.text()
    assert "\ufffd" not in text and text == "é\n[... 7 bytes of output not kept ...]\néé!"


# ---- checks ---------------------------------------------------------------------------------------------

def script_record(location: str, **fields) -> dict:
    return {"id": 4, "name": "Onboard", "location": location, **fields}


def test_the_checks_name_the_version_the_file_and_the_parameters(standin):
    script = script_from(script_record(str(standin.script()), usepowershellseven=True,
                                       fieldmappings_powershell=[{"parametername": "TicketId"}]))
    checks = checks_for(script, RunSettings(script_folder=str(standin.root / "scripts")))
    assert [check.ok for check in checks] == [True, True, True]
    assert [check.prerequisite for check in checks] == ["powershell", "script_file", "parameters"]
    assert "PowerShell 7 (pwsh) 7.4.6 at" in checks[0].detail and checks[2].detail == "TicketId"


def test_the_checks_say_what_is_wrong(standin, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    script = script_from(script_record(str(tmp_path / "gone.ps1"),
                                       fieldmappings_powershell=[{"parametername": "Bad Name"},
                                                                 {"parametername": "x"}, {"parametername": "X"}]))
    checks = checks_for(script, RunSettings(script_folder=str(tmp_path)))
    assert [check.ok for check in checks] == [False, False, False]
    assert "Windows PowerShell (powershell.exe) is not in its usual place" in checks[0].detail
    assert "does not exist on this server" in checks[1].detail
    assert "'Bad Name' is not a valid PowerShell parameter name" in checks[2].detail
    assert "'X' is mapped twice" in checks[2].detail


@pytest.mark.parametrize("location, folder, fragment", [
    ("", "{root}", "has no location"),
    ("scripts/x.ps1", "{root}", "is not a full path"),
    ("/etc/hosts", "{root}", "is not a .ps1 file"),
    ("{scripts}", "{root}", "is a folder"),
    ("{other}/x.ps1", "{scripts}", "outside the scripts folder"),
    ("{other}/x.ps1", "", "No scripts folder is set on this computer"),
    ("{other}/x.ps1", "{root}/missing", "does not exist on this server"),
    ("{other}/x.ps1", "scripts", "is not a full path"),
    ("{scripts}/link.ps1", "{scripts}", "resolves to"),
])
def test_script_file_problems(standin, tmp_path, location, folder, fragment):
    """A script runs only from the scripts folder set on this computer; each refusal says what to fix."""
    scripts, other = tmp_path / "scripts.ps1", tmp_path / "other"
    scripts.mkdir()
    other.mkdir()
    (other / "x.ps1").write_text("param()")
    (scripts / "link.ps1").symlink_to(other / "x.ps1")  # inside by name, outside once resolved
    place = {"scripts": str(scripts), "other": str(other), "root": str(tmp_path)}
    check = check_script_file(script_from(script_record(location.format(**place))),
                              RunSettings(script_folder=folder.format(**place)))
    assert not check.ok and fragment in check.detail


def test_without_a_scripts_folder_the_check_names_where_to_set_it(standin):
    """No folder set: the check (and each queued run's answer) says where to set it, window and CONFIGURE."""
    check = check_script_file(script_from(script_record(str(standin.script()))), RunSettings())
    assert not check.ok
    assert "Scripts folder" in check.detail and "CONFIGURE --connection powershell --set script_folder=" in check.detail


UNC_PATHS = [r"\\attacker.example\share\New-User.ps1", r"\\?\UNC\attacker\s\x.ps1", r"\\.\pipe\x.ps1",
             r"\\127.0.0.1@SSL@443\DavWWWRoot\x.ps1", "//attacker.example/share/x.ps1", r"\\?\C:\Scripts\x.ps1"]


@pytest.mark.parametrize("location", UNC_PATHS)
def test_a_share_or_device_path_is_refused_as_location_and_as_scripts_folder(tmp_path, location):
    """On Windows a UNC path is a full path: PowerShell would fetch the script from that share, and Windows
    would authenticate to it as the Integrator's account (its NTLM hash included). Refused before any file
    is touched, for the script's location and for the scripts folder, saying to use a local folder."""
    as_location = resolve_script(location, str(tmp_path))[1]
    as_folder = resolve_script(str(tmp_path / "x.ps1"), location.rsplit("\\", 1)[0])[1]
    for problem in (as_location, as_folder):
        assert problem is not None and "network share or device path" in problem and "local path" in problem
    assert unc_problem(str(tmp_path / "x.ps1"), "The script's location") is None


def test_a_script_others_may_change_is_refused(standin, tmp_path):
    """Whoever may rewrite a script (or its folder) may run code as the Integrator's account: a group- or
    world-writable script, subfolder or scripts folder is refused with the chmod that fixes it."""
    folder = tmp_path / "scripts"
    (folder / "sub").mkdir(parents=True)
    script = standin.script("sub/task.ps1")
    assert resolve_script(str(script), str(folder)) == (str(script), None)
    for changed, mode, what in ((script, 0o666, "The script file"), (script.parent, 0o777, "The folder"),
                                (folder, 0o775, "The scripts folder")):
        before = changed.stat().st_mode & 0o777
        changed.chmod(mode)
        real, problem = resolve_script(str(script), str(folder))
        changed.chmod(before)
        assert real == "" and problem.startswith(f"{what} {str(changed)!r} may be changed by other users")
        assert f"chmod go-w '{changed}'" in problem


def test_a_script_inside_the_scripts_folder_passes(standin):
    path = standin.script()
    assert check_script_file(script_from(script_record(str(path))), RunSettings(script_folder=str(path.parent))).ok


def test_a_probe_that_hangs_is_ended(standin, tmp_path, monkeypatch):
    slow = tmp_path / "slow" / "pwsh"
    slow.parent.mkdir()
    slow.write_text("#!/bin/sh\nexec /bin/sleep 600\n")
    slow.chmod(0o755)
    check = check_powershell(script_from(script_record("", usepowershellseven=True)),
                             RunSettings(powershell_path=str(slow)), probe=False)
    assert check.ok
    version, problem = probe_version(find_interpreter(True, str(slow)), timeout=1)
    assert version is None and "did not answer within 1 s" in problem


def test_parameter_names_check_with_no_mappings():
    check = check_parameter_names(script_from(script_record("")))
    assert check.ok and check.detail == "the script maps no parameters"

