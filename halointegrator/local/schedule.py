"""The scheduled task that runs ``AUTO`` every night: what to type into Task Scheduler, its XML, a cron line.

The guide asks for a task that points at the Integrator with the argument AUTO and "Start in" set to the
Integrator's folder (so the logs land there). Everything here is a pure function of the program's location,
except ``create_windows_task``, which hands the XML to ``schtasks``.

The task runs "whether the user is logged on or not" without storing a password (logon type S4U): Task
Scheduler then needs no password from us, and the key that protects the config is machine-scoped DPAPI, so
the task can read it. S4U gives no network credentials of the user (no UNC paths as that user); the
Integrator only needs HTTPS and LDAP with its own bind account, so that is enough.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from xml.sax.saxutils import escape

from halointegrator.errors import ConfigError, IntegratorError
from halointegrator.local.acl import system_tool

TASK_NAME = "Halo Integrator"
TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
SCHTASKS_TIMEOUT_SECONDS = 60


class ScheduleError(IntegratorError):
    """Task Scheduler refused to create the task."""


@dataclass(frozen=True)
class ScheduledTask:
    """The three things Task Scheduler asks for ("Program/script", "Add arguments", "Start in") and when."""

    program: str
    arguments: tuple[str, ...]
    start_in: str
    name: str = TASK_NAME
    hour: int = 2
    minute: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.hour <= 23 and 0 <= self.minute <= 59):
            raise ConfigError(f"A scheduled time must be between 00:00 and 23:59, not {self.hour}:{self.minute:02d}.")


def task_for_program(
    *,
    frozen: bool,
    executable: Path,
    script: Path,
    config_path: Path | None = None,
    default_config_path: Path | None = None,
) -> ScheduledTask:
    """The task for this program: the exe itself when frozen, else the Python interpreter and integrator.py.

    "Start in" is the program's folder (the exe's, or integrator.py's), where the guide wants the logs.
    A configuration file other than the default one is passed with --config so AUTO reads the same file.
    """
    if frozen:
        program, arguments, folder = executable, ["AUTO"], executable.parent
    else:
        program, arguments, folder = executable, [str(script), "AUTO"], script.parent
    if config_path is not None and default_config_path is not None and \
            Path(config_path).absolute() != Path(default_config_path).absolute():
        arguments += ["--config", str(Path(config_path).absolute())]  # the task starts in another folder
    return ScheduledTask(program=str(program), arguments=tuple(arguments), start_in=str(folder))


def task_for_this_program(config_path: Path | None = None) -> ScheduledTask:
    """The task for the running program (sys.executable when frozen)."""
    from halointegrator.local.paths import app_dir, default_config_path, is_frozen

    return task_for_program(
        frozen=is_frozen(),
        executable=Path(sys.executable),
        script=app_dir() / "integrator.py",
        config_path=config_path,
        default_config_path=default_config_path(),
    )


def windows_arguments(task: ScheduledTask) -> str:
    """"Add arguments" as Windows parses them: quoted where a path has spaces."""
    return subprocess.list2cmdline(list(task.arguments))


TASK_TEMPLATE = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="{namespace}">
  <RegistrationInfo>
    <Description>Runs every integration enabled for the Halo Integrator (AUTO); logs in the Start-in folder.</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>{start}</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
{user_line}      <LogonType>S4U</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <ExecutionTimeLimit>PT4H</ExecutionTimeLimit>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{arguments}</Arguments>
      <WorkingDirectory>{working_directory}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def task_xml(task: ScheduledTask, *, user: str = "", start_date: str = "2024-01-01") -> str:
    """The Task Scheduler 1.2 XML for ``task``: nightly, whether the user is logged on or not (S4U).

    Only one instance at a time (IgnoreNew), started late if the computer was off (StartWhenAvailable),
    on batteries too, and stopped after four hours should it ever hang.
    """
    return TASK_TEMPLATE.format(
        namespace=TASK_NAMESPACE,
        start=f"{start_date}T{task.hour:02d}:{task.minute:02d}:00",
        user_line=f"      <UserId>{escape(user)}</UserId>\n" if user else "",
        command=escape(task.program),
        arguments=escape(windows_arguments(task)),
        working_directory=escape(task.start_in),
    )


def cron_line(task: ScheduledTask) -> str:
    """The crontab line doing the same elsewhere: nightly, in the program's folder."""
    command = " ".join(shlex.quote(part) for part in (task.program, *task.arguments))
    return f"{task.minute} {task.hour} * * * cd {shlex.quote(task.start_in)} && {command}"


def current_windows_user(environ: Mapping[str, str] = os.environ) -> str:
    """DOMAIN\\user of the person creating the task ("" when Windows did not say)."""
    user = environ.get("USERNAME", "")
    domain = environ.get("USERDOMAIN", "")
    return f"{domain}\\{user}" if domain and user else user


def schtasks_command(xml_path: Path, name: str) -> list[str]:
    """Create (or replace: /F) the task from its XML file."""
    return [system_tool("schtasks.exe"), "/Create", "/XML", str(xml_path), "/TN", name, "/F"]


def create_windows_task(
    task: ScheduledTask,
    *,
    user: str | None = None,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    temp_dir: Path | None = None,
) -> str:
    """Register ``task`` with Task Scheduler through schtasks; returns what schtasks said.

    Standard streams are given explicitly: a windowed executable has none, and a child that inherits
    them fails with WinError 6. schtasks reads UTF-16 XML files reliably, so the file is written so.
    """
    user = current_windows_user() if user is None else user
    with tempfile.TemporaryDirectory(dir=temp_dir) as folder:
        xml_path = Path(folder) / "HaloIntegratorTask.xml"
        xml_path.write_text(task_xml(task, user=user), encoding="utf-16")
        try:
            completed = run(
                schtasks_command(xml_path, task.name),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=SCHTASKS_TIMEOUT_SECONDS, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise ScheduleError(f"Could not run schtasks to create the scheduled task: {error}") from None
    said = _decode(completed.stdout) + _decode(completed.stderr)
    if completed.returncode != 0:
        raise ScheduleError(
            f"Task Scheduler did not create the task '{task.name}' (schtasks exit code {completed.returncode}): "
            f"{said.strip() or 'no message'}. Create it by hand with the settings shown, or run the Integrator "
            "as an administrator and try again."
        )
    return said.strip() or f"Created the scheduled task '{task.name}'."


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    for encoding in ("utf-8", "mbcs", "cp850"):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")
