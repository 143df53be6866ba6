"""Scoring a generator SavedModel and deciding its blessing (pure logic, no TFX)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from artgan.models import metrics
from artgan.models.export import IMAGES_OUTPUT, SEEDS_INPUT
from artgan.models.feature_network import FeatureNetwork
from artgan.pipeline.config import EvalConfig

GENERATE_CHUNK = 250


@dataclasses.dataclass(frozen=True)
class ModelScore:
    fid: float
    inception_score: float  # NaN when the feature network has no class scores
    inception_score_std: float
    # Generated images per class, by the classifier's argmax: shows dropped modes at a glance.
    class_histogram: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Verdict:
    blessed: bool
    reasons: tuple[str, ...]  # why, in words, for the log and metrics.json


def generate_images(saved_model_dir: str, seeds: np.ndarray) -> np.ndarray:
    """uint8 images [N, H, W, C] from the exported ``serving_default`` signature."""
    generate = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    chunks = [
        generate(**{SEEDS_INPUT: tf.constant(seeds[i : i + GENERATE_CHUNK], tf.int64)})
        for i in range(0, len(seeds), GENERATE_CHUNK)
    ]
    return np.concatenate([chunk[IMAGES_OUTPUT].numpy() for chunk in chunks])


def uint8_to_unit_range(images: np.ndarray) -> np.ndarray:
    """Served uint8 pixels -> float32 [-1, 1], the feature network's input range."""
    return images.astype(np.float32) / 127.5 - 1.0


def score_images(
    images_uint8: np.ndarray, network: FeatureNetwork, real_features: np.ndarray
) -> ModelScore:
    features, probs = network.features_and_probs(uint8_to_unit_range(images_uint8))
    fid = metrics.frechet_distance(features, real_features)
    if network.name == "random_conv":
        return ModelScore(fid, math.nan, math.nan)
    score, std = metrics.inception_score(probs, splits=min(10, len(probs)))
    histogram = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    return ModelScore(fid, score, std, tuple(int(count) for count in histogram))


def decide(candidate: ModelScore, baseline: ModelScore | None, config: EvalConfig) -> Verdict:
    """Blessed iff FID <= threshold and (no baseline or FID <= baseline FID + margin)."""
    reasons = []
    passes_threshold = candidate.fid <= config.fid_threshold
    reasons.append(
        f"FID {candidate.fid:.3f} {'<=' if passes_threshold else '>'} "
        f"threshold {config.fid_threshold:.3f}"
    )
    passes_baseline = True
    if baseline is not None:
        limit = baseline.fid + config.fid_margin
        passes_baseline = candidate.fid <= limit
        reasons.append(
            f"FID {candidate.fid:.3f} {'<=' if passes_baseline else '>'} baseline FID "
            f"{baseline.fid:.3f} + margin {config.fid_margin:.3f}"
        )
    else:
        reasons.append("no blessed baseline model")
    return Verdict(passes_threshold and passes_baseline, tuple(reasons))
