"""Time to quality: the default recipe against the DCGAN reference, for the same wall-clock.

The recipes train on the same real images in one process, alternating in short slices so a
busy machine slows both alike; each is charged only its own training time (not sampling and
scoring, nor one warm-up step that traces the step functions). At set fractions of the budget
each is scored like the evaluator scores a pipeline model: its exported ``serving_default``
draw (labels from the seeds for a class-conditional model) goes through the feature network the
evaluator would choose (``eval.feature_network`` auto: the domain classifier trained on the real
images' labels when it reaches ``min_classifier_accuracy``, else the contrastive network trained
on the images), and the Fréchet distance to a held-out real split is reported, with the
real-vs-real floor. A classifier auto refused still scores every sample as a second opinion.

The recipes may train at different resolutions (the reference on the 28x28 data sets is the
tutorial's 28x28 network), so every image is scored at its data set's ``SCORE_RESOLUTIONS``
(resized with Transform's antialiased filter). ``emoji`` is a folder that ``artgan data emoji``
wrote (64x64 RGBA PNGs in category folders, read as RGB over the data's background); its
reference is the DCGAN paper's 64x64 network.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from artgan import alpha, datasets, grid
from artgan.components.image_example_gen.profile import ImageProfile
from artgan.config import ALL_AUGMENT, DataConfig, EvalConfig, TrainConfig
from artgan.contract import IMAGES_OUTPUT
from artgan.errors import ArtganError
from artgan.models import export, networks
from artgan.models.metrics import scores
from artgan.models.metrics.domain_classifier import export_classifier
from artgan.models.metrics.evaluation import RealReference, score_images
from artgan.models.metrics.feature_network import (
    FeatureNetwork,
    open_feature_network,
)
from artgan.models.metrics.network_choice import NetworkSettings, train_feature_network
from artgan.models.training import trainer
from artgan.models.training.ema import GeneratorEma, ema_decay
from artgan.models.training.schedule import learning_rate_scale
from artgan.models.training.strategy import hardware_strategy
from artgan.pipeline.data_settings import auto_resolution

log = logging.getLogger(__name__)

SCORE_RESOLUTION = 28  # the tutorial reference network's own size
DATASETS = ("digits", "fashion-mnist", "emoji")
# Where each data set is scored: its reference network's size (the DCGAN paper's for emoji).
SCORE_RESOLUTIONS = {"digits": SCORE_RESOLUTION, "fashion-mnist": SCORE_RESOLUTION, "emoji": 64}
FOLDER_DATASETS = ("emoji",)  # read from a folder given on the command line
# Variants of the default recipe (``--also-recipes ARCH+MODIFIER...``): DiffAugment on every
# image, adaptive (ADA), without the discriminator's reconstruction loss, or sampled from the
# raw generator rather than its EMA (whose half-life, ema_kimg, can be most of a short run).
RECIPE_MODIFIERS = ("da", "ada", "norecon", "noema")
CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)  # of the budget, where each recipe is scored
CLASSIFIER_MAX_IMAGES = 10_000  # the classifier trains on at most this many real images


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    train: TrainConfig
    resolution: int


def cpu_auto_resolution(source_size: int) -> int:
    """What data.resolution=auto picks on CPUs for square images of ``source_size``."""
    profile = ImageProfile(1, 1, source_size, source_size, gray_share=0.0, transparent_share=0.0)
    return auto_resolution(profile, False, DataConfig().cpu_max_resolution)[0]


def default_recipe(source_size: int, num_images: int) -> Recipe:
    """What ``artgan run`` trains on ``num_images`` images of ``source_size`` on CPUs."""
    train, _ = TrainConfig().with_augment_for(num_images)
    return Recipe("default", train, cpu_auto_resolution(source_size))


def default_with_architecture(source_size: int, num_images: int, architecture: str) -> Recipe:
    """The default recipe with another architecture (e.g. ``resnet``), for comparison."""
    default = default_recipe(source_size, num_images)
    train = dataclasses.replace(default.train, architecture=architecture)
    return Recipe(f"default_{architecture}", train, default.resolution)


def parse_variant(spec: str) -> tuple[str, tuple[str, ...]]:
    """'fastgan+ada+batch_size=32' -> ('fastgan', ('ada', 'batch_size=32')); ArtganError if
    malformed. A ``FIELD=VALUE`` modifier sets that TrainConfig field."""
    architecture, *modifiers = [part.strip() for part in spec.split("+")]
    named = {modifier for modifier in modifiers if "=" not in modifier}
    unknown = named - set(RECIPE_MODIFIERS)
    fields = [modifier.split("=", 1)[0] for modifier in modifiers if "=" in modifier]
    unknown |= set(fields) - {field.name for field in dataclasses.fields(TrainConfig)}
    if unknown or {"da", "ada"} <= named or len(set(modifiers)) < len(modifiers):
        raise ArtganError(
            f"recipe {spec!r}: ARCHITECTURE[+da|+ada][+norecon][+noema][+FIELD=VALUE], "
            f"modifiers from {', '.join(RECIPE_MODIFIERS)} (da and ada exclude each other) or "
            "TrainConfig fields"
        )
    return architecture, tuple(modifiers)


def _with_field(train: TrainConfig, assignment: str) -> TrainConfig:
    """``train`` with ``FIELD=VALUE`` applied, VALUE parsed as the field's default's type."""
    name, text = assignment.split("=", 1)
    kind = type(getattr(TrainConfig(), name))
    try:
        value = (text.lower() in ("1", "true")) if kind is bool else kind(text)
    except ValueError:
        raise ArtganError(
            f"recipe modifier {assignment!r}: {text!r} is not a {kind.__name__}"
        ) from None
    changed = dataclasses.replace(train, **{name: value})
    changed.validate()
    return changed


def default_variant(source_size: int, num_images: int, spec: str) -> Recipe:
    """The default recipe with the architecture and modifiers of ``spec`` (``parse_variant``):
    ``da`` DiffAugment ``ALL_AUGMENT`` on every image, ``ada`` the same adaptively,
    ``norecon`` reconstruction_weight 0, ``noema`` ema_kimg 0, ``FIELD=VALUE`` that field."""
    architecture, modifiers = parse_variant(spec)
    default = default_with_architecture(source_size, num_images, architecture)
    train = default.train
    if "da" in modifiers or "ada" in modifiers:
        train = dataclasses.replace(train, augment=ALL_AUGMENT, augment_adaptive="ada" in modifiers)
    if "norecon" in modifiers:
        train = dataclasses.replace(train, reconstruction_weight=0.0)
    if "noema" in modifiers:
        train = dataclasses.replace(train, ema_kimg=0.0)
    for assignment in (modifier for modifier in modifiers if "=" in modifier):
        train = _with_field(train, assignment)
    return Recipe(f"default_{spec}", train, default.resolution)


def dcgan_reference(resolution: int = SCORE_RESOLUTION) -> Recipe:
    """The tutorial's networks (28x28) or the DCGAN paper's (64x64), with the usual DCGAN
    optimiser settings (Adam 2e-4 throughout, beta1 0.5, batch 64, the cross-entropy loss)."""
    train = dataclasses.replace(
        TrainConfig(),
        architecture="dcgan",
        latent_dim=100,
        batch_size=64,
        generator_learning_rate=2e-4,
        discriminator_learning_rate=2e-4,
        adam_beta1=0.5,
        loss="non_saturating",
        augment="",
        r1_gamma=0.0,
        simultaneous_updates=True,
        conditional=False,
        ema_kimg=0.0,
        learning_rate_ramp_down=0.0,
    )
    return Recipe("dcgan", train, resolution)


def load_dataset(name: str, folder: str = "", channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, H, W, C] at their source size, and int64 labels [N].

    The embedded data sets have one channel; a folder data set (``emoji``) is read from
    ``folder`` with ``channels`` (``load_image_folder``).
    """
    if name == "digits":
        pixels, labels = datasets.digit_pixels()
    elif name == "fashion-mnist":
        pixels, labels = datasets.fashion_mnist_pixels()
    elif name in FOLDER_DATASETS:
        return load_image_folder(folder_images(name, folder), channels)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return pixels[..., None], labels


