"""The serving check: a generator SavedModel, loaded and called as TF Serving would.

TFX's InfraValidator launches TF Serving in Docker or Kubernetes and sends only serialized
tf.Examples, so it cannot check a generator here. These checks load the model with TF Serving's
session loader (``serving/bundle.py``) and then, in order, stopping at the first failure:
the signatures match the contract (names, dtypes, shapes); every signature answers a small
batch with uint8 images of the recorded size and PNGs that decode to them; the same seed gives
the same image on a second call, and alone or in any batch to within rounding; the signatures
agree with each other (``from_latents`` of a seed's latent is that seed's image, ``truncated``
at psi 1 is ``serving_default``, and ``seed_latents`` through ``from_latents`` gives
``truncated``'s images); and the version's warmup file replays.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from PIL import Image

from artgan import contract
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
from artgan.contract.warmup import replay_warmup, warmup_path
from artgan.models.export import (
    labels_from_seeds,
    latents_from_seeds,
    signature_inputs_for_seeds,
)

CHECK_SEEDS = (0, 1, 2, 1_000_003)
CHECK_PSI = 0.5  # the truncation the checks ask the truncated signatures for
# How far (uint8 levels) a seed's image alone may differ from the same seed's in another batch.
# TensorFlow's CPU convolutions (Eigen and oneDNN alike) pick their kernels by batch size and so
# round differently: on the emoji's 64x64 RGBA generator, about half of 40 seeds had one to two
# of their 16,384 values one level apart between batches (2026-12-07). A batch that leaks into
# its images (batch norm in training mode) moves them by far more.
BATCH_ROUNDING_LEVELS = 1


class CheckFailed(Exception):
    """One check's failure; the message is the reason recorded in the InfraBlessing."""


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class ServingCheckResult:
    blessed: bool
    reason: str  # the first failure, or what passed
    checks: list[CheckOutcome]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


_SIZE_FIELDS = ("latent_dim", "height", "width", "channels", "num_classes")


@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    latent_dim: int
    height: int
    width: int
    channels: int
    num_classes: int
    class_shares: tuple[float, ...] | None = None  # what seeds draw classes by; None: uniform

    def seed_labels(self, seeds: np.ndarray) -> np.ndarray:
        """The class ``serving_default`` draws for each seed."""
        labels = labels_from_seeds(tf.constant(seeds), self.num_classes, self.class_shares)
        return labels.numpy().astype(np.int64)

    def describe(self) -> str:
        sizes = {name: getattr(self, name) for name in _SIZE_FIELDS}
        if self.num_classes:
            sizes["seed_classes"] = "by class share" if self.class_shares else "uniform"
        return str(sizes)


def read_generator_info(model_dir: str) -> GeneratorInfo:
    path = os.path.join(model_dir, contract.ASSETS_EXTRA_DIR, contract.GENERATOR_INFO_FILE)
    try:
        with tf.io.gfile.GFile(path) as f:
            info = json.load(f)
        shares = info.get("class_shares")
        return GeneratorInfo(
            **{name: int(info[name]) for name in _SIZE_FIELDS},
            class_shares=tuple(float(share) for share in shares) if shares else None,
        )
    except (OSError, tf.errors.OpError, ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"cannot read {path}: {type(error).__name__}: {error}") from error


def first_line(error: Exception) -> str:
    """The error's type and first informative line (TF's start with "Graph execution error:")."""
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    lines = [line for line in lines if line != "Graph execution error:"] or [""]
    return f"{type(error).__name__}: {lines[0]}"


