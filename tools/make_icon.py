"""Draw the Halo Integrator icon with the standard library: assets/halo.png and a multi-size assets/halo.ico.

The icon is a white ring (the "halo") with a dot in the middle on a rounded blue square. Every size is
rendered from the shape itself (not scaled from a bitmap), anti-aliased by supersampling, so the
16-pixel version stays crisp. The output is deterministic: running this again gives the same bytes.

    python tools/make_icon.py            # writes assets/halo.png (256 px) and assets/halo.ico (16/32/48/256)
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

ICO_SIZES = (16, 32, 48, 256)
PNG_SIZE = 256
BACKGROUND = (0x1F, 0x4E, 0x9A)  # a deep blue
RING = (0xFF, 0xFF, 0xFF)
DOT = (0x5C, 0xD6, 0xF2)  # a light cyan accent
ASSETS = Path(__file__).resolve().parent.parent / "assets"

Pixel = tuple[int, int, int, int]


def shape_colour(x: float, y: float) -> tuple[int, int, int] | None:
    """The colour at a point of the unit square (0..1), or None outside the rounded square."""
    corner, half = 0.2, 0.5
    dx, dy = max(abs(x - half) - (half - corner), 0.0), max(abs(y - half) - (half - corner), 0.0)
    if dx * dx + dy * dy > corner * corner:
        return None
    distance = math.hypot(x - half, y - half)
    if 0.25 <= distance <= 0.36:
        return RING
    if distance <= 0.11:
        return DOT
    return BACKGROUND


def render(size: int, samples: int = 4) -> list[list[Pixel]]:
    """An RGBA image of ``size`` x ``size``; each pixel averages samples x samples points."""
    rows = []
    for row in range(size):
        pixels = []
        for column in range(size):
            pixels.append(_pixel(column, row, size, samples))
        rows.append(pixels)
    return rows


def _pixel(column: int, row: int, size: int, samples: int) -> Pixel:
    red = green = blue = covered = 0.0
    for sub_y in range(samples):
        for sub_x in range(samples):
            hit = shape_colour((column + (sub_x + 0.5) / samples) / size, (row + (sub_y + 0.5) / samples) / size)
            if hit:
                r, g, b = hit
                red, green, blue, covered = red + r, green + g, blue + b, covered + 1
    if not covered:
        return (0, 0, 0, 0)
    return (round(red / covered), round(green / covered), round(blue / covered), round(255 * covered / samples**2))


def png_bytes(image: list[list[Pixel]]) -> bytes:
    """A PNG (8-bit RGBA, no filter) of the image."""
    height, width = len(image), len(image[0])
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in image)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def dib_bytes(image: list[list[Pixel]]) -> bytes:
    """A 32-bit BGRA device-independent bitmap as an .ico entry wants it: bottom-up, height doubled, AND mask."""
    size = len(image)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    colours = b"".join(bytes((b, g, r, a)) for row in reversed(image) for (r, g, b, a) in row)
    mask_row_bytes = ((size + 31) // 32) * 4
    mask = bytearray()
    for row in reversed(image):
        bits = bytearray(mask_row_bytes)
        for column, pixel in enumerate(row):
            if pixel[3] == 0:  # fully transparent: set the AND bit for pre-alpha Windows
                bits[column // 8] |= 0x80 >> (column % 8)
        mask += bits
    return header + colours + bytes(mask)


def ico_bytes(images: dict[int, list[list[Pixel]]]) -> bytes:
    """An .ico with one entry per size: BMP for the small sizes, PNG for 256 (as Windows itself does)."""
    entries = [(size, png_bytes(image) if size >= 256 else dib_bytes(image)) for size, image in sorted(images.items())]
    directory = struct.pack("<HHH", 0, 1, len(entries))
    offset = len(directory) + 16 * len(entries)
    body = b""
    for size, data in entries:
        dimension = 0 if size >= 256 else size  # 0 means 256 in an icon directory
        directory += struct.pack("<BBBBHHII", dimension, dimension, 0, 0, 1, 32, len(data), offset + len(body))
        body += data
    return directory + body


def main(out_dir: Path = ASSETS) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {size: render(size) for size in ICO_SIZES}
    (out_dir / "halo.png").write_bytes(png_bytes(images[PNG_SIZE]))
    (out_dir / "halo.ico").write_bytes(ico_bytes(images))
    print(f"Wrote {out_dir / 'halo.png'} and {out_dir / 'halo.ico'} ({', '.join(map(str, ICO_SIZES))} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ASSETS))
