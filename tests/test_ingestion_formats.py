"""A messy folder through ImageExampleGen and the Transform preprocessing: every format is
ingested with the right pixels, every bad file is skipped with its reason."""

from __future__ import annotations

import glob
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import zlib

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from artgan.bench.ingest import run_transform
from artgan.components.image_example_gen import images
from artgan.components.image_example_gen.executor import Executor
from artgan.models.data.preprocessing import IMAGE_KEY, ORIENTATION_KEY, preprocessing_fn

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MAX_PIXELS = 10_000  # 200x100 is over it; every good test image is far below
RED, GREEN, BLUE, WHITE = [1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, 1]
NON_UTF8_NAME = os.fsdecode(b"latin1_caf\xe9.png")


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def solid(mode: str, colour, size=(8, 8)) -> Image.Image:
    return Image.new(mode, size, colour)


def palette_image(colour, size=(8, 8)) -> Image.Image:
    image = Image.new("P", size, 0)
    image.putpalette([*colour, *([0, 0, 0] * 255)])
    return image


def noise(size, seed=0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    return Image.fromarray(pixels)


def upright_and_stored_rotated() -> tuple[Image.Image, bytes]:
    """A 16x32 upright image (top half white, bottom black) stored turned 90 degrees
    counter-clockwise with EXIF orientation 6 ("rotate 90 clockwise to display")."""
    upright = Image.new("RGB", (16, 32), (0, 0, 0))
    upright.paste((255, 255, 255), (0, 0, 16, 16))
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION_TAG] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    return upright, encode(stored, "JPEG", quality=95, exif=exif)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def animated(fmt: str, first, second, **options) -> bytes:
    frames = [solid("RGB", first), solid("RGB", second)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


# path -> (bytes, expected pixel after Transform at 8x8 RGB or None, normalized, format)
def good_files() -> dict[str, tuple[bytes, list | None, bool, str]]:
    gray_16bit = Image.fromarray(np.full((8, 8), 40000, np.uint16))
    gray_trns = solid("L", 0)
    rgb_trns = solid("RGB", (0, 0, 0))
    transparent_gif = palette_image((0, 0, 0))
    cmyk = solid("RGB", (255, 0, 0)).convert("CMYK")
    return {
        "shapes/red.png": (encode(solid("RGB", (255, 0, 0)), "PNG"), RED, False, "PNG"),
        "shapes/bilevel.png": (encode(solid("1", 1), "PNG"), WHITE, False, "PNG"),
        "shapes/gray16.png": (
            encode(gray_16bit, "PNG"),
            [40000 / 257 / 127.5 - 1] * 3,
            False,
            "PNG",
        ),
        "shapes/palette.png": (encode(palette_image((0, 0, 255)), "PNG"), BLUE, False, "PNG"),
        "shapes/palette_transparent.png": (
            encode(palette_image((0, 0, 0)), "PNG", transparency=0),
            WHITE,
            False,
            "PNG",
        ),
        "shapes/gray_alpha.png": (encode(solid("LA", (0, 0)), "PNG"), WHITE, False, "PNG"),
        "shapes/gray_transparent_colour.png": (
            encode(gray_trns, "PNG", transparency=0),
            WHITE,
            True,
            "PNG",
        ),
        "shapes/rgb_transparent_colour.png": (
            encode(rgb_trns, "PNG", transparency=(0, 0, 0)),
            WHITE,
            True,
            "PNG",
        ),
        "shapes/green.jpg": (
            encode(solid("RGB", (0, 255, 0)), "JPEG", quality=95),
            GREEN,
            False,
            "JPEG",
        ),
        "shapes/UPPER.JPEG": (encode(solid("L", 255), "JPEG"), WHITE, False, "JPEG"),
        "shapes/progressive.jpg": (
            encode(solid("RGB", (0, 0, 255)), "JPEG", quality=95, progressive=True),
            BLUE,
            False,
            "JPEG",
        ),
        "shapes/cmyk.jpg": (encode(cmyk, "JPEG", quality=95), RED, True, "JPEG"),
        "shapes/rotated.jpg": (upright_and_stored_rotated()[1], None, False, "JPEG"),
        "shapes/jpeg_named.png": (
            encode(solid("RGB", (0, 255, 0)), "JPEG", quality=95),
            GREEN,
            False,
            "JPEG",
        ),
        "shapes/plain.gif": (encode(palette_image((255, 0, 0)), "GIF"), RED, False, "GIF"),
        "shapes/transparent.gif": (
            encode(transparent_gif, "GIF", transparency=0),
            WHITE,
            True,
            "GIF",
        ),
        "shapes/animated.gif": (animated("GIF", (255, 0, 0), (0, 0, 255)), RED, True, "GIF"),
        "shapes/blue.bmp": (encode(solid("RGB", (0, 0, 255)), "BMP"), BLUE, True, "BMP"),
        "shapes/palette.bmp": (encode(palette_image((0, 255, 0)), "BMP"), GREEN, True, "BMP"),
        "shapes/lossless.webp": (
            encode(solid("RGB", (0, 255, 0)), "WEBP", lossless=True),
            GREEN,
            False,
            "WEBP",
        ),
        "shapes/alpha.webp": (
            encode(solid("RGBA", (0, 0, 0, 0)), "WEBP", lossless=True),
            WHITE,
            False,
            "WEBP",
        ),
        "shapes/animated.webp": (
            animated("WEBP", (255, 0, 0), (0, 0, 255), lossless=True),
            RED,
            True,
            "WEBP",
        ),
        # Pillow loads a PNG cut before its IEND chunk; TF refuses it: stored normalised.
        "shapes/no_iend.png": (encode(solid("RGB", (255, 0, 0)), "PNG")[:-12], RED, True, "PNG"),
        "shapes/nested/deeper/deep.png": (
            encode(solid("RGB", (255, 0, 0)), "PNG"),
            RED,
            False,
            "PNG",
        ),
        "other/a file with spaces.png": (encode(solid("L", 0), "PNG"), [-1, -1, -1], False, "PNG"),
        "other/chat_été_猫.png": (encode(solid("RGB", (0, 0, 255)), "PNG"), BLUE, False, "PNG"),
        f"other/{NON_UTF8_NAME}": (encode(solid("RGB", (0, 255, 0)), "PNG"), GREEN, False, "PNG"),
    }


def bad_files() -> dict[str, tuple[bytes, str]]:
    jpeg = encode(noise((64, 64)), "JPEG")
    png = encode(noise((64, 64), seed=1), "PNG")
    return {
        "other/empty.png": (b"", images.EMPTY_FILE),
        "other/truncated.jpg": (jpeg[: len(jpeg) // 2], images.CORRUPT),
        "other/truncated.png": (png[: len(png) // 2], images.CORRUPT),
        "other/notes.jpg": (b"shopping list: milk, eggs\n", images.NOT_AN_IMAGE),
        "other/bomb.png": (png_header_only(100_000, 100_000), images.TOO_MANY_PIXELS),
        "other/over_limit.png": (encode(noise((200, 100)), "PNG"), images.TOO_MANY_PIXELS),
    }


LINKS = {  # path -> (target, expected skip reason or None when ingested)
    "other/loop_a.png": ("loop_b.png", images.SYMLINK_LOOP),
    "other/loop_b.png": ("loop_a.png", images.SYMLINK_LOOP),
    "other/dangling.png": ("nowhere.png", images.MISSING),
    "other/linked_red.png": ("../shapes/red.png", None),
}


def write(root: str, relative: str, data: bytes) -> None:
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def run_example_gen(input_base: str, output_dir: str, max_pixels: int = MAX_PIXELS):
    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    # make_beam_pipeline_fn: skips TFX packaging itself for remote runners (seconds per run).
    context = base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=lambda: beam.Pipeline(argv=BEAM_ARGS)
    )
    properties = {"input_base": input_base, "eval_percent": 30, "max_pixels": max_pixels}
    Executor(context).Do({}, {"examples": [examples]}, properties)
    return examples


def read_records(examples) -> dict[str, tf.train.Example]:
    files = glob.glob(os.path.join(examples.uri, "Split-*", "data_tfrecord-*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    parsed = [tf.train.Example.FromString(r.numpy()) for r in records]
    return {os.fsdecode(feature(r, "path")): r for r in parsed}


def feature(example: tf.train.Example, name: str):
    value = example.features.feature[name]
    return (value.int64_list.value or value.bytes_list.value)[0]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("messy"))
    good, bad = good_files(), bad_files()
    for relative, (data, *_) in {**good, **bad}.items():
        write(root, relative, data)
    for relative, (target, _) in LINKS.items():
        os.symlink(target, os.path.join(root, *relative.split("/")))
    os.symlink("..", os.path.join(root, "other", "loop_dir"))  # a folder loop: not walked
    os.mkfifo(os.path.join(root, "other", "pipe.png"))  # reading it would block forever
    with socket.socket(socket.AF_UNIX) as server:  # a socket file cannot even be opened
        server.bind(os.path.join(root, "other", "socket.png"))
    write(root, "other/readme.txt", b"not an image extension: not listed")
    examples = run_example_gen(root, str(tmp_path_factory.mktemp("out")))
    return root, good, examples, read_records(examples)


def expected_skips() -> dict[str, str]:
    skips = {path: reason for path, (_, reason) in bad_files().items()}
    skips.update({path: reason for path, (_, reason) in LINKS.items() if reason})
    skips["other/pipe.png"] = images.NOT_A_FILE
    skips["other/socket.png"] = images.NOT_A_FILE
    return skips


def test_every_good_file_is_ingested_once(messy):
    _, good, _, records = messy
    linked = [path for path, (_, reason) in LINKS.items() if reason is None]
    assert sorted(records) == sorted([*good, *linked])


def test_every_bad_file_is_listed_with_its_reason(messy):
    _, _, examples, _ = messy
    with open(os.path.join(examples.uri, "skipped.jsonl")) as f:
        skipped = [json.loads(line) for line in f]
    assert {item["path"]: item["reason"] for item in skipped} == expected_skips()
    assert len(skipped) == len(expected_skips())
    assert all(item["detail"] for item in skipped)
    over_limit = next(s for s in skipped if s["path"] == "other/over_limit.png")
    assert "200x100" in over_limit["detail"] and str(MAX_PIXELS) in over_limit["detail"]


def test_counts_are_custom_properties(messy):
    _, good, examples, records = messy
    skips = expected_skips()
    assert examples.get_int_custom_property("num_examples") == len(records)
    assert examples.get_int_custom_property("num_skipped") == len(skips)
    reasons = json.loads(examples.get_string_custom_property("skipped_reasons"))
    assert reasons == {r: list(skips.values()).count(r) for r in set(skips.values())}
    normalized = sum(1 for _, _, is_normalized, _ in good.values() if is_normalized)
    assert examples.get_int_custom_property("num_normalized") == normalized
    assert json.loads(examples.get_string_custom_property("label_names")) == ["other", "shapes"]


def test_originals_are_kept_unless_tf_would_decode_them_wrongly(messy):
    _, good, _, records = messy
    for path, (data, _, normalized, source_format) in good.items():
        record = records[path]
        assert feature(record, "normalized") == int(normalized), path
        assert feature(record, "format").decode() == source_format, path
        if normalized:
            assert feature(record, "image").startswith(b"\x89PNG"), path
            assert feature(record, "orientation") == 1, path
        else:
            assert feature(record, "image") == data, path


def test_labels_follow_top_level_folders_at_any_depth(messy):
    _, _, _, records = messy
    deep = records["shapes/nested/deeper/deep.png"]
    assert feature(deep, "label_name") == b"shapes" and feature(deep, "label") == 1
    assert feature(records[f"other/{NON_UTF8_NAME}"], "path") == b"other/latin1_caf\xe9.png"
    assert feature(records["other/chat_été_猫.png"], "label") == 0


def transformed(records: dict, paths: list[str], **data) -> dict[str, np.ndarray]:
    """Runs preprocessing_fn (what Transform runs) on the stored features of paths."""
    inputs = {
        IMAGE_KEY: tf.constant([[feature(records[p], "image")] for p in paths]),
        ORIENTATION_KEY: tf.constant([[feature(records[p], "orientation")] for p in paths]),
    }
    config = {"data": {"resolution": 8, "channels": 3, **data}}
    images_out = preprocessing_fn(inputs, config)[IMAGE_KEY].numpy()
    return dict(zip(paths, images_out, strict=True))


def test_pixels_after_transform_match_each_files_content(messy):
    _, good, _, records = messy
    known = {path: pixel for path, (_, pixel, _, _) in good.items() if pixel is not None}
    outputs = transformed(records, sorted(known))
    for path, pixel in known.items():
        lossy = good[path][3] == "JPEG" or path.endswith(".webp")
        tolerance = 0.06 if lossy else 1.01 / 127.5
        expected = np.broadcast_to(np.array(pixel, np.float32), (8, 8, 3))
        np.testing.assert_allclose(outputs[path], expected, atol=tolerance, err_msg=path)


def test_transparent_pixels_take_the_configured_background(messy):
    _, _, _, records = messy
    paths = ["shapes/alpha.webp", "shapes/transparent.gif", "shapes/gray_alpha.png"]
    outputs = transformed(records, paths, background="#00ff00")
    for path in paths:
        np.testing.assert_allclose(outputs[path], np.broadcast_to(GREEN, (8, 8, 3)), atol=0.01)


def test_exif_rotated_jpeg_comes_out_upright(messy):
    _, _, _, records = messy
    record = records["shapes/rotated.jpg"]
    assert (feature(record, "height"), feature(record, "width")) == (32, 16)
    assert feature(record, "orientation") == 6
    upright = transformed(records, ["shapes/rotated.jpg"], channels=1)["shapes/rotated.jpg"]
    # The centre square of the upright image: white on top, black below (not left/right).
    assert np.all(upright[:3] > 0.9) and np.all(upright[-3:] < -0.9)


def test_png_exif_orientation_is_recorded_like_jpegs():
    upright, _ = upright_and_stored_rotated()
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION_TAG] = 6
    stored = encode(upright.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif)
    image = images.ingest_bytes(stored, max_pixels=10_000)
    assert (image.orientation, image.height, image.width) == (6, 32, 16)
    assert image.encoded == stored and not image.normalized
    plain = images.ingest_bytes(encode(upright, "PNG"), max_pixels=10_000)
    assert (plain.orientation, plain.height, plain.width) == (1, 32, 16)


def rounded(colour) -> tuple[float, ...]:
    return tuple(round(float(value), 1) for value in colour)


def test_tfx_transform_turns_every_ingested_file_into_its_pixels(messy, tmp_path):
    """The real Transform executor over the whole messy output: no record fails it."""
    _, good, examples, records = messy
    data = {"resolution": 8, "channels": 3}
    run_transform(examples.uri, str(tmp_path), data, BEAM_ARGS)
    files = glob.glob(str(tmp_path / "transformed_examples" / "Split-*" / "*.gz"))
    transformed = tf.data.TFRecordDataset(files, compression_type="GZIP")
    colours = []
    for record in transformed:
        pixels = tf.train.Example.FromString(record.numpy()).features.feature[IMAGE_KEY]
        colours.append(rounded(np.reshape(pixels.float_list.value, (64, 3)).mean(0)))
    known = [pixel for _, pixel, _, _ in good.values() if pixel is not None]
    known.append(RED)  # other/linked_red.png
    expected = [rounded(pixel) for pixel in known]
    assert len(colours) == len(records) == len(expected) + 1  # + the rotated photo
    unmatched = list(colours)
    for colour in expected:
        unmatched.remove(colour)
    assert len(unmatched) == 1


@pytest.mark.parametrize("size", [1, 65_535, 65_536, 65_537, 300_000])
def test_files_of_any_size_are_read_whole(tmp_path, size):
    # Around the first read's size: one read, or fstat and more reads.
    data = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    path = tmp_path / "image.png"
    path.write_bytes(data)
    assert images.read_file(str(path)) == data


@pytest.mark.parametrize("special", ["folder", "/dev/null", "/dev/zero"])
def test_special_files_are_skipped_not_read(tmp_path, special):
    path = tmp_path / "special.png"
    if special == "folder":
        path.mkdir()
    else:
        if not os.path.exists(special):
            pytest.skip(f"no {special} here")
        path.symlink_to(special)
    with pytest.raises(images.SkippedFile) as skipped:
        images.read_file(str(path))
    assert skipped.value.reason == images.NOT_A_FILE


def test_unreadable_file_is_skipped(tmp_path):
    folder = tempfile.mkdtemp(prefix="artgan-unreadable-")
    try:
        os.chmod(folder, 0o755)
        path = os.path.join(folder, "secret.png")
        write(folder, "secret.png", encode(solid("L", 0), "PNG"))
        os.chmod(path, 0o000)
        if os.access(path, os.R_OK):
            if os.geteuid() != 0:
                pytest.skip("chmod 000 does not stop this user from reading the file")
            # Root reads anything: ask an unprivileged child process instead.
            reason = _skip_reason_as_nobody(path)
        else:
            with pytest.raises(images.SkippedFile) as skipped:
                images.read_file(path)
            reason = skipped.value.reason
        assert reason == images.UNREADABLE
    finally:
        os.chmod(os.path.join(folder, "secret.png"), 0o644)
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)


def _skip_reason_as_nobody(path: str) -> str:
    code = (
        "import sys\n"
        "from artgan.components.image_example_gen import images\n"
        "try:\n"
        "    images.read_file(sys.argv[1])\n"
        "except images.SkippedFile as skipped:\n"
        "    print(skipped.reason)\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, path],
            user=65534,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as error:  # e.g. the unprivileged user may not run this Python
        pytest.skip(f"running as root (reads any file); no unprivileged child: {error}")
    if result.returncode != 0:
        pytest.skip(f"running as root (reads any file); unprivileged child: {result.stderr[-300:]}")
    return result.stdout.strip()
