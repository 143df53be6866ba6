"""The exported generator's serving contract, loaded back as TF Serving loads it and eagerly."""

from __future__ import annotations

import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import prediction_log_pb2

from artgan import contract
from artgan.config import DataConfig, TrainConfig
from artgan.contract import (
    DEFAULT_SIGNATURE,
    FROM_LATENTS_SIGNATURE,
    FROM_LATENTS_WITH_LABELS_SIGNATURE,
    IMAGES_OUTPUT,
    LABELS_INPUT,
    LATENTS_INPUT,
    LATENTS_OUTPUT,
    PNG_BYTES_OUTPUT,
    PNG_OUTPUT,
    PNGS_SIGNATURE,
    PSI_INPUT,
    SEED_LATENTS_SIGNATURE,
    SEEDS_INPUT,
    TRUNCATED_SIGNATURE,
    TRUNCATED_WITH_LABELS_SIGNATURE,
    WITH_LABELS_SIGNATURE,
)
from artgan.contract.bundle import SavedModelBundle
from artgan.contract.warmup import read_warmup_file, warmup_path
from artgan.models.export import (
    export_generator,
    labels_from_latents,
    labels_from_seeds,
    latents_from_seeds,
    signature_inputs_for_seeds,
    to_uint8,
)
from artgan.models.networks import build_generator, build_networks

LATENT_DIM = 8
RESOLUTION = 8
CHANNELS = 1
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> str:
    keras.utils.set_random_seed(3)
    generator = build_generator(
        latent_dim=LATENT_DIM, resolution=RESOLUTION, channels=CHANNELS, width=16
    )
    path = str(tmp_path_factory.mktemp("export") / "generator")
    assert export_generator(generator, LATENT_DIM, path) == path
    return path


def conditional_generator(conditioning: str, seed: int) -> keras.Model:
    """A small 3-class RGB generator reading its class as ``conditioning`` says."""
    keras.utils.set_random_seed(seed)
    train = TrainConfig(
        latent_dim=LATENT_DIM,
        generator_width=16,
        discriminator_width=8,
        generator_conditioning=conditioning,
    )
    generator, _ = build_networks(train, DataConfig(resolution=RESOLUTION, channels=3), NUM_CLASSES)
    return generator


@pytest.fixture(scope="module")
def conditional_dir(tmp_path_factory) -> str:
    """A conditional model whose label is joined to the latent."""
    path = str(tmp_path_factory.mktemp("export") / "conditional")
    return export_generator(conditional_generator("input", 4), LATENT_DIM, path, NUM_CLASSES)


@pytest.fixture(scope="module")
def batchnorm_conditioned_dir(tmp_path_factory) -> str:
    """A conditional model whose class sets every up block's batch norm."""
    generator = conditional_generator("batchnorm", 5)
    for layer in generator.layers:  # away from the identity it starts at, as after training
        if isinstance(layer, keras.layers.Dense):
            layer.kernel.assign(tf.random.normal(layer.kernel.shape, stddev=0.3))
    path = str(tmp_path_factory.mktemp("export") / "batchnorm_conditioned")
    return export_generator(generator, LATENT_DIM, path, NUM_CLASSES)


@pytest.fixture(scope="module")
def loaded(export_dir):
    return tf.saved_model.load(export_dir)


@pytest.fixture(scope="module")
def session(export_dir):
    bundle = SavedModelBundle(export_dir)
    yield bundle
    bundle.close()


def generate(loaded, seeds) -> dict[str, np.ndarray]:
    outputs = loaded.signatures["serving_default"](**{SEEDS_INPUT: tf.constant(seeds, tf.int64)})
    return {key: value.numpy() for key, value in outputs.items()}


def decode_png(png: bytes) -> np.ndarray:
    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., np.newaxis] if array.ndim == 2 else array


