"""One image file -> the bytes Transform will decode, or the reason the file is skipped.

Every file's header is read first (a plain 8-bit PNG's by ``plain_png``, any other file's by
Pillow), so a decompression bomb is refused before its pixels exist. Files that
``tf.io.decode_image`` reads correctly keep their original bytes; TF itself decodes them in the
executor (``decode_check``), which catches truncated and damaged pixel data. Pillow decodes the
first frame of the rest (BMP, CMYK JPEG, transparent GIF, gray/RGB PNG with a transparent
colour, animated WebP/PNG/GIF, formats TF does not know), which are stored as a lossless PNG of
it, upright. EXIF orientation of files kept as they are is recorded, and Transform applies it.

TensorFlow is imported only to read object storage (gs://, ...): the tests run this module
in a child process.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import stat

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from artgan.components.image_example_gen import plain_png

# Why a file was skipped: the `reason` field of skipped.jsonl.
EMPTY_FILE = "empty_file"
UNREADABLE = "unreadable"  # permission denied or an I/O error
SYMLINK_LOOP = "symlink_loop"
MISSING = "missing"  # a dangling symlink, or removed while the folder was read
NOT_A_FILE = "not_a_regular_file"  # a FIFO, socket or device with an image extension
NOT_AN_IMAGE = "not_an_image"
TOO_MANY_PIXELS = "too_many_pixels"
CORRUPT = "corrupt"  # truncated or damaged image data
SKIP_REASONS = (
    EMPTY_FILE,
    UNREADABLE,
    SYMLINK_LOOP,
    MISSING,
    NOT_A_FILE,
    NOT_AN_IMAGE,
    TOO_MANY_PIXELS,
    CORRUPT,
)

EXIF_ORIENTATION_TAG = 0x0112
TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # width and height swap when these are applied
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_PNG_COMPRESS_LEVEL = 1  # normalised PNGs go into GZIP TFRecords; favour speed


class SkippedFile(Exception):
    """A file that cannot be ingested; ``reason`` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class IngestedImage:
    """What ImageExampleGen stores for one good file."""

    encoded: bytes  # the original file bytes, or a lossless PNG when `normalized`
    height: int  # upright size (after the EXIF orientation)
    width: int
    channels: int  # channels tf.io.decode_image yields for `encoded` (1..4)
    orientation: int  # EXIF orientation (1..8) Transform must still apply to `encoded`
    source_format: str  # the file's format as Pillow names it: PNG, JPEG, GIF, BMP, WEBP, ...
    normalized: bool


def read_file(path: str) -> bytes:
    """The file's bytes; SkippedFile for what cannot be read as a regular file."""
    if "://" in path:
        data = _read_remote_file(path)
    else:
        data = _read_local_file(path)
    if not data:
        raise SkippedFile(EMPTY_FILE, "the file is empty (0 bytes)")
    return data