def check_signature_defs(bundle: SavedModelBundle, info: GeneratorInfo) -> str:
    wanted = contract.signature_names(info.num_classes)
    missing = sorted(set(wanted) - set(bundle.signature_defs))
    if missing:
        raise CheckFailed(f"signatures {missing} are missing (has {sorted(bundle.signature_defs)})")
    input_specs = {
        SEEDS_INPUT: tf.TensorSpec([None], tf.int64),
        LABELS_INPUT: tf.TensorSpec([None], tf.int64),
        LATENTS_INPUT: tf.TensorSpec([None, info.latent_dim], tf.float32),
        PSI_INPUT: tf.TensorSpec([None], tf.float32),
    }
    image_shape = [None, info.height, info.width, info.channels]
    all_output_specs = {
        IMAGES_OUTPUT: tf.TensorSpec(image_shape, tf.uint8),
        PNG_OUTPUT: tf.TensorSpec([None], tf.string),
        PNG_BYTES_OUTPUT: tf.TensorSpec([None], tf.string),
        LATENTS_OUTPUT: tf.TensorSpec([None, info.latent_dim], tf.float32),
    }
    for name in wanted:
        output_specs = {key: all_output_specs[key] for key in contract.signature_outputs(name)}
        inputs = bundle.input_specs(name)
        if sorted(inputs) != sorted(contract.signature_inputs(name)):
            raise CheckFailed(
                f"signature {name!r} takes {sorted(inputs)}, the contract says "
                f"{sorted(contract.signature_inputs(name))}"
            )
        outputs = bundle.output_specs(name)
        for kind, got_specs, want_specs in (
            ("input", inputs, input_specs),
            ("output", outputs, output_specs),
        ):
            for key, got in got_specs.items():
                want = want_specs.get(key)
                if kind == "output" and want is None:
                    continue  # extra outputs are allowed
                if got.dtype != want.dtype or got.shape.as_list() != want.shape.as_list():
                    raise CheckFailed(
                        f"signature {name!r} {kind} {key!r} is {got.dtype.name} "
                        f"{got.shape}, the contract says {want.dtype.name} {want.shape}"
                    )
        absent = sorted(set(output_specs) - set(outputs))
        if absent:
            raise CheckFailed(f"signature {name!r} lacks the outputs {absent}")
    return f"{len(wanted)} signatures as the contract says: {', '.join(wanted)}"


def decode_png(png: bytes) -> np.ndarray:
    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., np.newaxis] if array.ndim == 2 else array


def check_outputs(name: str, outputs: dict[str, np.ndarray], count: int, info: GeneratorInfo):
    images, pngs = outputs[IMAGES_OUTPUT], outputs[PNG_OUTPUT]
    shape = (count, info.height, info.width, info.channels)
    if images.dtype != np.uint8 or images.shape != shape:
        raise CheckFailed(
            f"{name!r} returned images {images.dtype} {images.shape}, not uint8 {shape}"
        )
    if pngs.shape != (count,):
        raise CheckFailed(f"{name!r} returned {pngs.shape} PNGs for {count} inputs")
    for index, (image, png) in enumerate(zip(images, pngs, strict=True)):
        try:
            decoded = decode_png(png)
        except Exception as error:
            raise CheckFailed(
                f"{name!r} PNG {index} does not decode: {first_line(error)}"
            ) from error
        if not np.array_equal(decoded, image):
            raise CheckFailed(f"{name!r} PNG {index} decodes to other pixels than its image")
    if not np.array_equal(outputs[PNG_BYTES_OUTPUT], pngs):
        raise CheckFailed(f"{name!r} png_bytes differ from png")


def check_latents(name: str, outputs: dict[str, np.ndarray], count: int, info: GeneratorInfo):
    latents = outputs[LATENTS_OUTPUT]
    shape = (count, info.latent_dim)
    if latents.dtype != np.float32 or latents.shape != shape:
        raise CheckFailed(
            f"{name!r} returned latents {latents.dtype} {latents.shape}, not float32 {shape}"
        )
    if not np.all(np.isfinite(latents)):
        raise CheckFailed(f"{name!r} returned latents that are not finite")


def check_pngs_alone(name: str, outputs: dict[str, np.ndarray], bundle, seeds: np.ndarray):
    """``pngs`` answers serving_default's PNGs for the same seeds, and nothing else."""
    if set(outputs) != {PNG_BYTES_OUTPUT}:
        raise CheckFailed(f"{name!r} returned {sorted(outputs)}, not only {PNG_BYTES_OUTPUT!r}")
    by_default = bundle.run(DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds}, [PNG_BYTES_OUTPUT])
    if not np.array_equal(outputs[PNG_BYTES_OUTPUT], by_default[PNG_BYTES_OUTPUT]):
        raise CheckFailed(f"{name!r} PNGs differ from serving_default's for the same seeds")