@pytest.mark.parametrize("which", ["unconditional", "conditional", "batchnorm_conditioned"])
def test_every_signature_gives_the_same_bytes_through_the_session_loader_and_eagerly(
    which, request
):
    """TF Serving's loader (graph, restore op, Session.run) and tf.saved_model.load agree."""
    path = request.getfixturevalue("export_dir" if which == "unconditional" else f"{which}_dir")
    num_classes = 0 if which == "unconditional" else NUM_CLASSES
    eager = tf.saved_model.load(path)
    bundle = SavedModelBundle(path)
    expected = set(contract.signature_names(num_classes))
    assert set(bundle.signature_defs) == set(eager.signatures) == expected
    for signature in sorted(expected):
        inputs = signature_inputs_for_seeds(signature, [0, 5, 11], LATENT_DIM, num_classes, 0.7)
        by_session = bundle.run(signature, inputs)
        by_eager = eager.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        outputs = contract.signature_outputs(signature)
        assert set(by_session) == set(outputs)
        for name in outputs:
            np.testing.assert_array_equal(by_session[name], by_eager[name].numpy(), err_msg=name)
        if signature == SEED_LATENTS_SIGNATURE:
            assert by_session[LATENTS_OUTPUT].shape == (3, LATENT_DIM)
            continue
        if signature == PNGS_SIGNATURE:
            by_default = bundle.run(DEFAULT_SIGNATURE, {SEEDS_INPUT: inputs[SEEDS_INPUT]})
            np.testing.assert_array_equal(
                by_session[PNG_BYTES_OUTPUT], by_default[PNG_BYTES_OUTPUT]
            )
            continue
        images = by_session[IMAGES_OUTPUT]
        channels = CHANNELS if which == "unconditional" else 3
        assert images.dtype == np.uint8 and images.shape == (3, RESOLUTION, RESOLUTION, channels)
    bundle.close()


def test_signature_defs_follow_the_contract(conditional_dir):
    bundle = SavedModelBundle(conditional_dir)
    for signature in contract.signature_names(NUM_CLASSES):
        specs = bundle.input_specs(signature)
        assert sorted(specs) == sorted(contract.signature_inputs(signature))  # a proto map
        for name, spec in specs.items():
            want = [None, LATENT_DIM] if name == LATENTS_INPUT else [None]
            assert spec.shape.as_list() == want
            assert spec.dtype == (tf.float32 if name in (LATENTS_INPUT, PSI_INPUT) else tf.int64)
        outputs = bundle.output_specs(signature)
        if signature == SEED_LATENTS_SIGNATURE:
            assert sorted(outputs) == [LATENTS_OUTPUT]
            assert outputs[LATENTS_OUTPUT].dtype == tf.float32
            assert outputs[LATENTS_OUTPUT].shape.as_list() == [None, LATENT_DIM]
            continue
        if signature == PNGS_SIGNATURE:  # the PNGs alone: REST has no output filter
            assert sorted(outputs) == [PNG_BYTES_OUTPUT]
            assert outputs[PNG_BYTES_OUTPUT].dtype == tf.string
            continue
        assert outputs[IMAGES_OUTPUT].dtype == tf.uint8
        assert outputs[IMAGES_OUTPUT].shape.as_list() == [None, RESOLUTION, RESOLUTION, 3]
        assert outputs[PNG_OUTPUT].dtype == outputs[PNG_BYTES_OUTPUT].dtype == tf.string
    bundle.close()


def test_serving_default_returns_uint8_images_and_matching_pngs(session):
    outputs = session.run("serving_default", {SEEDS_INPUT: np.array([0, 1, 2], np.int64)})
    images, pngs = outputs[IMAGES_OUTPUT], outputs[PNG_OUTPUT]
    assert images.dtype == np.uint8
    assert images.shape == (3, RESOLUTION, RESOLUTION, CHANNELS)
    assert pngs.shape == (3,)
    for image, png in zip(images, pngs, strict=True):
        np.testing.assert_array_equal(decode_png(png), image)
    np.testing.assert_array_equal(outputs[PNG_BYTES_OUTPUT], pngs)
    # Different seeds give different images (the seed reaches the generator).
    assert not np.array_equal(images[0], images[1])