def folder_images(name: str, folder: str) -> list[str]:
    """The PNGs (FOLDER/CLASS/*.png) of folder data set ``name``; ArtganError naming the flag
    or folder when there are none."""
    how = f"`artgan data {name} --out DIR` writes it"
    if not folder:
        raise ArtganError(
            f"the {name} data set is read from a folder: pass --{name}-dir DIR ({how})"
        )
    paths = sorted(glob.glob(os.path.join(glob.escape(folder), "*", "*.png")))
    if not paths:
        state = "is empty" if os.path.isdir(folder) else "does not exist"
        raise ArtganError(
            f"--{name}-dir {folder!r} {state} or has no PNGs in class subfolders ({how})"
        )
    return paths


def load_image_folder(paths: list[str], channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Same-sized PNGs in one folder per class -> uint8 [N, H, W, channels] and labels [N]
    (the folders in sorted order). Transparent pixels are composited over the data's
    background for 1 and 3 channels (as Transform does); 4 keeps the alpha channel."""
    classes = sorted({os.path.basename(os.path.dirname(path)) for path in paths})
    index = {name: label for label, name in enumerate(classes)}
    rgba = np.stack([tf.io.decode_png(tf.io.read_file(path), channels=4).numpy() for path in paths])
    labels = np.array([index[os.path.basename(os.path.dirname(p))] for p in paths], np.int64)
    if channels == 4:
        return rgba, labels
    rgb = alpha.composite(rgba, DataConfig().background_rgb())
    if channels == 1:
        return as_uint8(rgb @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]), labels
    return rgb, labels


def resized(images: np.ndarray, resolution: int) -> np.ndarray:
    """Images (any numeric dtype, 0..255) resized as Transform resizes; float32 in 0..255."""
    tensor = tf.image.resize(tf.cast(images, tf.float32), [resolution, resolution], antialias=True)
    return tf.clip_by_value(tensor, 0.0, 255.0).numpy()


def as_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(images).astype(np.uint8)


class TimedTraining:
    """One recipe's GAN on in-memory images, trained in timed slices."""

    def __init__(
        self,
        recipe: Recipe,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int,
        budget_seconds: float,
    ):
        """``budget_seconds``: the whole training time, over whose end the learning rates
        ramp down (``learning_rate_ramp_down``)."""
        train = recipe.train
        self.recipe = recipe
        self.budget_seconds = budget_seconds
        self.num_classes = int(labels.max()) + 1 if train.conditional else 0
        data = DataConfig(resolution=recipe.resolution, channels=int(images.shape[-1]))
        pixels = resized(images, recipe.resolution) / 127.5 - 1.0
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels.astype(np.int32)))
        dataset = dataset.shuffle(len(pixels), seed=seed).repeat()
        dataset = dataset.batch(train.batch_size, drop_remainder=True)
        if not self.num_classes:
            dataset = dataset.map(lambda images, _: images)
        keras.utils.set_random_seed(seed)
        strategy = hardware_strategy(train)
        global_batch = train.batch_size * strategy.num_replicas_in_sync
        dataset = dataset.rebatch(global_batch).prefetch(tf.data.AUTOTUNE)
        self._batches = iter(strategy.experimental_distribute_dataset(dataset))
        with strategy.scope():
            generator, discriminator = networks.build_networks(train, data, self.num_classes)
            # The reference has no EMA (the tutorial's): it is sampled from its generator.
            self.ema = GeneratorEma(generator, ema_decay(global_batch, train.ema_kimg))
            self.trainer = trainer.adversarial_trainer(
                train, strategy, generator, discriminator, global_batch
            )
        self.sampled = self.ema.model if train.ema_kimg > 0 else generator
        shares = trainer.shares_of(tuple(np.bincount(labels))) if self.num_classes else None
        signatures = export.GeneratorSignatures(
            self.sampled, train.latent_dim, self.num_classes, shares
        )
        self.generate_from_seeds = tf.function(signatures.from_seeds)
        self.images_per_step = global_batch
        self.seconds = 0.0
        self.steps = 0
        self.last_losses: tuple[float, float] | None = None  # (D, G) after the latest slice

    def warm_up(self) -> None:
        """One untimed step, so tracing and compilation are charged to neither recipe."""
        self.trainer.step(next(self._batches))
        if self.sampled is self.ema.model:
            self.ema.update()

    def train_for(self, seconds: float) -> None:
        """Trains until ``seconds`` of this recipe's own time have passed (whole steps)."""
        started = time.perf_counter()
        d_loss = None
        ramp_down = self.recipe.train.learning_rate_ramp_down
        while (elapsed := time.perf_counter() - started) < seconds:
            progress = (self.seconds + elapsed) / self.budget_seconds
            self.trainer.scale_learning_rates(learning_rate_scale(progress, ramp_down))
            d_loss, g_loss = self.trainer.step(next(self._batches))
            if self.sampled is self.ema.model:
                self.ema.update()
            self.steps += 1
        if d_loss is not None:
            if not math.isfinite(float(d_loss)):  # also waits for the last step to finish
                raise ArtganError(
                    f"{self.recipe.name}: the D loss is {float(d_loss)} at step {self.steps}"
                )
        self.seconds += time.perf_counter() - started
        if d_loss is not None:
            self.last_losses = (float(d_loss), float(g_loss))

    def facts(self) -> dict:
        """The learning-rate scale, the latest losses and, with ADA, the augmentation
        probability."""
        facts = {"learning_rate_scale": self.trainer.learning_rate_scale}
        if self.last_losses:
            facts["d_loss"], facts["g_loss"] = self.last_losses
        if self.trainer.augment_probability is not None:
            facts["augment_probability"] = float(self.trainer.augment_probability.numpy())
        return facts

    def sample(self, seeds: np.ndarray, resolution: int = SCORE_RESOLUTION) -> np.ndarray:
        """uint8 images [N, resolution, resolution, C], as served, then resized."""
        chunks = []
        for start in range(0, len(seeds), 1000):
            batch = tf.constant(seeds[start : start + 1000], tf.int64)
            chunks.append(self.generate_from_seeds(batch)[IMAGES_OUTPUT].numpy())
        return as_uint8(resized(np.concatenate(chunks), resolution))


