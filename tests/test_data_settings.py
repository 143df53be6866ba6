"""data.resolution and data.channels set to auto: chosen from real image files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from artgan import cli
from artgan.cli import run as run_command
from artgan.config import AUTO, DataConfig, PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.data_settings import resolve_data_settings


def _write(folder, name: str, pixels: np.ndarray, mode: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(folder / name)


def _colour(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _resolve(folder, accelerator: bool = False, **data) -> tuple[DataConfig, list[str]]:
    config = PipelineConfig(data=DataConfig(**data))
    resolved, lines = resolve_data_settings(config, str(folder), accelerator)
    return resolved.data, lines


def test_defaults_are_auto_and_the_flags_take_auto_or_numbers():
    assert (DataConfig().resolution, DataConfig().channels) == (AUTO, AUTO)
    parse = cli.build_parser().parse_args
    auto = run_command.config_from_args(parse(["run"])).data
    assert (auto.resolution, auto.channels) == (AUTO, AUTO)
    explicit = run_command.config_from_args(parse(["run", "--resolution", "32", "--channels", "4"]))
    assert (explicit.data.resolution, explicit.data.channels) == (32, 4)
    with pytest.raises(SystemExit):
        parse(["run", "--resolution", "big"])
    with pytest.raises(SystemExit):
        parse(["run", "--channels", "2"])


def test_small_gray_images_train_gray_at_sixteen(tmp_path):
    for index in range(4):
        _write(tmp_path / "digits" / str(index), "d.png", np.full((8, 8), 40 * index, np.uint8))

    data, lines = _resolve(tmp_path / "digits")

    assert (data.resolution, data.channels) == (16, 1)
    assert lines[0].startswith("data.resolution=auto: 16 (typical image 8x8, upscaled")
    assert lines[1].startswith("data.channels=auto: 1 (grayscale: every image is gray")


def test_rgb_files_holding_gray_pixels_count_as_gray(tmp_path):
    gray = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8)[..., None], 3, axis=2)
    _write(tmp_path, "a.png", np.kron(gray, np.ones((8, 8, 1), np.uint8)))
    assert _resolve(tmp_path)[0].channels == 1


def test_transparent_collections_train_rgba(tmp_path):
    sprite = np.zeros((64, 64, 4), np.uint8)
    sprite[16:48, 16:48] = (255, 200, 0, 255)
    for index in range(9):
        _write(tmp_path, f"emoji_{index}.png", sprite)
    _write(tmp_path, "photo.jpg", _colour(64, 64))

    data, lines = _resolve(tmp_path)

    assert (data.resolution, data.channels) == (64, 4)
    assert "RGBA: 90% of images have transparent pixels" in lines[1]


def test_an_opaque_alpha_channel_is_not_transparency(tmp_path):
    opaque = np.concatenate([_colour(40, 40), np.full((40, 40, 1), 255, np.uint8)], axis=2)
    _write(tmp_path, "opaque.png", opaque)
    data, lines = _resolve(tmp_path)
    assert (data.resolution, data.channels) == (32, 3)
    assert "0% of images have transparent pixels" in lines[1]


def test_large_images_are_capped_on_cpu_and_not_with_an_accelerator(tmp_path):
    for index, (height, width) in enumerate([(300, 400), (320, 480), (500, 280)]):
        _write(tmp_path, f"{index}.jpg", _colour(height, width, index))

    on_cpu, lines = _resolve(tmp_path)
    assert on_cpu.resolution == 64
    assert "typical image 400x320" in lines[0] and "capped at 64" in lines[0]
    assert "--cpu-max-resolution" in lines[0]
    assert _resolve(tmp_path, accelerator=True)[0].resolution == 256
    assert _resolve(tmp_path, cpu_max_resolution=128)[0].resolution == 128


def test_explicit_settings_win_and_are_not_reported(tmp_path):
    _write(tmp_path, "a.png", _colour(128, 128))
    data, lines = _resolve(tmp_path, resolution=32)
    assert (data.resolution, data.channels) == (32, 3)
    assert len(lines) == 2 and lines[0].startswith("data.channels=auto")
    config = PipelineConfig(data=DataConfig(resolution=8, channels=1))
    assert resolve_data_settings(config, "/does/not/matter", False) == (config, [])


def test_augment_auto_is_diffaugment_for_a_small_collection_and_an_explicit_policy_wins(tmp_path):
    for index in range(10):
        _write(tmp_path, f"{index}.png", _colour(16, 16, index))
    config = PipelineConfig(data=DataConfig(eval_percent=20))
    resolved, lines = resolve_data_settings(config, str(tmp_path), False)
    assert (resolved.train.augment, resolved.train.augment_adaptive) == (
        "color,translation,cutout",
        True,
    )
    assert lines[-1] == (
        "train.augment=auto: color,translation,cutout, adaptive (8 training images, fewer than "
        "10000; --augment sets a policy)"
    )
    explicit = dataclasses.replace(config, train=dataclasses.replace(config.train, augment=""))
    resolved, lines = resolve_data_settings(explicit, str(tmp_path), False)
    assert resolved.train.augment == "" and not any("augment" in line for line in lines)


def test_a_folder_without_readable_images_is_a_clear_error(tmp_path):
    (tmp_path / "notes.png").write_bytes(b"not an image")
    with pytest.raises(ArtganError, match="no readable image in .* --resolution and --channels"):
        _resolve(tmp_path)


def test_the_resolved_settings_validate_and_a_bad_cap_does_not(tmp_path):
    _write(tmp_path, "a.png", _colour(16, 16))
    data, _ = _resolve(tmp_path)
    data.validate()
    with pytest.raises(ArtganError, match="cpu_max_resolution must be a power of two"):
        dataclasses.replace(data, cpu_max_resolution=100).validate()