def test_same_seed_same_image_whatever_the_batch(loaded):
    alone = generate(loaded, [5])
    batched = generate(loaded, [9, 5, 123456789])
    np.testing.assert_array_equal(alone[IMAGES_OUTPUT][0], batched[IMAGES_OUTPUT][1])
    assert alone[PNG_OUTPUT][0] == batched[PNG_OUTPUT][1]
    again = generate(loaded, [5])
    np.testing.assert_array_equal(alone[IMAGES_OUTPUT], again[IMAGES_OUTPUT])


def test_from_latents_of_seed_latents_equals_serving_default(loaded):
    seeds = tf.constant([0, 7, 42], tf.int64)
    latents = latents_from_seeds(seeds, LATENT_DIM)
    assert latents.shape == (3, LATENT_DIM)
    from_latents = loaded.signatures[FROM_LATENTS_SIGNATURE](**{LATENTS_INPUT: latents})
    from_seeds = generate(loaded, seeds)
    np.testing.assert_array_equal(from_latents[IMAGES_OUTPUT].numpy(), from_seeds[IMAGES_OUTPUT])
    np.testing.assert_array_equal(from_latents[PNG_OUTPUT].numpy(), from_seeds[PNG_OUTPUT])


def test_conditional_signatures_agree_on_the_classes_they_draw(conditional_dir):
    """serving_default = with_labels(seed's class); from_latents = with labels from latents."""
    bundle = SavedModelBundle(conditional_dir)
    seeds = np.arange(6, dtype=np.int64)
    latents = latents_from_seeds(seeds, LATENT_DIM).numpy()
    seed_classes = labels_from_seeds(tf.constant(seeds), NUM_CLASSES).numpy().astype(np.int64)
    latent_classes = labels_from_latents(tf.constant(latents), NUM_CLASSES).numpy()

    def images(signature, **inputs):
        return bundle.run(signature, inputs, [IMAGES_OUTPUT])[IMAGES_OUTPUT]

    by_seed = images("serving_default", seeds=seeds)
    np.testing.assert_array_equal(
        by_seed, images(WITH_LABELS_SIGNATURE, seeds=seeds, labels=seed_classes)
    )
    np.testing.assert_array_equal(
        by_seed,
        images(FROM_LATENTS_WITH_LABELS_SIGNATURE, latents=latents, labels=seed_classes),
    )
    np.testing.assert_array_equal(
        images(FROM_LATENTS_SIGNATURE, latents=latents),
        images(
            FROM_LATENTS_WITH_LABELS_SIGNATURE,
            latents=latents,
            labels=latent_classes.astype(np.int64),
        ),
    )
    # The label reaches the generator.
    as_zero = images(WITH_LABELS_SIGNATURE, seeds=seeds, labels=np.zeros(6, np.int64))
    as_two = images(WITH_LABELS_SIGNATURE, seeds=seeds, labels=np.full(6, 2, np.int64))
    assert not np.array_equal(as_zero, as_two)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < 3"):
        images(WITH_LABELS_SIGNATURE, seeds=seeds[:2], labels=np.array([0, 3], np.int64))
    bundle.close()


def truncated_images(bundle, seeds, psi, labels=None) -> np.ndarray:
    inputs = {SEEDS_INPUT: np.asarray(seeds, np.int64)}
    inputs[PSI_INPUT] = np.full(len(seeds), psi, np.float32)
    name = TRUNCATED_SIGNATURE
    if labels is not None:
        inputs[LABELS_INPUT] = np.asarray(labels, np.int64)
        name = TRUNCATED_WITH_LABELS_SIGNATURE
    return bundle.run(name, inputs, [IMAGES_OUTPUT])[IMAGES_OUTPUT]