def check_every_signature_answers(bundle: SavedModelBundle, info: GeneratorInfo) -> str:
    seeds = np.asarray(CHECK_SEEDS, np.int64)
    for name in contract.signature_names(info.num_classes):
        inputs = signature_inputs_for_seeds(
            name, seeds, info.latent_dim, info.num_classes, CHECK_PSI
        )
        try:
            outputs = bundle.run(name, inputs)
        except Exception as error:
            raise CheckFailed(f"signature {name!r} failed: {first_line(error)}") from error
        if name == SEED_LATENTS_SIGNATURE:
            check_latents(name, outputs, len(seeds), info)
        elif name == PNGS_SIGNATURE:
            check_pngs_alone(name, outputs, bundle, seeds)
        else:
            check_outputs(name, outputs, len(seeds), info)
    size = f"{info.height}x{info.width}x{info.channels}"
    return f"each answered {len(seeds)} inputs with uint8 images {size} and matching PNGs"


def images_of(bundle: SavedModelBundle, name: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return bundle.run(name, inputs, [IMAGES_OUTPUT])[IMAGES_OUTPUT]


def largest_difference(first: np.ndarray, second: np.ndarray) -> int:
    """The largest per-value difference, in uint8 levels, between two image batches."""
    return int(np.abs(first.astype(np.int16) - second.astype(np.int16)).max())


def check_seed_determinism(bundle: SavedModelBundle, info: GeneratorInfo) -> str:
    seeds = np.asarray(CHECK_SEEDS, np.int64)
    first = images_of(bundle, DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds})
    again = images_of(bundle, DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds})
    reversed_batch = images_of(bundle, DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds[::-1].copy()})
    alone = images_of(bundle, DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds[1:2]})
    if not np.array_equal(first, again):
        raise CheckFailed("the same seeds gave different images on a second call")
    batch_effect = max(
        largest_difference(first, reversed_batch[::-1]), largest_difference(first[1], alone[0])
    )
    if batch_effect > BATCH_ROUNDING_LEVELS:
        raise CheckFailed(
            f"a seed's image depends on the other seeds in its batch (values up to "
            f"{batch_effect} levels apart; rounding moves them at most {BATCH_ROUNDING_LEVELS})"
        )
    if len({image.tobytes() for image in first}) < 2:
        raise CheckFailed(f"seeds {list(CHECK_SEEDS)} all gave the same image")
    return (
        "the same seed gives the same image on a second call, and alone or in any batch to "
        f"within {BATCH_ROUNDING_LEVELS} level (here {batch_effect}); seeds differ"
    )


def check_signatures_agree(bundle: SavedModelBundle, info: GeneratorInfo) -> str:
    seeds = np.asarray(CHECK_SEEDS, np.int64)
    latents = latents_from_seeds(tf.constant(seeds), info.latent_dim).numpy()
    by_seed = images_of(bundle, DEFAULT_SIGNATURE, {SEEDS_INPUT: seeds})
    if not info.num_classes:
        pairs = [(FROM_LATENTS_SIGNATURE, {LATENTS_INPUT: latents})]
    else:
        labels = info.seed_labels(seeds)
        pairs = [
            (WITH_LABELS_SIGNATURE, {SEEDS_INPUT: seeds, LABELS_INPUT: labels}),
            (FROM_LATENTS_WITH_LABELS_SIGNATURE, {LATENTS_INPUT: latents, LABELS_INPUT: labels}),
        ]
    untruncated = np.ones(len(seeds), np.float32)
    pairs.append((TRUNCATED_SIGNATURE, {SEEDS_INPUT: seeds, PSI_INPUT: untruncated}))
    if info.num_classes:
        pairs.append(
            (
                TRUNCATED_WITH_LABELS_SIGNATURE,
                {SEEDS_INPUT: seeds, LABELS_INPUT: labels, PSI_INPUT: untruncated},
            )
        )
    for name, inputs in pairs:
        if not np.array_equal(images_of(bundle, name, inputs), by_seed):
            raise CheckFailed(f"{name!r} disagrees with serving_default for the same seeds")
    names = ", ".join(name for name, _ in pairs)
    return f"{names} agree with serving_default; {check_truncation_agrees(bundle, info, seeds)}"


