"""Where files go: beside the program (frozen or not), logs in "Start in" unless that cannot work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from halointegrator.local import paths

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def frozen_at(monkeypatch, tmp_path: Path):
    exe = tmp_path / "dist" / "HaloIntegrator.exe"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    return exe.parent


def test_from_source_app_dir_is_the_repository_root():
    assert not paths.is_frozen()
    assert paths.app_dir() == REPO_ROOT
    assert (paths.app_dir() / "halointegrator" / "local" / "paths.py").exists()
    assert paths.default_config_path() == REPO_ROOT / "HaloIntegrator.config"


def test_frozen_app_dir_is_the_executables_folder(frozen_at: Path):
    assert paths.is_frozen()
    assert paths.app_dir() == frozen_at
    assert paths.default_config_path() == frozen_at / "HaloIntegrator.config"


def test_sibling_files_of_the_config(tmp_path: Path):
    config = tmp_path / "HaloIntegrator.config"
    assert paths.key_path_for(config).name == "HaloIntegrator.key"
    assert paths.state_path_for(config).name == "HaloIntegrator.state"
    assert paths.lock_path_for(config).name == "HaloIntegrator.lock"
    assert paths.lock_path_for(config).parent == tmp_path


@pytest.mark.parametrize(
    "folder, root, inside",
    [
        (r"C:\Windows\System32", r"C:\Windows", True),
        (r"c:\windows\SYSWOW64", r"C:\WINDOWS", True),
        (r"C:\Windows", r"C:\Windows", True),
        (r"C:\WindowsApps\Halo", r"C:\Windows", False),
        (r"D:\Halo", r"C:\Windows", False),
        (r"C:\Windows\System32", None, False),
    ],
)
def test_is_inside_system_root(folder, root, inside):
    assert paths.is_inside_system_root(Path(folder), root) is inside


def test_logs_go_to_the_start_in_folder(tmp_path: Path):
    folder, note = paths.choose_log_dir(tmp_path)
    assert folder == tmp_path / "logs" and note == ""
    assert folder.is_dir()


def test_system_folder_falls_back_to_the_program_folder(tmp_path: Path, frozen_at: Path, monkeypatch):
    system32 = tmp_path / "Windows" / "System32"
    monkeypatch.setattr(paths, "windows_system_root", lambda: str(tmp_path / "WINDOWS"))  # any case
    folder, note = paths.choose_log_dir(system32)
    assert folder == frozen_at / "logs"
    assert "Windows system folder" in note and 'Start in' in note and str(folder) in note
    assert not (system32 / "logs").exists()


def test_unwritable_start_in_folder_falls_back(tmp_path: Path, frozen_at: Path):
    blocked = tmp_path / "readonly"
    folder, note = paths.choose_log_dir(
        blocked, check_writable=lambda f: "Permission denied" if blocked in f.parents else ""
    )
    assert folder == frozen_at / "logs"
    assert f"cannot be written to {blocked / 'logs'} (Permission denied)" in note


def test_start_in_that_is_a_file_falls_back(tmp_path: Path, frozen_at: Path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")  # mkdir under a file fails even for root
    folder, note = paths.choose_log_dir(a_file)
    assert folder == frozen_at / "logs" and folder.is_dir()
    assert str(a_file / "logs") in note


def test_last_resort_is_the_temp_folder(tmp_path: Path, frozen_at: Path, monkeypatch):
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path / "temp"))
    folder, note = paths.choose_log_dir(tmp_path / "cwd", check_writable=lambda f: "Access is denied")
    assert folder == tmp_path / "temp" / "HaloIntegrator" / "logs"
    assert "cannot be written either" in note


def test_prepare_writable_dir_reports_the_reason(tmp_path: Path):
    assert paths.prepare_writable_dir(tmp_path / "new" / "logs") == ""
    assert list((tmp_path / "new" / "logs").iterdir()) == []  # the probe is removed
    (tmp_path / "f").write_text("x")
    assert paths.prepare_writable_dir(tmp_path / "f" / "logs") != ""