def _read_remote_file(uri: str) -> bytes:
    import tensorflow as tf  # only for object storage (gs://, s3://, ...)

    try:
        with tf.io.gfile.GFile(uri, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError as error:
        raise SkippedFile(MISSING, error.message) from None
    except tf.errors.OpError as error:
        raise SkippedFile(UNREADABLE, f"{type(error).__name__}: {error.message}") from None


# Non-blocking, so that opening a FIFO returns (to be refused as not a regular file) instead
# of waiting for a writer; regular files read as usual.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
# Bytes asked for by the first read: most image files fit whole (and the buffer stays cheap).
_FIRST_READ = 1 << 16


def _read_local_file(path: str) -> bytes:
    """The bytes of a regular file, in as few system calls as the file allows (each releases
    and retakes the GIL, which the read-ahead threads wait for)."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
        try:
            return _read_regular(descriptor)
        finally:
            os.close(descriptor)
    except SkippedFile:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SkippedFile(SYMLINK_LOOP, error.strerror or str(error)) from None
        if error.errno == errno.ENOENT:
            raise SkippedFile(MISSING, "no such file (dangling symlink?)") from None
        if _exists_but_not_regular(path):  # a socket, which cannot be opened
            raise SkippedFile(NOT_A_FILE, "not a regular file") from None
        raise SkippedFile(UNREADABLE, f"{type(error).__name__}: {error.strerror}") from None


def _read_regular(descriptor: int) -> bytes:
    """An open file's bytes; SkippedFile unless it is a regular file.

    A file shorter than _FIRST_READ comes whole from one read (a regular file reads short only
    at its end): open, read, close. Anything else (an empty, long, failing or special file) is
    checked with fstat before more is read. So a FIFO that a writer happens to be feeding while
    it is read passes as a short file; its bytes are then judged as an image like any file's.
    """
    try:
        data = os.read(descriptor, _FIRST_READ)
    except OSError:
        data = None  # a folder, say: fstat tells; a regular file's error comes again below
    if data and len(data) < _FIRST_READ:
        return data
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        raise SkippedFile(NOT_A_FILE, "not a regular file")
    if data is None:
        data = os.read(descriptor, _FIRST_READ)
    parts, size = [data], len(data)
    while part := os.read(descriptor, max(status.st_size + 1 - size, _FIRST_READ)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _exists_but_not_regular(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def ingest_bytes(data: bytes, max_pixels: int, normalize: bool = False) -> IngestedImage:
    """Checks and (where needed, or always with ``normalize``) normalises one encoded image.

    A file kept as it is gets no decode here: ImageExampleGen has TF decode it
    (``decode_check``), which catches damaged pixel data, and normalises it otherwise.
    """
    if not normalize:  # a plain PNG's header says all Pillow would (much faster)
        plain = plain_png.header_facts(data, min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels))
        if plain:
            return IngestedImage(data, plain.height, plain.width, plain.channels, 1, "PNG", False)
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except UnidentifiedImageError:
        raise SkippedFile(NOT_AN_IMAGE, "not an image in any known format") from None
    except Image.DecompressionBombError as error:
        raise SkippedFile(TOO_MANY_PIXELS, str(error)) from None
    except Exception as error:  # a damaged header
        raise SkippedFile(CORRUPT, f"{type(error).__name__}: {error}") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise SkippedFile(
                TOO_MANY_PIXELS,
                f"{width}x{height} is {width * height} pixels, over data.max_pixels={max_pixels}",
            )
        try:
            kept = not normalize and tf_decodes_correctly(image)  # may read on, past frame 0
            orientation = exif_orientation(image, data)
            if not kept:
                image.load()
        except Exception as error:  # truncated or damaged image data
            raise SkippedFile(CORRUPT, f"{type(error).__name__}: {error}") from None
        source_format = image.format or "unknown"
        if kept:
            if orientation in TRANSPOSED_ORIENTATIONS:
                width, height = height, width
            channels = decoded_channels(image)
            return IngestedImage(data, height, width, channels, orientation, source_format, False)
        upright = normalized_pixels(ImageOps.exif_transpose(image))
    buffer = io.BytesIO()
    upright.save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    channels = len(upright.getbands())
    return IngestedImage(
        buffer.getvalue(), upright.height, upright.width, channels, 1, source_format, True
    )


def exif_orientation(image: Image.Image, data: bytes) -> int:
    """The EXIF orientation tag (1..8) of ``image`` opened from ``data``; 1 when absent or
    invalid. A PNG's EXIF may follow its pixels, where Pillow finds it only by decoding the
    whole file: a PNG without an eXIf chunk is not decoded for it.
    """
    if image.format == "PNG" and b"eXIf" not in data:
        return 1
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # damaged EXIF data: the pixels are still good
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def tf_decodes_correctly(image: Image.Image) -> bool:
    """Whether TF 2.21's decode_image yields the same first frame as Pillow (EXIF aside).

    Checked against TF 2.21: it ignores the transparent colour of gray/RGB PNGs and GIFs,
    misreads palette and 32-bit BMPs, fails on 1-bit BMPs, and corrupts its heap on animated
    WebP; CMYK JPEGs are normalised so Pillow's Adobe handling decides their colours.
    """
    animated = getattr(image, "is_animated", False)
    if image.format == "PNG":
        return not animated and (image.mode == "P" or "transparency" not in image.info)
    if image.format == "JPEG":
        return image.mode in ("L", "RGB")
    if image.format == "GIF":
        return not animated and "transparency" not in image.info
    if image.format == "WEBP":
        return not animated and image.mode in ("RGB", "RGBA")
    return False


def decoded_channels(image: Image.Image) -> int:
    """Channels tf.io.decode_image yields for a file tf_decodes_correctly accepts."""
    if image.format == "GIF":
        return 3
    if image.mode in ("P", "PA"):
        return 4 if image.mode == "PA" or "transparency" in image.info else 3
    if image.mode in ("1", *_SIXTEEN_BIT_MODES):
        return 1
    return len(image.getbands())


def normalized_pixels(image: Image.Image) -> Image.Image:
    """The first frame as 8-bit L, LA, RGB or RGBA (transparency kept as alpha)."""
    has_transparency = "transparency" in image.info or "A" in image.getbands()
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        return _eight_bit_gray(image)
    if image.mode in ("1", "L", "LA", "La"):
        return image.convert("LA" if has_transparency else "L")
    return image.convert("RGBA" if has_transparency else "RGB")


def _eight_bit_gray(image: Image.Image) -> Image.Image:
    """16-bit or float gray -> 8-bit (Pillow's own conversion clips instead of scaling)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0
    gray = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    transparent = image.info.get("transparency")
    if isinstance(transparent, int) and image.mode != "F":
        alpha = np.where(np.asarray(image) == transparent, 0, 255).astype(np.uint8)
        return Image.merge("LA", (gray, Image.fromarray(alpha, mode="L")))
    return gray
