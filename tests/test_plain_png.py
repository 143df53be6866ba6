"""A plain PNG's facts from its header (plain_png) must be exactly what the Pillow path of
images.ingest_bytes finds; every other PNG must be left to Pillow."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from artgan.components.image_example_gen import images, plain_png


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _noise(mode: str, size=(7, 5)) -> Image.Image:
    pixels = np.random.default_rng(len(mode)).integers(0, 256, (size[1], size[0], 4), np.uint8)
    opaque = Image.fromarray(pixels[..., :3], "RGB")  # a palette from it has no tRNS chunk
    return Image.fromarray(pixels, "RGBA").convert(mode) if "A" in mode else opaque.convert(mode)


def _with_chunk(kind: bytes, body: bytes, image: Image.Image) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add(kind, body)
    return _png(image, pnginfo=info)


def _corrupt_crc(data: bytes, kind: bytes) -> bytes:
    at = data.index(kind)
    length = struct.unpack(">I", data[at - 4 : at])[0]
    crc_at = at + 4 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 1]) + data[crc_at + 1 :]


def _apng() -> bytes:
    frames = [_noise("RGB"), _noise("RGB").rotate(90)]
    return _png(frames[0], save_all=True, append_images=frames[1:])


def _with_exif() -> bytes:
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION_TAG] = 6
    return _png(_noise("RGB"), exif=exif)


def _palette_with_transparency() -> bytes:
    image = _noise("P")
    return _png(image, transparency=0)


PLAIN = {
    "gray": _png(_noise("L")),
    "rgb": _png(_noise("RGB")),
    "palette": _png(_noise("P")),
    "gray_alpha": _png(_noise("LA")),
    "rgba": _png(_noise("RGBA")),
    "with_dpi": _png(_noise("RGB"), dpi=(300, 300)),  # pHYs
    "with_gamma": _with_chunk(b"gAMA", struct.pack(">I", 45455), _noise("L")),
    "with_srgb": _with_chunk(b"sRGB", b"\x00", _noise("RGB")),
    "large": _png(_noise("L", (300, 200))),
}
LEFT_TO_PILLOW = {
    "one_bit": _png(_noise("1")),
    "sixteen_bit": _png(_noise("L").convert("I;16")),
    "rgb_transparent_colour": _png(_noise("RGB"), transparency=(0, 0, 0)),
    "palette_transparency": _palette_with_transparency(),
    "animated": _apng(),
    "exif": _with_exif(),
    "text": _with_chunk(b"tEXt", b"Comment\x00made by hand", _noise("L")),
    "icc_profile": _png(_noise("RGB"), icc_profile=b"not really a profile"),
    "short_gamma": _with_chunk(b"gAMA", b"\x00\x01", _noise("L")),
    "bad_header_crc": _corrupt_crc(_png(_noise("L")), b"IHDR"),
    "bad_dpi_crc": _corrupt_crc(_png(_noise("L"), dpi=(72, 72)), b"pHYs"),
    "ends_before_pixels": _png(_noise("L"))[:40],
    "not_a_png": b"GIF89a" + bytes(40),
}


def _pillow_path(data: bytes, max_pixels: int, monkeypatch) -> images.IngestedImage | str:
    with monkeypatch.context() as patch:
        patch.setattr(plain_png, "header_facts", lambda *_: None)
        return _outcome(data, max_pixels)


def _outcome(data: bytes, max_pixels: int) -> images.IngestedImage | str:
    try:
        return images.ingest_bytes(data, max_pixels)
    except images.SkippedFile as skipped:
        return f"{skipped.reason}: {skipped.detail}"


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_pngs_are_read_from_the_header_as_pillow_reads_them(name, monkeypatch):
    data = PLAIN[name]
    assert plain_png.header_facts(data, 10**6) is not None
    ingested = _outcome(data, 10**6)
    assert ingested == _pillow_path(data, 10**6, monkeypatch)
    assert isinstance(ingested, images.IngestedImage) and ingested.encoded == data


@pytest.mark.parametrize("name", sorted(LEFT_TO_PILLOW))
def test_other_files_are_left_to_pillow(name, monkeypatch):
    data = LEFT_TO_PILLOW[name]
    assert plain_png.header_facts(data, 10**6) is None
    assert _outcome(data, 10**6) == _pillow_path(data, 10**6, monkeypatch)


def test_a_plain_png_over_the_pixel_limit_is_skipped_as_pillow_skips_it(monkeypatch):
    data = PLAIN["large"]  # 300 x 200
    assert plain_png.header_facts(data, 60_000) is not None
    assert plain_png.header_facts(data, 59_999) is None
    outcome = _outcome(data, 59_999)
    assert outcome.startswith(images.TOO_MANY_PIXELS)
    assert outcome == _pillow_path(data, 59_999, monkeypatch)


def test_pillow_decompression_bomb_limit_still_applies(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = PLAIN["large"]  # 60,000 pixels: over twice Pillow's limit
    assert _outcome(data, 10**6).startswith(images.TOO_MANY_PIXELS)
