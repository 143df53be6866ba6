"""The facts ImageExampleGen needs about a plain PNG, read from its header without Pillow.

Most PNGs in a data set are plain: 8 bits per sample, no transparency chunk, no animation, no
EXIF, only harmless chunks before the pixels. For those, Pillow's whole opening machinery
(about 11 of the 16 us ``images.ingest_bytes`` spends on a 28x28 PNG) only tells what the
header already says. Anything else, and anything Pillow might read differently (a bad CRC, an
odd chunk, a size over a pixel limit), is left to Pillow: ``header_facts`` returns None.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 8-bit colour types -> channels tf.io.decode_image yields (Pillow's modes L, RGB, P, LA, RGBA;
# a palette without a tRNS chunk decodes to RGB).
_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# Chunks Pillow reads before the pixels without consequence for ingestion, by their length.
_HARMLESS_CHUNKS = {b"sRGB": 1, b"gAMA": 4, b"pHYs": 9, b"cHRM": 32, b"tIME": 7}
_CHUNK = struct.Struct(">I4s")  # length, type
_HEADER = struct.Struct(">IIBBBBB")  # width, height, bit depth, colour type, compression, ...


@dataclasses.dataclass(frozen=True)
class PlainPng:
    width: int
    height: int
    channels: int


def header_facts(data: bytes, max_pixels: int) -> PlainPng | None:
    """Width, height and decoded channels of a plain 8-bit PNG of at most ``max_pixels``
    pixels (the pixels themselves are not checked); None for any other file."""
    if not data.startswith(SIGNATURE) or b"eXIf" in data:
        return None
    offset, header, palette = len(SIGNATURE), None, False
    while offset + 12 <= len(data):
        length, kind = _CHUNK.unpack_from(data, offset)
        end = offset + 12 + length
        if kind == b"IDAT":
            return _facts(header, palette, max_pixels)
        if end > len(data):
            return None
        body = data[offset + 8 : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(data[end - 4 : end], "big"):
            return None  # Pillow fails on a bad CRC before the pixels
        if header is None:
            if kind != b"IHDR" or length != _HEADER.size:
                return None
            header = _HEADER.unpack(body)
        elif kind == b"PLTE":
            palette = True
        elif _HARMLESS_CHUNKS.get(kind) != length:
            return None
        offset = end
    return None


def _facts(header: tuple | None, palette: bool, max_pixels: int) -> PlainPng | None:
    if header is None:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    plain = (
        depth == 8
        and colour in _CHANNELS
        and (palette or colour != 3)
        and compression == filtering == 0
        and interlace in (0, 1)
        and 0 < width * height <= max_pixels
    )
    return PlainPng(width, height, _CHANNELS[colour]) if plain else None
