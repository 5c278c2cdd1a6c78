"""The scheduled task: Task Scheduler XML, the cron line, and the schtasks call (with a fake runner)."""

from __future__ import annotations

import ntpath
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path, PureWindowsPath

import pytest

from halointegrator.errors import ConfigError
from halointegrator.local.acl import system_tool
from halointegrator.local.schedule import (
    TASK_NAMESPACE,
    ScheduledTask,
    ScheduleError,
    create_windows_task,
    cron_line,
    current_windows_user,
    schtasks_command,
    task_for_program,
    task_for_this_program,
    task_xml,
    windows_arguments,
)

NS = {"t": TASK_NAMESPACE}
EXE = r"C:\Program Files\Halo & Co\HaloIntegrator.exe"
WINDOWS_TASK = ScheduledTask(program=EXE, arguments=("AUTO",), start_in=str(PureWindowsPath(EXE).parent))


def parsed(xml_text: str) -> ET.Element:
    # ElementTree refuses a str that declares an encoding; the file on disk is UTF-16 (tested below)
    return ET.fromstring(xml_text.encode("utf-16"))


def test_frozen_program_is_the_executable_with_auto_started_in_its_folder(tmp_path):
    exe = tmp_path / "Halo" / "HaloIntegrator.exe"
    task = task_for_program(frozen=True, executable=exe, script=tmp_path / "ignored.py")
    assert (task.program, task.arguments, task.start_in) == (str(exe), ("AUTO",), str(exe.parent))


def test_from_source_the_program_is_python_running_integrator_py(tmp_path):
    python, script = Path("/usr/bin/python3"), tmp_path / "repo" / "integrator.py"
    task = task_for_program(frozen=False, executable=python, script=script)
    assert task.program == str(python)
    assert task.arguments == (str(script), "AUTO")
    assert task.start_in == str(script.parent)


def test_a_non_default_config_is_passed_to_auto(tmp_path):
    exe = tmp_path / "HaloIntegrator"
    default = tmp_path / "HaloIntegrator.config"
    same = task_for_program(frozen=True, executable=exe, script=exe, config_path=default, default_config_path=default)
    other = task_for_program(frozen=True, executable=exe, script=exe, config_path=tmp_path / "b.config",
                             default_config_path=default)
    assert same.arguments == ("AUTO",)
    assert other.arguments == ("AUTO", "--config", str(tmp_path / "b.config"))


def test_this_program_from_source_points_at_integrator_py():
    task = task_for_this_program()
    assert task.arguments[-1] == "AUTO"
    assert Path(task.arguments[0]).name == "integrator.py"
    assert Path(task.arguments[0]).is_file()


def test_xml_runs_the_program_with_auto_in_its_folder_nightly_logged_on_or_not():
    root = parsed(task_xml(WINDOWS_TASK, user=r"CORP\admin"))
    assert root.tag == f"{{{TASK_NAMESPACE}}}Task"
    assert root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == EXE  # & survived escaping
    assert root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) == "AUTO"
    assert root.findtext("t:Actions/t:Exec/t:WorkingDirectory", namespaces=NS) == r"C:\Program Files\Halo & Co"
    assert root.findtext("t:Principals/t:Principal/t:LogonType", namespaces=NS) == "S4U"
    assert root.findtext("t:Principals/t:Principal/t:UserId", namespaces=NS) == r"CORP\admin"
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger.findtext("t:StartBoundary", namespaces=NS).endswith("T02:00:00")
    assert trigger.findtext("t:ScheduleByDay/t:DaysInterval", namespaces=NS) == "1"
    assert root.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"


def test_xml_without_a_user_lets_task_scheduler_use_the_creator():
    root = parsed(task_xml(WINDOWS_TASK))
    assert root.find("t:Principals/t:Principal/t:UserId", NS) is None


def test_arguments_with_spaces_are_quoted_for_windows():
    task = ScheduledTask(program=r"C:\Python\python.exe", arguments=(r"C:\My Tools\integrator.py", "AUTO"),
                         start_in=r"C:\My Tools")
    assert windows_arguments(task) == '"C:\\My Tools\\integrator.py" AUTO'
    assert parsed(task_xml(task)).findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) == windows_arguments(task)


