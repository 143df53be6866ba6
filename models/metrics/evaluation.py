"""Scoring a generator SavedModel and deciding its blessing (pure logic, no TFX).

Generated images come from the exported ``serving_default`` signature, so they are quantised
exactly like served images; they are scored in chunks (statistics accumulate in float64, so
``num_samples`` never sits in memory as features) against the real eval split's reference.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from artgan.config import EvalConfig
from artgan.contract import IMAGES_OUTPUT, SEEDS_INPUT
from artgan.models import export
from artgan.models.metrics import fidelity, scores
from artgan.models.metrics.feature_network import FeatureNetwork, metric_names

GENERATE_CHUNK = 500
PREVIEW_SAMPLES = 64  # generated images kept for the sample grids


@dataclasses.dataclass(frozen=True)
class RealReference:
    """The real images a generator is read against, in one feature network's space."""

    statistics: scores.FeatureStatistics  # eval split, for FD
    kid_rows: np.ndarray  # eval split features (at most EvalConfig.kid_max_rows), for KID
    fid_floor: float  # FD between the train and eval splits: the best a model can expect
    kid_floor: float  # KID between the train and eval splits
    # Train split features (at most EvalConfig.kid_max_rows), for memorisation; None: not scored.
    train_rows: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class ModelScore:
    fid: float
    kid: float
    kid_std: float
    inception_score: float  # NaN when the feature network has no class scores
    inception_score_std: float
    num_samples: int = 0
    # Generated images per class, by the classifier's argmax: shows dropped modes at a glance.
    class_histogram: tuple[int, ...] = ()
    # Against the eval split (fidelity.py): about 1 and up to 1 for a model like the real data.
    density: float = math.nan
    coverage: float = math.nan
    # Share of near-copies of a training image (about 0.05 for a model as novel as held-out
    # images), and the distance below which an image counts as one; NaN without train rows.
    copy_rate: float = math.nan
    copy_distance: float = math.nan


@dataclasses.dataclass
class ScoreTimings:
    """Seconds spent per stage of ``score_generator`` (``artgan bench evaluate`` reports them)."""

    generation: float = 0.0
    features: float = 0.0
    statistics: float = 0.0
    distance: float = 0.0


@dataclasses.dataclass(frozen=True)
class Check:
    metric: str  # fid | kid | inception_score | classifier_accuracy | copy_rate
    kind: str  # threshold | floor | baseline | refusal | memorisation
    value: float
    comparison: str  # "<=" or ">="
    limit: float
    passed: bool
    text: str  # the check in words, with every number


