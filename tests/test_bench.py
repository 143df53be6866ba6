"""`artgan bench`: each benchmark runs from the CLI and writes its JSON result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artgan.cli import main
from artgan.config import EvalConfig


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


def test_bench_train_step_speed_times_each_variant_with_finite_losses(tmp_path):
    # The XLA variants compile two step functions each (over 15 s apiece on 2 shared cores):
    # the next test checks how they are built, without stepping them.
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--only", "step", "--step-variants", "float32,bfloat16"]
    argv += ["--step-resolution", "8", "--step-batch-size", "2", "--step-seconds", "0.05"]
    assert main([*argv, "--rounds", "2", "--out", str(out)]) == 0

    result = json.loads(out.read_text())["result"]["step"]
    assert (result["resolution"], result["channels"], result["batch_size"]) == (8, 4, 2)
    assert set(result["images_per_second"]) == {"float32", "bfloat16"}
    assert all(value > 0 for value in result["images_per_second"].values())
    assert result["vs_float32"]["float32"] == 1.0
    assert all(len(rounds) == 2 for rounds in result["rounds"].values())
    assert all(np.isfinite(result["final_losses"][name]).all() for name in ("float32", "bfloat16"))
    assert all(result["samples_finite"].values())
    assert result["tf_enable_onednn_opts"] == "1"  # importing artgan turned oneDNN on


def test_step_variants_build_bfloat16_xla_and_augmentation_steps_without_loss_scaling():
    import keras
    import tensorflow as tf

    from artgan.bench import step_speed
    from artgan.config import ALL_AUGMENT, DataConfig, TrainConfig

    train, _ = TrainConfig(batch_size=2).with_augment_for(step_speed.COLLECTION_IMAGES)
    assert train.augment_adaptive  # the default step on the emoji is adaptive
    images = tf.zeros([2, 8, 8, 4])
    for name, variant in step_speed.VARIANTS.items():
        step = step_speed.TimedStep(name, train, DataConfig(resolution=8, channels=4), images)
        assert keras.mixed_precision.global_policy().name == "float32"  # restored
        assert step.trainer.jit_compile == (variant.jit_compile == "on")
        policy = step.trainer.recipe.augment_policy
        adaptive = step.trainer.augment_probability is not None
        expected = {
            "auto": (True, True),
            "idle": (True, True),
            "none": (False, False),
            "all": (True, False),
        }
        assert (bool(policy), adaptive) == expected[variant.augment], name
        if variant.augment == "all":
            assert ",".join(policy) == ALL_AUGMENT
        if variant.augment == "idle":  # held at 0 for each timed step (no adjustment after one)
            step.trainer.augment_probability.assign(0.5)
            step.train_for(0.0)
            assert float(step.trainer.augment_probability) == 0.0
        compute = {layer.dtype_policy.compute_dtype for layer in step.trainer.generator.layers}
        assert ("bfloat16" in compute) == (variant.policy == "mixed_bfloat16")
        assert {v.dtype for v in step.trainer.generator.trainable_variables} == {"float32"}
        for optimizer in (step.trainer.generator_optimizer, step.trainer.discriminator_optimizer):
            assert not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


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
    "flag, value",
    [
        ("--datasets", "cifar"),
        ("--also-architectures", "dcgan"),
        ("--also-recipes", "dcgan+ada"),
        ("--step-variants", "float16"),
    ],
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


@pytest.mark.parametrize("given", ["", "missing", "empty"])
def test_bench_train_emoji_needs_its_folder_before_any_work(tmp_path, capsys, given):
    (tmp_path / "empty").mkdir()
    folder = str(tmp_path / given) if given else ""
    argv = ["bench", "train", "--only", "quality", "--datasets", "emoji", "--emoji-dir", folder]
    assert main([*argv, "--out", str(tmp_path / "t.json")]) != 0
    err = capsys.readouterr().err
    assert "--emoji-dir" in err and "artgan data emoji" in err
    if given:
        assert folder in err and ("is empty" if given == "empty" else "does not exist") in err
    assert not (tmp_path / "t.json").exists()


def test_bench_train_names_a_malformed_recipe_variant(tmp_path, capsys):
    argv = ["bench", "train", "--also-recipes", "fastgan+da+ada", "--out", str(tmp_path / "t.json")]
    assert main(argv) != 0
    assert "'fastgan+da+ada'" in capsys.readouterr().err


def test_emoji_folder_is_read_with_labels_and_composited_over_the_background(tmp_path):
    from PIL import Image

    from artgan.bench import time_to_quality

    for category, colour in (("animals", (255, 0, 0, 255)), ("flags", (0, 0, 255, 0))):
        (tmp_path / category).mkdir()
        for name in ("a", "b"):
            Image.new("RGBA", (8, 8), colour).save(tmp_path / category / f"{name}.png")
    images, labels = time_to_quality.load_dataset("emoji", str(tmp_path))
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 1, 1]
    assert images[0, 0, 0].tolist() == [255, 0, 0]
    assert images[2, 0, 0].tolist() == [255, 255, 255]  # transparent: the white background
    rgba, _ = time_to_quality.load_dataset("emoji", str(tmp_path), channels=4)
    assert rgba[2, 0, 0].tolist() == [0, 0, 255, 0]
    gray, _ = time_to_quality.load_dataset("emoji", str(tmp_path), channels=1)
    assert gray.shape == (4, 8, 8, 1)


def test_emoji_recipes_are_scored_at_64_against_the_papers_dcgan():
    from artgan.bench import time_to_quality

    assert time_to_quality.SCORE_RESOLUTIONS["emoji"] == 64
    reference = time_to_quality.dcgan_reference(64)
    assert (reference.resolution, reference.train.architecture) == (64, "dcgan")
    assert reference.train.batch_size == 64 and reference.train.adam_beta1 == 0.5
    variant = time_to_quality.default_variant(64, 1906, "fastgan+ada+norecon")
    assert variant.name == "default_fastgan+ada+norecon" and variant.resolution == 64
    assert variant.train.augment == "color,translation,cutout" and variant.train.augment_adaptive
    assert variant.train.reconstruction_weight == 0.0
    default = time_to_quality.default_recipe(64, 1906)
    assert variant.train.ema_kimg == default.train.ema_kimg
    assert default.train.augment == "color,translation,cutout"  # a small collection: ADA
    assert default.train.augment_adaptive
    assert time_to_quality.default_recipe(28, 60_000).train.augment == ""
    assert time_to_quality.default_variant(64, 1906, "conv+noema").train.ema_kimg == 0.0
    spec = "conv+batch_size=32+augment_adaptive=false+augment="
    smaller = time_to_quality.default_variant(64, 1906, spec)
    assert smaller.train.batch_size == 32 and not smaller.train.augment_adaptive
    assert smaller.train.augment == ""


@pytest.mark.parametrize("spec", ["conv+batch_sise=32", "conv+batch_size=big", "conv+batch_size=0"])
def test_bench_train_names_a_recipe_field_that_does_not_fit(tmp_path, capsys, spec):
    argv = ["bench", "train", "--also-recipes", spec, "--out", str(tmp_path / "t.json")]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "batch_si" in err and "Traceback" not in err


def test_bench_serve_measures_grpc_rest_and_batching_against_in_process(tmp_path):
    from serving_fixtures import export_tiny_generator

    model = export_tiny_generator(str(tmp_path / "model"), weights_seed=1)
    out = tmp_path / "serve.json"
    argv = ["bench", "serve", "--model", model, "--clients", "3", "--requests", "4"]
    argv += ["--max-images", "3", "--latency-calls", "3", "--big-batch-calls", "1"]
    argv += ["--batching-requests", "2", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())["result"]
    for name in ("grpc", "rest"):
        load = result[name]["load_with_a_push_midway"]
        assert load["requests"] == 12 and load["failures"] == 0
        assert load["images"] == result["in_process"]["load"]["images"] > 0
        assert result[name]["one_image"]["p50_ms"] > 0
    assert result["batching"]["on"]["images"] == result["batching"]["off"]["images"] == 6
    assert result["batching"]["in_process_full_batches"]["images"] == 6  # 2 calls of 3
    assert result["aims"]["batching_speedup_ceiling"] > 0
    assert result["aims"]["zero_failures"] is True
    assert set(result["aims"]["p50_overhead_ms_one_image"]) == {"grpc", "rest"}


def test_bench_train_workers_times_one_and_two_workers_with_their_loss_curves(tmp_path):
    # Three runs of three-process start-ups in all: about 50 s on two busy cores.
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--only", "workers", "--workers", "2", "--worker-steps", "4"]
    argv += ["--worker-warmup-steps", "2", "--worker-batch-size", "4", "--worker-resolution", "8"]
    assert main([*argv, "--out", str(out)]) == 0

    result = json.loads(out.read_text())["result"]["workers"]
    assert (result["workers"], result["global_batch"], result["steps"]) == (2, 4, 6)
    runs = result["runs"]
    assert set(runs) == {"one_worker", "2_workers", "one_worker_seed1"}
    assert [runs[name]["workers"] for name in runs] == [1, 2, 1]
    for run in runs.values():
        assert run["global_batch"] == 4 and run["step"] == [1, 2, 3, 4, 5, 6]
        assert run["steps_per_second"] > 0
        assert run["images_per_second"] == pytest.approx(4 * run["steps_per_second"])
        assert np.isfinite(run["d_loss"]).all() and np.isfinite(run["g_loss"]).all()
    assert set(runs["2_workers"]["steps_per_second_per_task"]) == {"chief", "worker0"}
    baseline = (
        runs["one_worker"]["steps_per_second"] + runs["one_worker_seed1"]["steps_per_second"]
    ) / 2
    assert result["workers_vs_one"] == pytest.approx(
        runs["2_workers"]["steps_per_second"] / baseline
    )
    assert f"{result['workers_vs_one']:.2f}x" in result["verdict"]
    assert result["one_worker_repeat_vs_first"] > 0
    for loss in ("d_loss", "g_loss"):
        comparison = result["losses"][loss]
        halves = comparison["last_half"]
        assert all(half["steps"] == 3 for half in halves.values())
        expected = halves["2_workers"]["mean"] - halves["one_worker"]["mean"]
        assert comparison["difference"] == pytest.approx(expected)
        assert comparison["within_noise"] == (abs(expected) <= comparison["tolerance"])
    assert (tmp_path / "train_workers" / "2_workers" / "worker0.log").is_file()


def test_local_cluster_stops_every_task_when_one_fails_and_shows_its_log(tmp_path):
    from artgan.bench import local_cluster
    from artgan.errors import ArtganError

    with pytest.raises(ArtganError) as raised:
        local_cluster.run_cluster("artgan.no_such_module", [], 2, str(tmp_path), timeout_s=60)
    assert "failed (exit code 1)" in str(raised.value)
    assert "No module named artgan.no_such_module" in str(raised.value)


def test_local_cluster_gives_each_task_its_tf_config():
    from artgan.bench import local_cluster
    from artgan.models.training.strategy import cluster_task

    configs = local_cluster.task_configs(3)
    assert list(configs) == ["chief", "worker0", "worker1"]
    tasks = [cluster_task(config) for config in configs.values()]
    assert [task.rank for task in tasks] == [0, 1, 2]
    assert all(task.num_workers == 3 for task in tasks)
    assert local_cluster.task_configs(1) == {"chief": None}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--workers", "1"], "--workers 1"),
        (["--worker-batch-size", "5"], "--worker-batch-size 5"),
        (["--worker-resolution", "12"], "--worker-resolution"),
    ],
)
def test_bench_train_workers_names_a_flag_that_cannot_work(tmp_path, capsys, flags, message):
    argv = ["bench", "train", "--only", "workers", *flags, "--out", str(tmp_path / "t.json")]
    assert main(argv) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_time_to_quality_scores_with_the_evaluators_choice_and_keeps_a_refused_classifier(
    tmp_path,
):
    from artgan.bench import time_to_quality

    images, labels = time_to_quality.load_dataset("digits")
    images, labels = images[:400], labels[:400]
    # A classifier that cannot reach accuracy 1.0 in one epoch: auto falls back, as on the emoji.
    config = EvalConfig(min_classifier_accuracy=1.0, classifier_epochs=1, contrastive_epochs=1)
    scorers, facts = time_to_quality.build_scorers(images, labels, str(tmp_path), config, 0)
    assert [s.network.name for s in scorers] == ["contrastive", "domain_classifier"]
    assert facts["feature_network"] == "contrastive"
    assert "below eval.min_classifier_accuracy" in facts["fallback_reason"]
    assert facts["classifier_heldout_accuracy"] < 1.0
    assert facts["fd_floor_train_vs_heldout"] == scorers[0].reference.fid_floor
    assert facts["second_opinion_floors"]["domain_classifier"] > 0

    recipes = [time_to_quality.default_recipe(8, 400), time_to_quality.dcgan_reference()]
    race = time_to_quality.race(
        "digits", recipes, images, labels, 0, scorers, 1.0, 0.5, 200, str(tmp_path)
    )
    for recipe in race["recipes"].values():
        final = recipe["curve"][-1]
        assert set(final["second_opinion"]) == {"domain_classifier"}
        assert final["second_opinion"]["domain_classifier"] != final["fd"]  # another space
        assert recipe["final_second_opinion"] == final["second_opinion"]
