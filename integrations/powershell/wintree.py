"""Windows only: a job object that holds a script's whole process tree and kills it when closed.

The process is assigned to the job right after it starts (Popen cannot start it suspended); PowerShell
takes far longer than that to load before the script runs, so what the script starts is inside the
job. Nested jobs work from Windows 8 / Server 2012 on, so this also works when Task Scheduler runs
the Integrator inside a job of its own. If the job cannot be made or joined, ``taskkill /T /F`` ends
the tree by process id instead.

Not run on the Linux test machines (see docs/powershell-notes.md): written against the Win32
documentation of CreateJobObjectW, SetInformationJobObject (JobObjectExtendedLimitInformation,
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE), AssignProcessToJobObject and TerminateJobObject.
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
from ctypes import wintypes

from halointegrator.local.acl import system_tool

log = logging.getLogger("halointegrator.powershell")  # under the app logger, so it reaches the log file

CREATE_NO_WINDOW = 0x08000000  # the windowed Integrator has no console; PowerShell must not open one
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
TASKKILL_TIMEOUT_SECONDS = 30


class IO_COUNTERS(ctypes.Structure):  # noqa: N801 (Win32 names)
    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
        "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", wintypes.DWORD),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", wintypes.DWORD),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", wintypes.DWORD),
        ("SchedulingClass", wintypes.DWORD),
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def _kernel32():
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.SetInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD]
    kernel32.SetInformationJobObject.restype = wintypes.BOOL
    kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
    kernel32.TerminateJobObject.argtypes = [wintypes.HANDLE, wintypes.UINT]
    kernel32.TerminateJobObject.restype = wintypes.BOOL
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.CloseHandle.restype = wintypes.BOOL
    return kernel32


class WindowsTree:
    """A started process and the job that holds its tree."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.kernel32 = _kernel32()
        self.job = self._job_for(process)

    def _job_for(self, process: subprocess.Popen):
        job = self.kernel32.CreateJobObjectW(None, None)
        if not job:
            log.warning("Could not create a job object (error %d); taskkill will end the tree", ctypes.get_last_error())
            return None
        info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        joined = (self.kernel32.SetInformationJobObject(job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
                                                        ctypes.byref(info), ctypes.sizeof(info))
                  and self.kernel32.AssignProcessToJobObject(job, int(process._handle)))  # noqa: SLF001
        if not joined:
            log.warning("Could not put PowerShell in a job object (error %d); taskkill will end the tree",
                        ctypes.get_last_error())
            self.kernel32.CloseHandle(job)
            return None
        return job

    def end(self) -> None:
        if self.job:
            self.kernel32.TerminateJobObject(self.job, 1)
            return
        if self.process.poll() is None:
            subprocess.run([_taskkill(), "/T", "/F", "/PID", str(self.process.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, creationflags=CREATE_NO_WINDOW,
                           timeout=TASKKILL_TIMEOUT_SECONDS, check=False)

    def close(self) -> None:
        if self.job:
            self.kernel32.CloseHandle(self.job)  # KILL_ON_JOB_CLOSE: anything left in the job ends now
            self.job = None


def _taskkill() -> str:
    """taskkill.exe by its full path: a bare name would be looked up in the Start-in folder first."""
    return system_tool("taskkill.exe")