def test_cron_line_changes_to_the_folder_and_runs_auto_nightly():
    task = ScheduledTask(program="/opt/halo tools/HaloIntegrator", arguments=("AUTO",), start_in="/opt/halo tools",
                         hour=3, minute=30)
    line = cron_line(task)
    fields = line.split(" ", 5)
    assert fields[:5] == ["30", "3", "*", "*", "*"]
    assert shlex.split(fields[5]) == ["cd", "/opt/halo tools", "&&", "/opt/halo tools/HaloIntegrator", "AUTO"]


@pytest.mark.parametrize("hour, minute", [(24, 0), (-1, 0), (2, 60)])
def test_an_impossible_time_is_refused(hour, minute):
    with pytest.raises(ConfigError):
        ScheduledTask(program="x", arguments=("AUTO",), start_in=".", hour=hour, minute=minute)


def test_current_windows_user_has_the_domain_when_windows_gives_one():
    assert current_windows_user({"USERNAME": "ada", "USERDOMAIN": "CORP"}) == "CORP\\ada"
    assert current_windows_user({"USERNAME": "ada"}) == "ada"
    assert current_windows_user({}) == ""


class FakeSchtasks:
    def __init__(self, returncode=0, stdout=b"SUCCESS: The scheduled task was created.", stderr=b""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.calls = []

    def __call__(self, command, **kwargs):
        xml_file = Path(command[command.index("/XML") + 1])
        self.calls.append((command, kwargs, xml_file.read_bytes()))
        return subprocess.CompletedProcess(command, self.returncode, self.stdout, self.stderr)


def test_create_windows_task_hands_utf16_xml_to_schtasks_with_explicit_streams(tmp_path):
    fake = FakeSchtasks()
    said = create_windows_task(WINDOWS_TASK, user="CORP\\admin", run=fake, temp_dir=tmp_path)
    assert "SUCCESS" in said
    (command, kwargs, xml_bytes), = fake.calls
    assert command[:2] == [system_tool("schtasks.exe"), "/Create"] and command[-3:] == ["/TN", "Halo Integrator", "/F"]
    assert command == schtasks_command(Path(command[3]), "Halo Integrator")
    assert kwargs["stdin"] == subprocess.DEVNULL
    assert kwargs["stdout"] == subprocess.PIPE and kwargs["stderr"] == subprocess.PIPE
    assert xml_bytes[:2] in (b"\xff\xfe", b"\xfe\xff")  # a BOM: UTF-16
    assert ET.fromstring(xml_bytes).findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) == "AUTO"
    assert list(tmp_path.iterdir()) == []  # the temporary XML is gone


def test_a_refusal_from_schtasks_says_what_it_said():
    fake = FakeSchtasks(returncode=1, stdout=b"", stderr=b"ERROR: Access is denied.")
    with pytest.raises(ScheduleError, match="Access is denied") as raised:
        create_windows_task(WINDOWS_TASK, user="", run=fake)
    assert "exit code 1" in str(raised.value)


def test_schtasks_missing_is_a_plain_error():
    def missing(command, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "schtasks")

    with pytest.raises(ScheduleError, match="Could not run schtasks"):
        create_windows_task(WINDOWS_TASK, user="", run=missing)


def test_the_scheduled_task_names_a_relative_config_by_its_full_path(tmp_path, monkeypatch):
    from halointegrator.local.schedule import task_for_program

    monkeypatch.chdir(tmp_path)
    program = tmp_path / "app" / "HaloIntegrator.exe"
    task = task_for_program(frozen=True, executable=program, script=program, config_path=Path("other.config"),
                            default_config_path=program.parent / "HaloIntegrator.config")
    assert task.arguments == ("AUTO", "--config", str(tmp_path / "other.config"))
    default = program.parent / "HaloIntegrator.config"
    same = task_for_program(frozen=True, executable=program, script=program, config_path=default,
                            default_config_path=default)
    assert same.arguments == ("AUTO",)


def test_schtasks_is_run_by_its_full_path():
    """Run from the window by the administrator who creates the scheduled task: by bare name Windows looks
    in the program's folder and the current folder first, where another local user may put a schtasks.exe."""
    program = schtasks_command(Path("C:/Temp/x/HaloIntegratorTask.xml"), "Halo Integrator")[0]
    assert ntpath.isabs(program) and program.lower().endswith("\\system32\\schtasks.exe")