def test_truncation_psi_1_is_untruncated_and_psi_0_one_image_for_every_seed(session):
    seeds = [0, 5, 11, 1_000_003]
    untruncated = session.run("serving_default", {SEEDS_INPUT: np.asarray(seeds, np.int64)})
    np.testing.assert_array_equal(truncated_images(session, seeds, 1.0), untruncated["images"])
    mean = truncated_images(session, seeds, 0.0)
    assert all(np.array_equal(image, mean[0]) for image in mean)
    half = truncated_images(session, seeds, 0.5)
    assert len({image.tobytes() for image in half}) == len(seeds)
    assert not np.array_equal(half, untruncated["images"])
    # The same seed and psi give the same image, alone or in a batch.
    np.testing.assert_array_equal(truncated_images(session, [11], 0.5)[0], half[2])


def test_seed_latents_are_the_truncated_latents_the_walks_start_from(session):
    seeds = np.array([3, 9], np.int64)
    latents = latents_from_seeds(tf.constant(seeds), LATENT_DIM).numpy()
    for psi in (1.0, 0.6, 0.0):
        got = session.run(
            SEED_LATENTS_SIGNATURE,
            {SEEDS_INPUT: seeds, PSI_INPUT: np.full(2, psi, np.float32)},
        )[LATENTS_OUTPUT]
        np.testing.assert_allclose(got, psi * latents, rtol=1e-6)
        by_latents = session.run(FROM_LATENTS_SIGNATURE, {LATENTS_INPUT: got}, [IMAGES_OUTPUT])
        np.testing.assert_array_equal(
            by_latents[IMAGES_OUTPUT], truncated_images(session, seeds, psi)
        )


def test_psi_must_be_one_finite_value_per_seed(session):
    seeds = np.array([1, 2], np.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="psi needs one value per seed"):
        session.run(TRUNCATED_SIGNATURE, {SEEDS_INPUT: seeds, PSI_INPUT: np.ones(3, np.float32)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="psi must be a finite number"):
        session.run(
            TRUNCATED_SIGNATURE,
            {SEEDS_INPUT: seeds, PSI_INPUT: np.array([1.0, np.nan], np.float32)},
        )


def test_truncated_with_labels_keeps_the_class_and_pulls_seeds_together(conditional_dir):
    bundle = SavedModelBundle(conditional_dir)
    seeds = np.arange(4, dtype=np.int64)
    labels = np.full(4, 2, np.int64)
    with_labels = bundle.run(
        WITH_LABELS_SIGNATURE, {SEEDS_INPUT: seeds, LABELS_INPUT: labels}, [IMAGES_OUTPUT]
    )[IMAGES_OUTPUT]
    np.testing.assert_array_equal(truncated_images(bundle, seeds, 1.0, labels), with_labels)
    mean = truncated_images(bundle, seeds, 0.0, labels)
    assert all(np.array_equal(image, mean[0]) for image in mean)
    other_class = truncated_images(bundle, seeds[:1], 0.0, [0])
    assert not np.array_equal(other_class[0], mean[0])
    # Without labels each seed keeps the class serving_default draws for it.
    by_seed = bundle.run("serving_default", {SEEDS_INPUT: seeds}, [IMAGES_OUTPUT])[IMAGES_OUTPUT]
    np.testing.assert_array_equal(truncated_images(bundle, seeds, 1.0), by_seed)
    bundle.close()


def test_seeds_draw_classes_by_their_share_of_the_training_set():
    seeds = np.arange(4000, dtype=np.int64)
    labels = labels_from_seeds(tf.constant(seeds), 3, (0.7, 0.3, 0.0)).numpy()
    counts = np.bincount(labels, minlength=3)
    assert counts[2] == 0  # a class with no training images is never drawn
    assert 0.67 < counts[0] / len(seeds) < 0.73
    alone = labels_from_seeds(tf.constant(seeds[7:12]), 3, (0.7, 0.3, 0.0)).numpy()
    np.testing.assert_array_equal(alone, labels[7:12])  # keyed by the seed, not the batch


def test_a_model_exported_with_class_shares_serves_seeds_by_them(tmp_path):
    """Through TF Serving's session loader: all seeds draw the only class with a share."""
    keras.utils.set_random_seed(5)
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(train, DataConfig(resolution=RESOLUTION, channels=3), 3)
    path = export_generator(generator, LATENT_DIM, str(tmp_path / "shares"), 3, (0.0, 1.0, 0.0))
    with open(os.path.join(path, "assets.extra", contract.GENERATOR_INFO_FILE)) as f:
        assert json.load(f)["class_shares"] == [0.0, 1.0, 0.0]
    bundle = SavedModelBundle(path)
    seeds = np.arange(8, dtype=np.int64)
    by_seed = bundle.run(DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds}, [IMAGES_OUTPUT])
    class_one = bundle.run(
        WITH_LABELS_SIGNATURE,
        {SEEDS_INPUT: seeds, LABELS_INPUT: np.ones(8, np.int64)},
        [IMAGES_OUTPUT],
    )
    np.testing.assert_array_equal(by_seed[IMAGES_OUTPUT], class_one[IMAGES_OUTPUT])