def check_truncation_agrees(bundle: SavedModelBundle, info: GeneratorInfo, seeds) -> str:
    """A walk's frames (``seed_latents`` then ``from_latents``) are the seeds' truncated images."""
    psi = np.full(len(seeds), CHECK_PSI, np.float32)
    latents = bundle.run(SEED_LATENTS_SIGNATURE, {SEEDS_INPUT: seeds, PSI_INPUT: psi})
    inputs = {LATENTS_INPUT: latents[LATENTS_OUTPUT]}
    truncated_inputs = {SEEDS_INPUT: seeds, PSI_INPUT: psi}
    name, truncated = FROM_LATENTS_SIGNATURE, TRUNCATED_SIGNATURE
    if info.num_classes:
        labels = info.seed_labels(seeds)
        inputs[LABELS_INPUT] = truncated_inputs[LABELS_INPUT] = labels
        name, truncated = FROM_LATENTS_WITH_LABELS_SIGNATURE, TRUNCATED_WITH_LABELS_SIGNATURE
    if not np.array_equal(
        images_of(bundle, name, inputs), images_of(bundle, truncated, truncated_inputs)
    ):
        raise CheckFailed(
            f"{SEED_LATENTS_SIGNATURE!r} through {name!r} disagrees with {truncated!r}"
        )
    return (
        f"{SEED_LATENTS_SIGNATURE} at psi {CHECK_PSI:g} through {name} gives {truncated}'s images"
    )


def check_warmup(bundle: SavedModelBundle, max_batch_size: int) -> str:
    path = warmup_path(bundle.path)
    if not tf.io.gfile.exists(path):
        raise CheckFailed(f"no warmup file at {path}")
    try:
        count = replay_warmup(bundle, max_batch_size)
    except Exception as error:
        raise CheckFailed(str(error)) from error
    if not count:
        raise CheckFailed(f"the warmup file {path} holds no requests")
    return f"{count} warmup requests replayed"


def run_checks(model_dir: str, max_batch_size: int) -> ServingCheckResult:
    """Every check on the SavedModel in ``model_dir``; never raises for a bad model."""
    outcomes: list[CheckOutcome] = []
    state: dict = {}

    def load() -> str:
        state["bundle"] = SavedModelBundle(model_dir)
        return f"loaded with TF Serving's session loader (tag {contract.SERVE_TAG!r})"

    def info() -> str:
        state["info"] = read_generator_info(model_dir)
        return state["info"].describe()

    steps: list[tuple[str, Callable[[], str]]] = [
        ("load", load),
        ("generator_info", info),
        ("signatures", lambda: check_signature_defs(state["bundle"], state["info"])),
        ("predict", lambda: check_every_signature_answers(state["bundle"], state["info"])),
        ("seed_determinism", lambda: check_seed_determinism(state["bundle"], state["info"])),
        ("signatures_agree", lambda: check_signatures_agree(state["bundle"], state["info"])),
        ("warmup", lambda: check_warmup(state["bundle"], max_batch_size)),
    ]
    try:
        for name, step in steps:
            started = time.perf_counter()
            try:
                detail = step()
            except Exception as error:
                reason = str(error) if isinstance(error, CheckFailed) else first_line(error)
                outcomes.append(CheckOutcome(name, False, reason, time.perf_counter() - started))
                return ServingCheckResult(False, f"{name}: {reason}", outcomes)
            outcomes.append(CheckOutcome(name, True, detail, time.perf_counter() - started))
    finally:
        if "bundle" in state:
            state["bundle"].close()
    return ServingCheckResult(True, f"all {len(outcomes)} checks passed", outcomes)
