"""ServingCheck: a model TF Serving's loader cannot run is refused, recorded and never pushed."""

from __future__ import annotations

import json
import os
import shutil

import keras
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from tfx import v1 as tfx
from tfx.orchestration import metadata
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

from artgan import cli, contract
from artgan.components.serving_check import ServingCheck
from artgan.components.serving_check.checks import run_checks
from artgan.config import DataConfig, TrainConfig
from artgan.contract import warmup
from artgan.models.export import GeneratorSignatures, export_generator, warmup_requests
from artgan.models.networks import build_generator, build_networks

LATENT_DIM = 8
MAX_BATCH = 256


def tiny_generator(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_generator(LATENT_DIM, resolution=8, channels=1, width=16)


def export_the_broken_way(generator: keras.Model, export_dir: str) -> str:
    """The defect this check exists for: ``tf.saved_model.save`` of a ``tf.Module`` holding a
    Keras 3 model, with the right signatures and files. ``tf.saved_model.load`` runs it; TF
    Serving's loader fails every request (tensorflow/serving#2250)."""
    signatures = GeneratorSignatures(generator, LATENT_DIM)
    module = tf.Module()
    module.generator = generator
    functions = {
        name: tf.function(function, input_signature=spec)
        for name, (function, spec) in signatures.endpoints().items()
    }
    for name, function in functions.items():
        setattr(module, name, function)
    tf.saved_model.save(module, export_dir, signatures=functions)
    extra = os.path.join(export_dir, contract.ASSETS_EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, contract.GENERATOR_INFO_FILE), "w") as f:
        json.dump(
            {"latent_dim": LATENT_DIM, "height": 8, "width": 8, "channels": 1, "num_classes": 0}, f
        )
    warmup.write_warmup_file(export_dir, warmup_requests(LATENT_DIM, 0))
    return export_dir


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory) -> str:
    return export_generator(tiny_generator(), LATENT_DIM, str(tmp_path_factory.mktemp("good")))


@pytest.fixture(scope="module")
def broken_dir(tmp_path_factory) -> str:
    return export_the_broken_way(tiny_generator(), str(tmp_path_factory.mktemp("broken")))


def test_a_good_export_passes_every_check(good_dir):
    result = run_checks(good_dir, MAX_BATCH)
    assert result.blessed, result.reason
    assert [check.name for check in result.checks] == [
        "load",
        "generator_info",
        "signatures",
        "predict",
        "seed_determinism",
        "signatures_agree",
        "warmup",
    ]
    assert all(check.passed for check in result.checks)
    assert result.checks[-1].detail == "10 warmup requests replayed"  # 5 signatures x 2


def test_a_conditional_export_passes_every_check(tmp_path):
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(train, DataConfig(resolution=8, channels=3), num_classes=4)
    export_generator(generator, LATENT_DIM, str(tmp_path), 4, class_shares=(0.1, 0.2, 0.3, 0.4))
    result = run_checks(str(tmp_path), MAX_BATCH)
    assert result.blessed, result.reason
    assert "'seed_classes': 'by class share'" in result.checks[1].detail
    detail = result.checks[5].detail
    assert "with_labels, from_latents_with_labels, truncated, truncated_with_labels agree" in detail
    assert "through from_latents_with_labels gives truncated_with_labels" in detail


def test_a_model_only_eager_loading_runs_fails_with_tf_servings_error(broken_dir):
    eager = tf.saved_model.load(broken_dir)  # the way that hides the defect still works
    assert eager.signatures["serving_default"](seeds=tf.constant([1], tf.int64))["png"].shape == (
        1,
    )
    result = run_checks(broken_dir, MAX_BATCH)
    assert not result.blessed
    assert result.reason.startswith("predict: signature 'serving_default' failed: ")
    assert "FailedPreconditionError" in result.reason and "Could not find variable" in result.reason
    assert [check.passed for check in result.checks] == [True, True, True, False]


def test_missing_pieces_are_named(good_dir, tmp_path):
    no_warmup = str(tmp_path / "no_warmup")
    shutil.copytree(good_dir, no_warmup)
    os.remove(warmup.warmup_path(no_warmup))
    assert run_checks(no_warmup, MAX_BATCH).reason.startswith("warmup: no warmup file at ")

    no_info = str(tmp_path / "no_info")
    shutil.copytree(good_dir, no_info)
    os.remove(os.path.join(no_info, "assets.extra", "generator.json"))
    assert run_checks(no_info, MAX_BATCH).reason.startswith("generator_info: cannot read ")

    assert run_checks(str(tmp_path / "nothing"), MAX_BATCH).reason.startswith("load: ")


def export_with(signatures: GeneratorSignatures, names, export_dir: str) -> str:
    """``export_generator``'s SavedModel with only ``names``, from ``signatures``' functions."""
    archive = keras.export.ExportArchive()
    for name, (function, spec) in signatures.endpoints().items():
        if name in names:
            archive.add_endpoint(name, function, input_signature=spec)
    archive.write_out(export_dir, verbose=False)
    good = export_generator(signatures.generator, LATENT_DIM, export_dir + "-good")
    shutil.copytree(
        os.path.join(good, contract.ASSETS_EXTRA_DIR),
        os.path.join(export_dir, contract.ASSETS_EXTRA_DIR),
    )
    return export_dir


def test_a_version_without_the_truncation_signatures_is_refused(tmp_path):
    signatures = GeneratorSignatures(tiny_generator(), LATENT_DIM)
    old = export_with(signatures, ("serving_default", "from_latents"), str(tmp_path / "old"))
    assert run_checks(old, MAX_BATCH).reason.startswith(
        "signatures: signatures ['pngs', 'seed_latents', 'truncated'] are missing"
    )