@dataclasses.dataclass(frozen=True)
class Verdict:
    blessed: bool
    reasons: tuple[str, ...]  # why, in words, for the log, metrics.json and the report
    checks: tuple[Check, ...] = ()


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Transformed [-1, 1] images -> uint8, rounded exactly as the served generator rounds."""
    return export.to_uint8(tf.constant(images)).numpy()


def generated_chunks(
    saved_model_dir: str, seeds: np.ndarray, chunk: int = GENERATE_CHUNK
) -> Iterator[np.ndarray]:
    """uint8 images [n, H, W, C] from the exported ``serving_default`` signature, by chunk."""
    loaded = tf.saved_model.load(saved_model_dir)
    generate = loaded.signatures["serving_default"]
    for start in range(0, len(seeds), chunk):
        batch = tf.constant(seeds[start : start + chunk], tf.int64)
        yield generate(**{SEEDS_INPUT: batch})[IMAGES_OUTPUT].numpy()


def generate_images(saved_model_dir: str, seeds: np.ndarray) -> np.ndarray:
    """All uint8 images [N, H, W, C] for ``seeds`` (small N: previews and tests)."""
    return np.concatenate(list(generated_chunks(saved_model_dir, seeds)))


def score_generator(
    saved_model_dir: str,
    seeds: np.ndarray,
    network: FeatureNetwork,
    reference: RealReference,
    config: EvalConfig,
) -> tuple[ModelScore, np.ndarray, ScoreTimings]:
    """Scores the generator on ``seeds``: (score, the first preview images, stage timings)."""
    timings = ScoreTimings()
    statistics = scores.FeatureStatistics(reference.statistics.dims)
    kid_rows, probs, preview = [], [], []
    kept_rows = 0
    chunks = generated_chunks(saved_model_dir, seeds)
    while True:
        started = time.perf_counter()
        images = next(chunks, None)
        timings.generation += time.perf_counter() - started
        if images is None:
            break
        if sum(len(p) for p in preview) < PREVIEW_SAMPLES:
            preview.append(images[:PREVIEW_SAMPLES])
        started = time.perf_counter()
        features, batch_probs = network.features_and_probs(images)
        timings.features += time.perf_counter() - started
        started = time.perf_counter()
        statistics.update(features)
        if kept_rows < config.kid_max_rows:
            kid_rows.append(features[: config.kid_max_rows - kept_rows].astype(np.float32))
            kept_rows += len(kid_rows[-1])
        probs.append(batch_probs.astype(np.float32))
        timings.statistics += time.perf_counter() - started
    started = time.perf_counter()
    score = _score(
        statistics, np.concatenate(kid_rows), np.concatenate(probs), network, reference, config
    )
    timings.distance = time.perf_counter() - started
    return score, np.concatenate(preview)[:PREVIEW_SAMPLES], timings


def score_images(
    images_uint8: np.ndarray,
    network: FeatureNetwork,
    reference: RealReference,
    config: EvalConfig | None = None,
) -> ModelScore:
    """Scores a given set of uint8 images (the real ones, say) like generated ones."""
    features, probs = network.features_and_probs(images_uint8)
    statistics = scores.FeatureStatistics.from_features(features)
    config = config or EvalConfig()
    return _score(statistics, features[: config.kid_max_rows], probs, network, reference, config)


def _score(
    statistics: scores.FeatureStatistics,
    kid_rows: np.ndarray,
    probs: np.ndarray,
    network: FeatureNetwork,
    reference: RealReference,
    config: EvalConfig,
) -> ModelScore:
    fid = scores.frechet_distance(statistics, reference.statistics)
    # The same seed draws the same real subsets for the candidate and the baseline.
    kid, kid_std = scores.kernel_inception_distance(
        kid_rows,
        reference.kid_rows,
        num_subsets=config.kid_subsets,
        subset_size=config.kid_subset_size,
        seed=config.seed,
    )
    density, coverage = fidelity.density_coverage(reference.kid_rows, kid_rows)
    copies = fidelity.Memorisation(math.nan, math.nan)
    if reference.train_rows is not None:
        copies = fidelity.memorisation(reference.train_rows, reference.kid_rows, kid_rows)
    per_image = {
        "density": density,
        "coverage": coverage,
        "copy_rate": copies.copy_rate,
        "copy_distance": copies.copy_distance,
    }
    if not network.has_class_scores:
        return ModelScore(fid, kid, kid_std, math.nan, math.nan, statistics.count, **per_image)
    score, std = scores.inception_score(probs, splits=min(10, len(probs)))
    histogram = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    return ModelScore(
        fid,
        kid,
        kid_std,
        score,
        std,
        statistics.count,
        tuple(int(c) for c in histogram),
        **per_image,
    )


def _check(metric, kind, value, comparison, limit, names, description) -> Check:
    if comparison == "<=":
        passed, shown = bool(value <= limit), ("<=" if value <= limit else ">")
    else:
        passed, shown = bool(value >= limit), (">=" if value >= limit else "<")
    label = names.get(metric, metric)
    return Check(
        metric, kind, value, comparison, limit, passed, f"{label} {value:.4g} {shown} {description}"
    )


def decide(
    candidate: ModelScore,
    baseline: ModelScore | None,
    config: EvalConfig,
    network_name: str = "domain_classifier",
    fid_floor: float = math.nan,
    heldout_accuracy: float | None = None,
) -> Verdict:
    """Blessed iff every configured gate passes (gates set to None in ``config`` are skipped).

    Gates: the feature network's held-out accuracy; FD, KID and IS against absolute thresholds;
    FD against a multiple of the real-vs-real floor; and, with a baseline, each metric not worse
    than the baseline's by more than its margin. A NaN value fails any gate on it.
    """
    names = {
        **metric_names(network_name),
        "classifier_accuracy": "feature network accuracy",
        "copy_rate": "near-copy share",
    }
    checks: list[Check] = []
    if heldout_accuracy is not None:
        check = _check(
            "classifier_accuracy",
            "refusal",
            heldout_accuracy,
            ">=",
            config.min_classifier_accuracy,
            names,
            f"eval.min_classifier_accuracy {config.min_classifier_accuracy:.4g}",
        )
        if not check.passed:
            text = f"{check.text}: the feature network is refused (--feature-network auto scores"
            text += " with a contrastive network instead; or raise --classifier-epochs)"
            check = dataclasses.replace(check, text=text)
        checks.append(check)
    for metric, limit, comparison in (
        ("fid", config.fid_threshold, "<="),
        ("kid", config.kid_threshold, "<="),
        ("inception_score", config.is_threshold, ">="),
    ):
        if limit is not None:
            value = getattr(candidate, metric)
            text = f"threshold {limit:.4g}"
            checks.append(_check(metric, "threshold", value, comparison, limit, names, text))
    if config.max_copy_rate is not None:
        checks.append(
            _check(
                "copy_rate",
                "memorisation",
                candidate.copy_rate,
                "<=",
                config.max_copy_rate,
                names,
                f"eval.max_copy_rate {config.max_copy_rate:.4g}",
            )
        )
    if config.fid_max_over_floor is not None:
        limit = config.fid_max_over_floor * fid_floor
        checks.append(
            _check(
                "fid",
                "floor",
                candidate.fid,
                "<=",
                limit,
                names,
                f"{config.fid_max_over_floor:.4g} x real-vs-real floor {fid_floor:.4g} "
                f"= {limit:.4g}",
            )
        )
    if baseline is not None:
        for metric, margin, comparison in (
            ("fid", config.fid_margin, "<="),
            ("kid", config.kid_margin, "<="),
            ("inception_score", config.is_margin, ">="),
        ):
            if margin is None:
                continue
            base = getattr(baseline, metric)
            limit = base + margin if comparison == "<=" else base - margin
            sign = "+" if comparison == "<=" else "-"
            checks.append(
                _check(
                    metric,
                    "baseline",
                    getattr(candidate, metric),
                    comparison,
                    limit,
                    names,
                    f"baseline {base:.4g} {sign} margin {margin:.4g}",
                )
            )
    reasons = [check.text for check in checks]
    if baseline is None:
        reasons.append("no blessed baseline model")
    if not checks:
        reasons.append("no gate is configured")
    return Verdict(all(check.passed for check in checks), tuple(reasons), tuple(checks))
