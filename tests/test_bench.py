"""`artgan bench`: each benchmark runs from the CLI and writes its JSON result."""

from __future__ import annotations

import json

import pytest

from artgan.cli import main


def test_bench_train_writes_throughput_of_both_loops(tmp_path):
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--only", "throughput", "--batch-size", "4", "--steps", "1"]
    assert main([*argv, "--rounds", "1", "--warmup-steps", "1", "--out", str(out)]) == 0

    record = json.loads(out.read_text())
    assert record["benchmark"] == "train"
    assert set(record["result"]) == {"throughput"}
    result = record["result"]["throughput"]
    assert set(result["images_per_second"]) == {"tutorial", "artgan"}
    assert all(value > 0 for value in result["images_per_second"].values())
    assert result["artgan_vs_tutorial"] > 0


def test_bench_lists_benchmarks_without_importing_them(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    assert "train" in capsys.readouterr().out


def test_bench_train_time_to_quality_scores_both_recipes_over_equal_budgets(tmp_path):
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--only", "quality", "--datasets", "digits", "--samples", "400"]
    argv += ["--budget-seconds", "2", "--slice-seconds", "1", "--seeds", "2"]
    assert main([*argv, "--out", str(out)]) == 0

    result = json.loads(out.read_text())["result"]["time_to_quality"]["digits"]
    assert result["real_images"] == 1797
    assert result["classifier_heldout_accuracy"] > 0.8
    assert [run["seed"] for run in result["runs"]] == [0, 1]
    grids = set()
    for run in result["runs"]:
        recipes = run["recipes"]
        assert set(recipes) == {"default", "dcgan"}
        assert (recipes["default"]["resolution"], recipes["dcgan"]["resolution"]) == (16, 28)
        assert recipes["default"]["conditional"] and not recipes["dcgan"]["conditional"]
        for recipe in recipes.values():
            seconds = [point["train_seconds"] for point in recipe["curve"]]
            assert len(seconds) == 3 and seconds == sorted(seconds)
            assert seconds[-1] >= 2.0  # each recipe got the whole budget of its own time
            assert recipe["steps"] > 0
            # Two seconds of training is far from the real images' train-vs-heldout distance.
            assert recipe["final_fd"] > 2 * result["fd_floor_train_vs_heldout"]
            assert open(recipe["grid"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            grids.add(recipe["grid"])
    assert len(grids) == 4  # one per recipe and seed
    finals = {
        name: sorted(run["recipes"][name]["final_fd"] for run in result["runs"])
        for name in ("default", "dcgan")
    }
    assert result["default_fd_median"] == pytest.approx(sum(finals["default"]) / 2)
    assert result["reference_fd_median"] == pytest.approx(sum(finals["dcgan"]) / 2)
    expected_ratio = result["default_fd_median"] / result["reference_fd_median"]
    assert result["default_vs_reference_fd"] == pytest.approx(expected_ratio)
    assert result["aim_met"] == (expected_ratio <= 0.5)


@pytest.mark.parametrize(
    "flag, value", [("--datasets", "cifar"), ("--also-architectures", "dcgan")]
)
def test_bench_train_names_an_unknown_choice_before_any_work(tmp_path, capsys, flag, value):
    argv = ["bench", "train", flag, value, "--out", str(tmp_path / "t.json")]
    assert main(argv) != 0
    assert f"{flag} {value!r}" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_bench_ingest_needs_a_raw_read(tmp_path, capsys):
    args = ["bench", "ingest", "--data", str(tmp_path), "--raw-reads", "0"]
    assert main([*args, "--out", str(tmp_path / "i.json")]) != 0
    assert "--raw-reads must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "i.json").exists()


def test_bench_train_needs_a_seed(tmp_path, capsys):
    assert main(["bench", "train", "--seeds", "0", "--out", str(tmp_path / "t.json")]) != 0
    assert "--seeds >= 1" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_bench_ingest_measures_every_stage_from_a_cold_page_cache(tmp_path):
    import numpy as np
    from PIL import Image

    data = tmp_path / "images"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for index in range(6):
            pixels = np.random.default_rng(index).integers(0, 256, (12, 12), dtype=np.uint8)
            Image.fromarray(pixels).save(data / label / f"{index}.png")
    (data / "a" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "ingest.json"
    flags = ["--modes", "in_memory", "--subset", "0", "--resolution", "8"]
    assert main(["bench", "ingest", "--data", str(data), "--out", str(out), *flags]) == 0

    result = json.loads(out.read_text())["result"]
    assert result["page_cache"] == "cold" and result["evicted_files"] == 13
    assert result["raw_read"]["first_pass"]["files"] == 13
    example_gen = result["example_gen"]["in_memory"]
    assert (example_gen["num_examples"], example_gen["num_skipped"]) == (12, 1)
    assert example_gen["times_raw_read"] > 0
    transform = result["transform"]["in_memory"]
    assert transform["images_per_second"] > 0
    ingestion = result["ingestion"]  # both stages against the raw read: the aim
    assert ingestion["seconds"] == pytest.approx(example_gen["seconds"] + transform["seconds"])
    raw = result["raw_read"]["first_pass"]
    cold_seconds = result["raw_read"]["first_passes_seconds"]  # --raw-reads 3, the default
    assert len(cold_seconds) == 3 and cold_seconds[0] == raw["list_seconds"] + raw["read_seconds"]
    assert result["raw_read"]["baseline_seconds"] == sorted(cold_seconds)[1]
    expected_times = ingestion["seconds"] / result["raw_read"]["baseline_seconds"]
    assert ingestion["times_raw_read"] == pytest.approx(expected_times, abs=0.01)
    assert ingestion["aim_met"] == (ingestion["times_raw_read"] <= 3.0)
    threaded = result["raw_read"]["first_pass_threaded"]
    assert (threaded["files"], threaded["bytes"]) == (raw["files"], raw["bytes"])
    assert threaded["threads"] > 1 and ingestion["times_threaded_raw_read"] > 0


def test_cold_page_cache_says_what_it_needs_where_it_cannot_work(tmp_path, monkeypatch):
    from artgan.bench import ingest
    from artgan.errors import ArtganError

    monkeypatch.delattr("os.posix_fadvise")  # as on macOS
    with pytest.raises(ArtganError, match="--page-cache warm"):
        ingest.evict_from_page_cache(str(tmp_path))