class LatentsIgnoringPsi(GeneratorSignatures):
    def seed_latents(self, seeds, psi):
        return super().seed_latents(seeds, tf.ones_like(psi))


def test_seed_latents_that_ignore_psi_are_refused(tmp_path):
    signatures = LatentsIgnoringPsi(tiny_generator(), LATENT_DIM)
    names = contract.signature_names(0)
    wrong = export_with(signatures, names, str(tmp_path / "wrong"))
    reason = run_checks(wrong, MAX_BATCH).reason
    assert reason == (
        "signatures_agree: 'seed_latents' through 'from_latents' disagrees with 'truncated'"
    )


class BatchNudge(keras.layers.Layer):
    """Moves every image by ``nudge`` (in [-1, 1]) when the batch has more than one image."""

    def __init__(self, nudge: float, **kwargs):
        super().__init__(**kwargs)
        self.nudge = nudge

    def call(self, images):
        return images + self.nudge * tf.cast(tf.shape(images)[0] > 1, images.dtype)


def batch_dependent_export(nudge: float, export_dir: str) -> str:
    generator = tiny_generator()
    nudged = keras.Model(generator.input, BatchNudge(nudge)(generator.output))
    return export_generator(nudged, LATENT_DIM, export_dir)


def test_batch_rounding_of_one_level_passes_and_a_batch_that_leaks_fails(tmp_path):
    # Half a level (0.004 x 127.5) rounds about half the values one level apart, as TF's CPU
    # kernels do for some values when the batch size changes; 0.2 moves them 25 levels.
    rounding = run_checks(batch_dependent_export(0.004, str(tmp_path / "rounding")), MAX_BATCH)
    assert rounding.blessed, rounding.reason
    assert "to within 1 level (here 1)" in rounding.checks[4].detail
    leaking = run_checks(batch_dependent_export(0.2, str(tmp_path / "leaking")), MAX_BATCH)
    assert leaking.reason.startswith(
        "seed_determinism: a seed's image depends on the other seeds in its batch (values up to "
    )
    assert not leaking.blessed and leaking.checks[4].name == "seed_determinism"


def test_warmup_requests_over_the_servers_batch_limit_fail(good_dir):
    result = run_checks(good_dir, max_batch_size=2)
    assert not result.blessed
    assert "warmup" in result.reason and "RESOURCE_EXHAUSTED" in result.reason


def _model_dir_for_importer(export_dir: str, root) -> str:
    """A Model artifact's folder: the SavedModel in ``Format-Serving``, as the Trainer writes."""
    uri = str(root)
    shutil.copytree(export_dir, os.path.join(uri, "Format-Serving"))
    return uri


def test_in_a_pipeline_only_the_model_that_passes_is_pushed(good_dir, broken_dir, tmp_path, capsys):
    """Real TFX: Importer -> ServingCheck -> the standard Pusher (infra_blessing), with MLMD."""
    serving = {name: str(tmp_path / "serving" / name) for name in ("good", "broken")}
    components = []
    for name, export_dir in (("good", good_dir), ("broken", broken_dir)):
        model = tfx.dsl.Importer(
            source_uri=_model_dir_for_importer(export_dir, tmp_path / "models" / name),
            artifact_type=tfx.types.standard_artifacts.Model,
            custom_properties={"tfx_version": tfx.__version__},
        ).with_id(f"{name}_model")
        check = ServingCheck(model=model.outputs["result"], max_batch_size=MAX_BATCH).with_id(
            f"{name}_serving_check"
        )
        pusher = tfx.components.Pusher(
            model=model.outputs["result"],
            infra_blessing=check.outputs["blessing"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving[name])
            ),
        ).with_id(f"{name}_pusher")
        components += [model, check, pusher]
    sqlite = str(tmp_path / "metadata.sqlite")
    connection = metadata.sqlite_metadata_connection_config(sqlite)
    BeamDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name="serving-check-test",
            pipeline_root=str(tmp_path / "root"),
            components=components,
            metadata_connection_config=connection,
            beam_pipeline_args=["--direct_running_mode=in_memory"],
        )
    )

    assert len(os.listdir(serving["good"])) == 1
    assert not os.path.exists(serving["broken"]) or not os.listdir(serving["broken"])
    store = metadata_store.MetadataStore(connection)
    blessings = {
        b.custom_properties["current_model_id"].int_value: b
        for b in store.get_artifacts_by_type("InfraBlessing")
    }
    models = {m.uri.rsplit("/", 1)[-1]: m for m in store.get_artifacts_by_type("Model")}
    good = blessings[models["good"].id]
    broken = blessings[models["broken"].id]
    assert good.custom_properties["blessed"].int_value == 1
    assert broken.custom_properties["blessed"].int_value == 0
    reason = broken.custom_properties["reason"].string_value
    assert "Could not find variable" in reason
    assert os.path.isfile(os.path.join(broken.uri, "INFRA_NOT_BLESSED"))
    with open(os.path.join(broken.uri, "serving_check.json")) as f:
        assert json.load(f)["reason"] == reason

    assert cli.main(["mlmd", "models", "--sqlite", sqlite, "--json"]) == 0
    records = {r["model_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert records[models["good"].id]["serving_check"] is True
    assert records[models["broken"].id]["serving_check"] is False
    assert records[models["broken"].id]["serving_check_reason"] == reason
    assert records[models["broken"].id]["pushed_version"] is None
    assert cli.main(["mlmd", "models", "--sqlite", sqlite]) == 0
    table = capsys.readouterr().out
    assert f"model {models['broken'].id}: serving check failed: predict: " in table
