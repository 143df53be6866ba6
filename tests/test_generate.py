"""``artgan generate`` against a real server on loopback: truncation, grids, class rows,
latent walks with GIFs, and requests split under the server's limits."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from serving_fixtures import LATENT_DIM, MODEL, POLL_SECONDS, export_versions, push, write_config

from artgan import cli
from artgan.config import DataConfig, ServerConfig, TrainConfig
from artgan.errors import ArtganError
from artgan.grid import image_grid
from artgan.models.export import export_generator
from artgan.models.networks import build_networks
from artgan.serving.client import GeneratorClient
from artgan.serving.server import start_server
from artgan.serving.walks import slerp, walk_latents

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    (exported,) = export_versions(root / "exports", (1,)).values()
    push(exported, root / MODEL, 1)
    with start_server(str(root / MODEL), port=0, poll_seconds=POLL_SECONDS) as handle:
        with GeneratorClient(handle.host, handle.port) as client:
            client.wait_until_available(MODEL, timeout_s=30)
        yield handle


CLASS_NAMES = ("animals-cat", "animals-dog", "flags-country_flag")


@pytest.fixture(scope="module")
def conditional_base(tmp_path_factory) -> str:
    """A class-conditional model's base path, its version 1 recording CLASS_NAMES."""
    root = tmp_path_factory.mktemp("conditional")
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    data = DataConfig(resolution=8, channels=4)
    generator, _ = build_networks(train, data, num_classes=NUM_CLASSES)
    export_generator(
        generator, LATENT_DIM, str(root / MODEL / "1"), NUM_CLASSES, class_names=CLASS_NAMES
    )
    return str(root / MODEL)


@pytest.fixture(scope="module")
def conditional_server(conditional_base):
    with start_server(conditional_base, port=0, poll_seconds=POLL_SECONDS) as handle:
        with GeneratorClient(handle.host, handle.port) as client:
            client.wait_until_available(MODEL, timeout_s=30)
        yield handle


def generate(handle, *flags: str) -> int:
    return cli.main(["generate", "--port", str(handle.port), "--model-name", MODEL, *flags])


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_truncation_psi_1_is_untruncated_0_is_one_image_and_seeds_repeat(server):
    with GeneratorClient(server.host, server.port) as client:
        plain = client.generate(MODEL, [0, 1, 2, 3])
        assert client.generate(MODEL, [0, 1, 2, 3], psi=1.0).pngs == plain.pngs
        mean = client.generate(MODEL, [0, 1, 2, 3], psi=0.0)
        assert len(set(mean.pngs)) == 1
        half = client.generate(MODEL, [0, 1, 2, 3], psi=0.5)
        assert len(set(half.pngs)) == 4 and half.pngs != plain.pngs
        assert client.generate(MODEL, [2], psi=0.5).pngs[0] == half.pngs[2]


def test_truncation_flag_writes_the_truncated_images(server, tmp_path):
    assert generate(server, "--seeds", "0-3", "--truncation", "0", "--out", str(tmp_path)) == 0
    images = [pixels(tmp_path / f"seed_000{seed}.png") for seed in range(4)]
    assert all(np.array_equal(image, images[0]) for image in images)
    assert generate(server, "--truncation", "nan", "--out", str(tmp_path)) == 2


def test_grid_columns_and_rows(server, tmp_path):
    assert generate(server, "--grid", "3x2", "--out", str(tmp_path)) == 0
    files = sorted(name for name in os.listdir(tmp_path) if name.startswith("seed_"))
    assert files == [f"seed_000{seed}.png" for seed in range(6)]
    cells = np.stack([pixels(tmp_path / name)[..., np.newaxis] for name in files])
    np.testing.assert_array_equal(pixels(tmp_path / "grid.png"), image_grid(cells, 3)[..., 0])
    assert generate(server, "--grid", "2x2", "--seeds", "0-4", "--out", str(tmp_path)) == 2
    assert generate(server, "--grid", "2by2", "--out", str(tmp_path)) == 2


def test_class_rows_give_each_class_a_row_of_the_same_seeds(conditional_server, tmp_path):
    flags = ("--seeds", "0-3", "--labels", "0-2", "--class-rows", "--out", str(tmp_path))
    assert generate(conditional_server, *flags) == 0
    with GeneratorClient(conditional_server.host, conditional_server.port) as client:
        for label in range(NUM_CLASSES):
            row = client.generate(MODEL, range(4), labels=[label])
            for seed, png in enumerate(row.pngs):
                path = tmp_path / f"class_{label:02d}_seed_{seed:04d}.png"
                assert path.read_bytes() == png  # RGBA PNGs kept as served
    grid = pixels(tmp_path / "grid.png")
    assert grid.shape == image_grid(np.zeros((12, 8, 8, 4), np.uint8), 4).shape  # 3 rows of 4
    assert generate(conditional_server, "--class-rows", "--out", str(tmp_path)) == 2