@dataclasses.dataclass
class Scorer:
    """The evaluator's scoring against one data set's held-out real images."""

    network: FeatureNetwork
    reference: RealReference
    config: EvalConfig
    resolution: int = SCORE_RESOLUTION  # images are scored at this size

    def fd(self, images_uint8: np.ndarray) -> dict:
        score = score_images(images_uint8, self.network, self.reference, self.config)
        return {
            "fd": score.fid,
            "kd": score.kid,
            "classifier_score": score.inception_score,
            "class_histogram": list(score.class_histogram),
        }


def heldout_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(eval, train) indices: the pipeline's eval share, held out at random."""
    order = np.random.default_rng(seed).permutation(count)
    held_out = max(2, count * DataConfig().eval_percent // 100)
    return order[:held_out], order[held_out:]


def scorer_for(
    network: FeatureNetwork,
    real: np.ndarray,
    eval_index: np.ndarray,
    train_index: np.ndarray,
    config: EvalConfig,
    resolution: int,
) -> Scorer:
    """Scores against ``real[eval_index]`` in ``network``'s space; the floor is train vs eval."""
    train_features, _ = network.features_and_probs(real[train_index])
    eval_features, _ = network.features_and_probs(real[eval_index])
    reference = RealReference(
        scores.FeatureStatistics.from_features(eval_features),
        eval_features[: config.kid_max_rows].astype(np.float32),
        scores.frechet_distance(train_features, eval_features),
        0.0,
    )
    return Scorer(network, reference, config, resolution)


def build_scorers(
    images: np.ndarray,
    labels: np.ndarray,
    workdir: str,
    config: EvalConfig,
    seed: int,
    resolution: int = SCORE_RESOLUTION,
) -> tuple[list[Scorer], dict]:
    """The evaluator's feature network (``config.feature_network``, auto: the domain classifier
    when it reaches ``min_classifier_accuracy``, else the contrastive network), trained on a
    train split and referencing the held-out split; first in the list. A classifier that auto
    refused follows as a second opinion."""
    eval_index, train_index = heldout_split(len(images), seed)
    real = as_uint8(resized(images, resolution))
    settings = NetworkSettings(
        choice=config.feature_network,
        min_classifier_accuracy=config.min_classifier_accuracy,
        classifier_epochs=config.classifier_epochs,
        contrastive_epochs=config.contrastive_epochs,
        seed=seed,
    )
    chosen = train_feature_network(
        real[train_index][:CLASSIFIER_MAX_IMAGES],
        labels[train_index][:CLASSIFIER_MAX_IMAGES],
        real[eval_index],
        labels[eval_index],
        settings,
    )
    trained = [chosen.network] + ([chosen.refused_classifier] if chosen.refused_classifier else [])
    scorers = []
    for network in trained:
        opened = open_feature_network(
            network.name,
            classifier_dir=export_classifier(network, os.path.join(workdir, network.name)),
            heldout_accuracy=network.heldout_accuracy,
        )
        scorers.append(scorer_for(opened, real, eval_index, train_index, config, resolution))
    facts = {
        "real_images": len(images),
        "heldout_images": len(eval_index),
        "feature_network": chosen.network.name,
        "fallback_reason": chosen.fallback_reason,
        "classifier_heldout_accuracy": (
            chosen.refused_classifier or chosen.network
        ).heldout_accuracy,
        "contrastive_view_match": chosen.network.view_match,
        "fd_floor_train_vs_heldout": scorers[0].reference.fid_floor,
        "second_opinion_floors": {
            scorer.network.name: scorer.reference.fid_floor for scorer in scorers[1:]
        },
        "score_resolution": resolution,
    }
    return scorers, facts


def _grid_path(grids_dir: str, dataset: str, recipe: str, seed: int, when: str = "") -> str:
    """The final grid's path, or with ``when`` (e.g. '25pct') a checkpoint's."""
    suffix = f"_{when}" if when else ""
    return os.path.join(grids_dir, f"{dataset}_{recipe}_seed{seed}{suffix}.png")


def compare_on(
    dataset: str,
    budget_seconds: float,
    slice_seconds: float,
    num_samples: int,
    grids_dir: str,
    seeds: tuple[int, ...] = (0,),
    images_and_labels: tuple[np.ndarray, np.ndarray] | None = None,
    also_architectures: tuple[str, ...] = (),
    also_recipes: tuple[str, ...] = (),
    folder: str = "",
) -> dict:
    """Trains both recipes for ``budget_seconds`` each on ``dataset``, once per training seed;
    their FD over time, and the median final FD of each over the seeds.

    One GAN run is a noisy measurement (the reference's final FD varies by tens of points from
    seed to seed), so the aim is judged on the medians. The scorer (classifier, held-out split)
    is the same for every seed. ``also_architectures`` adds the default recipe with each of
    those architectures, ``also_recipes`` with each variant (``default_variant``). ``folder``
    holds a folder data set (``FOLDER_DATASETS``).
    """
    images, labels = images_and_labels or load_dataset(dataset, folder)
    resolution = SCORE_RESOLUTIONS.get(dataset, SCORE_RESOLUTION)
    with tempfile.TemporaryDirectory() as workdir:
        scorers, facts = build_scorers(images, labels, workdir, EvalConfig(), 0, resolution)
        source_size = images.shape[1]
        count = len(images)
        recipes = [default_recipe(source_size, count), dcgan_reference(resolution)]
        recipes += [default_with_architecture(source_size, count, a) for a in also_architectures]
        recipes += [default_variant(source_size, count, spec) for spec in also_recipes]
        runs = [
            race(
                dataset,
                recipes,
                images,
                labels,
                seed,
                scorers,
                budget_seconds,
                slice_seconds,
                num_samples,
                grids_dir,
            )
            for seed in seeds
        ]
    default_fd = float(np.median([run["recipes"]["default"]["final_fd"] for run in runs]))
    reference_fd = float(np.median([run["recipes"]["dcgan"]["final_fd"] for run in runs]))
    return {
        **facts,
        "budget_seconds": budget_seconds,
        "samples": num_samples,
        "seeds": list(seeds),
        "runs": runs,
        "default_fd_median": default_fd,
        "reference_fd_median": reference_fd,
        "default_vs_reference_fd": default_fd / reference_fd,
        "aim_met": default_fd <= 0.5 * reference_fd,  # the aim: at most half
    }


def race(
    dataset: str,
    recipes: list[Recipe],
    images: np.ndarray,
    labels: np.ndarray,
    seed: int,
    scorers: list[Scorer],
    budget_seconds: float,
    slice_seconds: float,
    num_samples: int,
    grids_dir: str,
) -> dict:
    """One training seed: every recipe trained in turns to the budget, scored on the way by
    ``scorers[0]`` (``fd``) and each other scorer (``second_opinion``, FD by network)."""
    scorer = scorers[0]
    runs = [TimedTraining(recipe, images, labels, seed, budget_seconds) for recipe in recipes]
    for run in runs:
        run.warm_up()
    sample_seeds = np.arange(num_samples, dtype=np.int64)
    curves = {run.recipe.name: [] for run in runs}
    for fraction in CHECKPOINT_FRACTIONS:
        target = budget_seconds * fraction
        while any(run.seconds < target for run in runs):
            for run in runs:
                if run.seconds < target:
                    run.train_for(min(slice_seconds, target - run.seconds))
        for run in runs:
            point = {"train_seconds": run.seconds, "steps": run.steps, **run.facts()}
            samples = run.sample(sample_seeds, scorer.resolution)
            point.update(scorer.fd(samples))
            if scorers[1:]:
                point["second_opinion"] = {s.network.name: s.fd(samples)["fd"] for s in scorers[1:]}
            if fraction < 1.0:
                when = f"{round(fraction * 100)}pct"
                point["grid"] = _grid_path(grids_dir, dataset, run.recipe.name, seed, when)
                grid.save_grid(
                    run.sample(np.arange(64, dtype=np.int64), scorer.resolution), point["grid"]
                )
            curves[run.recipe.name].append(point)
            log.info(
                "%s, seed %d, %s: %.0f s, %d steps, FD %.2f",
                dataset,
                seed,
                run.recipe.name,
                run.seconds,
                run.steps,
                point["fd"],
            )
    result: dict = {"seed": seed, "recipes": {}}
    for run in runs:
        path = _grid_path(grids_dir, dataset, run.recipe.name, seed)
        grid.save_grid(run.sample(np.arange(64, dtype=np.int64), scorer.resolution), path)
        result["recipes"][run.recipe.name] = {
            "resolution": run.recipe.resolution,
            "conditional": bool(run.num_classes),
            "train_config": dataclasses.asdict(run.recipe.train),
            "steps": run.steps,
            "images_per_second": run.steps * run.images_per_step / run.seconds,
            "curve": curves[run.recipe.name],
            "final_fd": curves[run.recipe.name][-1]["fd"],
            "final_second_opinion": curves[run.recipe.name][-1].get("second_opinion", {}),
            "grid": path,
        }
    recipes_out = result["recipes"]
    result["default_vs_reference_fd"] = (
        recipes_out["default"]["final_fd"] / recipes_out["dcgan"]["final_fd"]
    )
    return result
