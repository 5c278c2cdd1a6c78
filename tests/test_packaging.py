"""The build inputs: the Windows version resource made from __version__, the icon, the spec's guards."""

from __future__ import annotations

import importlib.util
import runpy
import struct
import types
from pathlib import Path

import pytest

from halointegrator import __version__

REPO = Path(__file__).resolve().parent.parent
version_tool = runpy.run_path(str(REPO / "tools" / "make_version_info.py"))
icon_tool = runpy.run_path(str(REPO / "tools" / "make_icon.py"))


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.0.0", (1, 0, 0, 0)), ("2.5", (2, 5, 0, 0)), ("1.2.3.4", (1, 2, 3, 4)), ("1.2.3rc1", (1, 2, 3, 0)),
     ("v3.1.4.dev2", (3, 1, 4, 0))],
)
def test_version_tuple_has_four_numbers(version: str, expected: tuple) -> None:
    assert version_tool["version_tuple"](version) == expected


@pytest.mark.parametrize("version", ["", "beta", "1.70000.0"])
def test_version_tuple_refuses_what_windows_cannot_show(version: str) -> None:
    with pytest.raises(ValueError):
        version_tool["version_tuple"](version)


def test_read_version_is_the_package_version() -> None:
    assert version_tool["read_version"]() == __version__


@pytest.fixture
def pyinstaller_versioninfo() -> types.ModuleType:
    """PyInstaller's own parser of version files, loaded without its Windows-only imports (pefile,
    win32api), which only writing the resource into an exe needs."""
    origin = importlib.util.find_spec("PyInstaller.utils.win32.versioninfo").origin
    source = Path(origin).read_text(encoding="utf-8")
    for windows_only in ("import pefile", "from PyInstaller.compat import win32api"):
        assert windows_only in source
        source = source.replace(windows_only, "pefile = win32api = None")
    module = types.ModuleType("versioninfo_without_windows")
    exec(compile(source, origin, "exec"), module.__dict__)  # noqa: S102 - PyInstaller's own code
    return module


def test_version_file_is_what_pyinstaller_loads(tmp_path: Path, pyinstaller_versioninfo) -> None:
    path = version_tool["write_version_info"](tmp_path / "version_info.txt", "2.3.4")

    info = pyinstaller_versioninfo.load_version_info_from_text_file(str(path))

    assert info.ffi.fileVersionMS == (2 << 16) | 3 and info.ffi.fileVersionLS == 4 << 16
    text = str(info)
    assert "StringStruct('ProductVersion', '2.3.4')" in text
    assert "StringStruct('FileVersion', '2.3.4.0')" in text
    assert "StringStruct('OriginalFilename', 'HaloIntegrator.exe')" in text


def ico_directory(data: bytes) -> list[tuple[int, bytes]]:
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    entries = []
    for number in range(count):
        width, _height, _colours, _zero, _planes, _bits, size, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * number)
        entries.append((width or 256, data[offset:offset + size]))
    return entries


def test_committed_icon_has_every_size_windows_asks_for() -> None:
    entries = ico_directory((REPO / "assets" / "halo.ico").read_bytes())
    assert [size for size, _ in entries] == [16, 32, 48, 256]
    for size, image in entries:
        if size == 256:
            assert image.startswith(b"\x89PNG\r\n\x1a\n")
        else:  # a BITMAPINFOHEADER with doubled height, 32 bits, then pixels and the AND mask
            assert struct.unpack_from("<Iii", image) == (40, size, size * 2)
            assert len(image) == 40 + size * size * 4 + size * ((size + 31) // 32) * 4


def test_committed_icons_are_what_make_icon_draws(tmp_path: Path) -> None:
    icon_tool["main"](tmp_path)
    assert (tmp_path / "halo.ico").read_bytes() == (REPO / "assets" / "halo.ico").read_bytes()
    assert (tmp_path / "halo.png").read_bytes() == (REPO / "assets" / "halo.png").read_bytes()


def test_icon_is_transparent_outside_the_rounded_square() -> None:
    image = icon_tool["render"](16)
    assert image[0][0][3] == 0 and image[8][8][3] == 255


def test_spec_excludes_test_code_and_is_windowed() -> None:
    spec = (REPO / "build.spec").read_text(encoding="utf-8")
    for name in ("sandbox", "tests", "pytest", "responses", "hypothesis"):
        assert f'"{name}"' in spec
    assert "console=False" in spec and 'name=APP_NAME' in spec
