"""The ``artgan`` command line (artgan.cli.main): exit codes, messages and written files."""

from __future__ import annotations

import glob
import os
import socket
import time

import keras
import numpy as np
import pytest
from PIL import Image

from artgan import cli
from artgan.datasets import NUM_DIGITS
from artgan.models.export import export_generator
from artgan.models.networks import build_generator
from artgan.serving.server import start_server

LATENT_DIM = 8
MODEL = "artgan"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_clean_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_run_with_a_missing_data_folder_is_a_clean_error(tmp_path, capsys):
    missing = "/nonexistent/folder"
    code = cli.main(["run", "--data", missing, "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert code == 2
    assert_clean_error(err, "artgan run: error:", missing)


def test_run_with_a_bad_resolution_names_the_field(tmp_path, capsys):
    code = cli.main(["run", "--resolution", "12", "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert code == 2
    assert_clean_error(err, "data.resolution", "12")


def test_data_digits_writes_every_digit(tmp_path, capsys):
    out = tmp_path / "digits"
    assert cli.main(["data", "digits", "--out", str(out)]) == 0
    pngs = sorted(glob.glob(str(out / "*" / "*.png")))
    assert len(pngs) == NUM_DIGITS == 1797
    assert sorted(os.listdir(out)) == [str(label) for label in range(10)]
    with Image.open(pngs[0]) as image:
        assert image.size == (8, 8)
    assert "1797" in capsys.readouterr().out


@pytest.fixture
def served(tmp_path):
    keras.utils.set_random_seed(0)
    generator = build_generator(LATENT_DIM, resolution=8, channels=1, width=16)
    base = tmp_path / "serving"
    export_generator(generator, LATENT_DIM, str(base / "1"))
    with start_server(str(base), model_name=MODEL, port=0) as handle:
        yield handle


def test_generate_writes_seed_pngs_and_a_grid(served, tmp_path, capsys):
    out = tmp_path / "generated"
    argv = ["generate", "--port", str(served.port), "--model-name", MODEL]
    code = cli.main([*argv, "--seeds", "0-2,7", "--out", str(out)])
    assert code == 0
    names = sorted(os.listdir(out))
    assert names == ["grid.png", "seed_0000.png", "seed_0001.png", "seed_0002.png", "seed_0007.png"]
    seed_images = []
    for name in names[1:]:
        with Image.open(out / name) as image:
            assert image.size == (8, 8)
            seed_images.append(np.asarray(image))
    assert not np.array_equal(seed_images[0], seed_images[1])
    with Image.open(out / "grid.png") as grid:
        assert grid.width > 8 and grid.height > 8
    printed = capsys.readouterr().out
    assert "4 images" in printed and "version 1" in printed


def test_generate_without_a_server_is_a_clean_error(tmp_path, capsys):
    port = free_port()
    start = time.monotonic()
    code = cli.main(["generate", "--port", str(port), "--seeds", "0", "--out", str(tmp_path)])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2
    assert_clean_error(err, "artgan generate: error:", f"127.0.0.1:{port}")
    assert elapsed < 10  # refused connections fail fast, not after the 60 s RPC timeout
    assert not os.listdir(tmp_path)


def test_generate_with_bad_seeds_is_a_clean_error(served, tmp_path, capsys):
    argv = ["generate", "--port", str(served.port), "--seeds", "5-2", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert_clean_error(capsys.readouterr().err, "artgan generate: error:", "5-2")


def test_serve_on_a_busy_port_is_a_clean_error(served, capsys):
    base = os.path.dirname(served.repository.latest().path)
    argv = ["serve", "--model-base-path", base, "--port", str(served.port)]
    assert cli.main(argv) == 2
    assert_clean_error(capsys.readouterr().err, "artgan serve: error:", str(served.port))


@pytest.mark.parametrize(
    "argv",
    [[], ["run"], ["serve"], ["generate"], ["data"], ["data", "digits"]],
    ids=lambda argv: "-".join(argv) or "top",
)
def test_help_exits_zero(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([*argv, "--help"])
    assert raised.value.code == 0
    assert "usage: artgan" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["paint"])
    assert raised.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_printed_generate_command_reproduces_the_sample_grid(tmp_path, capsys):
    """`artgan run --sample-seeds` writes samples/grid.png and prints a generate command; that
    command, run against `artgan serve`, writes the same grid (class seed % classes)."""
    from artgan.cli import build_parser
    from artgan.cli import run as run_command
    from artgan.cli.config_flags import section_from_args
    from artgan.config import DataConfig, GalleryConfig, PipelineConfig, ServerConfig, TrainConfig
    from artgan.models.networks import build_networks

    config = PipelineConfig(home=str(tmp_path / "home"))
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(train, DataConfig(resolution=8, channels=1), num_classes=3)
    export_generator(generator, LATENT_DIM, os.path.join(config.serving_model_dir, "5"), 3)

    run_command.sample_after_run(config, "0-4", pushed_version="")
    run_command.print_next_commands(config, "0-4")
    out = capsys.readouterr().out
    assert "pushed by an earlier run" in out  # this run pushed nothing: say whose it is
    generate_line = next(line for line in out.splitlines() if " generate " in line)
    executable, *argv = generate_line.split()
    assert os.path.isfile(executable) or executable == "artgan"
    assert "--labels 0-2,0-1" in generate_line
    gallery_line = next(line for line in out.splitlines() if "--gallery" in line)
    gallery_args = build_parser().parse_args(gallery_line.split("#")[0].split()[1:])
    gallery = section_from_args(gallery_args, "gallery", GalleryConfig())
    server = section_from_args(gallery_args, "server", ServerConfig())
    assert gallery.gallery and gallery.home == config.home and server.rest_port == 8501

    with start_server(config.serving_model_dir, model_name=MODEL, port=0) as handle:
        argv = argv[: argv.index("--out")]  # our own --out below
        assert cli.main([*argv, "--port", str(handle.port), "--out", str(tmp_path / "g")]) == 0
    with (
        open(tmp_path / "g" / "grid.png", "rb") as printed,
        open(os.path.join(config.home, "samples", "grid.png"), "rb") as sampled,
    ):
        assert printed.read() == sampled.read()


def test_serve_takes_tensorflow_model_servers_own_command_line():
    from artgan.cli import build_parser
    from artgan.cli.config_flags import section_from_args
    from artgan.config import ServerConfig

    argv = [
        "serve",
        "--model_base_path=/models/artgan",
        "--rest_api_port=8501",
        "--rest_api_timeout_in_ms=5000",
        "--rest_api_enable_cors_support=true",
        "--allow_version_labels_for_unavailable_models",
        "--file_system_poll_wait_seconds=2",
    ]
    args = build_parser().parse_args(argv)
    server = section_from_args(args, "server", ServerConfig())
    assert args.model_base_path == "/models/artgan"
    assert (server.rest_port, server.rest_api_timeout_ms) == (8501, 5000)
    assert server.rest_api_enable_cors and server.allow_version_labels_for_unavailable_models
    assert server.file_system_poll_wait_seconds == 2.0
    off = build_parser().parse_args(["serve", "--rest_api_enable_cors_support=false"])
    assert not section_from_args(off, "server", ServerConfig()).rest_api_enable_cors
    ours = build_parser().parse_args(["serve", "--rest-api-enable-cors"])
    assert section_from_args(ours, "server", ServerConfig()).rest_api_enable_cors
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--rest_api_enable_cors_support=maybe"])