def test_labels_may_name_classes_given_the_model_base_path(
    conditional_server, conditional_base, tmp_path, capsys
):
    by_name = ("--labels", "dog,flags-country_flag", "--model-base-path", conditional_base)
    flags = ("--seeds", "0-1", "--class-rows", "--out", str(tmp_path))
    assert generate(conditional_server, *flags, *by_name) == 0
    with GeneratorClient(conditional_server.host, conditional_server.port) as client:
        for label in (1, 2):
            for seed, png in enumerate(client.generate(MODEL, [0, 1], labels=[label]).pngs):
                assert (tmp_path / f"class_{label:02d}_seed_{seed:04d}.png").read_bytes() == png
    assert not (tmp_path / "class_00_seed_0000.png").exists()
    # Names need the folder that records them; an unknown or ambiguous name is refused.
    assert generate(conditional_server, *flags, "--labels", "dog") == 2
    assert "give --model-base-path" in capsys.readouterr().err
    assert generate(conditional_server, *flags, *by_name[:1], "animals", *by_name[2:]) == 2
    assert "'animals' fits 2 classes: 0=animals-cat, 1=animals-dog" in capsys.readouterr().err
    assert generate(conditional_server, *flags, *by_name[:1], "0-1", *by_name[2:]) == 0


def test_slerp_keeps_the_norm_between_orthogonal_latents_and_walks_hit_the_seeds():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    assert np.linalg.norm(slerp(a, b, 0.5)) == pytest.approx(3.0)
    np.testing.assert_allclose(slerp(a, b, 0.0), a)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    latents = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    frames = walk_latents(latents, steps=4)
    assert len(frames) == 4 * 2 + 1
    np.testing.assert_allclose(frames[[0, 4, 8]], latents, rtol=1e-5)
    looped = walk_latents(latents, steps=4, loop=True)
    assert len(looped) == 4 * 3
    np.testing.assert_allclose(looped[:9], frames, rtol=1e-5)
    with pytest.raises(ArtganError, match="at least two seeds"):
        walk_latents(latents[:1], 4)


def test_interpolate_writes_frames_a_strip_and_a_gif(server, tmp_path):
    flags = ("--interpolate", "3", "7", "11", "--steps", "4", "--truncation", "0.8")
    assert generate(server, *flags, "--gif", "--fps", "10", "--out", str(tmp_path)) == 0
    frames = sorted(os.listdir(tmp_path / "frames"))
    assert frames == [f"frame_{index:04d}.png" for index in range(9)]
    with GeneratorClient(server.host, server.port) as client:
        ends = client.generate(MODEL, [3, 7, 11], psi=0.8)
    for frame, png in zip(("frame_0000", "frame_0004", "frame_0008"), ends.pngs, strict=True):
        np.testing.assert_array_equal(pixels(tmp_path / "frames" / f"{frame}.png"), pixels_of(png))
    middle = pixels(tmp_path / "frames" / "frame_0002.png")
    assert not np.array_equal(middle, pixels_of(ends.pngs[0]))
    strip = pixels(tmp_path / "walk_strip.png")
    assert strip.shape[1] > 8 * strip.shape[0]  # nine cells in one row
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 9 and gif.info["duration"] == 100 and gif.info["loop"] == 0


def test_a_looping_walk_stops_one_step_short_of_the_first_seed(server, tmp_path):
    assert (
        generate(
            server,
            "--interpolate",
            "3",
            "7",
            "--steps",
            "3",
            "--loop",
            "--gif",
            "--out",
            str(tmp_path),
        )
        == 0
    )
    assert len(os.listdir(tmp_path / "frames")) == 6
    assert Image.open(tmp_path / "walk.gif").n_frames == 6


def test_walk_mistakes_are_named(server, conditional_server, tmp_path):
    out = ("--out", str(tmp_path))
    assert generate(server, "--interpolate", "3", *out) == 2  # one seed
    assert generate(server, "--interpolate", "3", "4", "--steps", "0", *out) == 2
    assert generate(server, "--interpolate", "3", "4", "--seeds", "1", *out) == 2
    assert generate(conditional_server, "--interpolate", "1", "2", "--labels", "0,1", *out) == 2
    assert generate(conditional_server, "--interpolate", "1", "2", "--labels", "2", *out) == 0


def pixels_of(png: bytes) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(png)))


def test_requests_are_split_under_the_servers_max_batch(tmp_path):
    (exported,) = export_versions(tmp_path / "exports", (1,)).values()
    push(exported, tmp_path / MODEL, 1)
    batching = write_config(tmp_path, "batching.config", "max_batch_size { value: 3 }\n")
    config = ServerConfig(enable_batching=True, batching_parameters_file=batching)
    with start_server(str(tmp_path / MODEL), port=0, max_batch_size=5, server=config) as handle:
        with GeneratorClient(handle.host, handle.port) as client:  # asks for 256 at a time
            client.wait_until_available(MODEL, timeout_s=30)
            whole = client.generate(MODEL, range(11), psi=0.9)
            assert client.max_batch_size == 3  # learnt from "Task size 5 is larger than ..."
            singles = [client.generate(MODEL, [seed], psi=0.9).pngs[0] for seed in range(11)]
    assert whole.pngs == singles


def test_answers_are_kept_under_the_clients_message_limit(server):
    with GeneratorClient(server.host, server.port) as client:
        expected = client.generate(MODEL, range(12)).pngs
    one_answer = len(expected[0]) + 64
    with GeneratorClient(server.host, server.port, max_message_bytes=5 * one_answer) as client:
        assert client.generate(MODEL, range(12)).pngs == expected  # 12 would not fit at once
        assert client.max_batch_size < 12  # halved after gRPC refused a too large answer
        assert client.rows_per_call() <= 2  # half the limit, learnt from the answers