def test_labels_from_latents_are_deterministic_and_cover_every_class():
    latents = latents_from_seeds(tf.range(3000, dtype=tf.int64), 16)
    labels = labels_from_latents(latents, 5).numpy()
    counts = np.bincount(labels, minlength=5)
    assert counts.min() > 3000 / 5 * 0.6, counts
    np.testing.assert_array_equal(labels[:7], labels_from_latents(latents[:7], 5).numpy())


def test_warmup_file_holds_predict_logs_for_every_signature(conditional_dir):
    records = list(tf.data.TFRecordDataset(warmup_path(conditional_dir)))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    signatures = [log.predict_log.request.model_spec.signature_name for log in logs]
    assert set(signatures) == set(contract.signature_names(NUM_CLASSES))
    assert 0 < len(logs) <= contract.MAX_WARMUP_RECORDS
    assert [r.model_spec.signature_name for r in read_warmup_file(conditional_dir)] == signatures


def test_variables_are_stored_once(export_dir):
    generator_bytes = sum(
        v.numpy().nbytes
        for v in build_generator(LATENT_DIM, RESOLUTION, CHANNELS, width=16).weights
    )
    variables_dir = os.path.join(export_dir, "variables")
    stored = sum(os.path.getsize(os.path.join(variables_dir, f)) for f in os.listdir(variables_dir))
    assert generator_bytes < stored < 1.5 * generator_bytes


def test_generator_info_file(export_dir):
    with open(os.path.join(export_dir, "assets.extra", contract.GENERATOR_INFO_FILE)) as f:
        info = json.load(f)
    assert info == {
        "latent_dim": LATENT_DIM,
        "height": RESOLUTION,
        "width": RESOLUTION,
        "channels": CHANNELS,
        "num_classes": 0,
    }


def test_latents_from_seeds_are_standard_normal_and_seed_keyed():
    latents = latents_from_seeds(tf.range(400, dtype=tf.int64), LATENT_DIM).numpy()
    assert latents.dtype == np.float32
    assert abs(latents.mean()) < 0.1
    assert abs(latents.std() - 1.0) < 0.1
    single = latents_from_seeds(tf.constant([17], tf.int64), LATENT_DIM).numpy()
    np.testing.assert_array_equal(single[0], latents[17])


def test_to_uint8_endpoints_and_midpoint():
    values = to_uint8(tf.constant([-1.0, 1.0, 0.0])).numpy()
    assert values.dtype == np.uint8
    # 0 -> 127.5, rounded (tf.round: half to even) -> 128.
    assert values.tolist() == [0, 255, 128]


def test_to_uint8_rounds_to_nearest():
    # (x + 1) * 127.5 = 10.4 -> 10 and 10.6 -> 11: rounded, not truncated.
    x = np.array([10.4, 10.6], dtype=np.float32) / 127.5 - 1.0
    assert to_uint8(tf.constant(x)).numpy().tolist() == [10, 11]


def test_to_uint8_clips_out_of_range():
    values = to_uint8(tf.constant([-5.0, -1.01, 1.01, 7.0])).numpy()
    assert values.tolist() == [0, 0, 255, 255]
