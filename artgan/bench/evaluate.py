"""Evaluation time for N generated samples: generation, feature extraction, statistics, distance.

Times the evaluator's own scoring path (``models/evaluation.score_generator``) on a generator
SavedModel (``--model``, or a freshly initialised default generator: the time does not depend
on training) against the embedded digits as real images (``--real-images`` of them, about the
size of their eval split, as in the pipeline). The aim is that everything but the
feature network's forward pass stays under 10% of the total; with the tiny domain classifier
the forward pass is cheap, so generation dominates instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import tensorflow as tf

from artgan import datasets
from artgan.config import DataConfig, EvalConfig, TrainConfig
from artgan.models.export import export_generator
from artgan.models.metrics import scores
from artgan.models.metrics.domain_classifier import export_classifier, train_domain_classifier
from artgan.models.metrics.evaluation import RealReference, score_generator
from artgan.models.metrics.feature_network import open_feature_network

DEFAULTS = EvalConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=DEFAULTS.num_samples)
    parser.add_argument(
        "--feature-network",
        choices=("domain_classifier", "inception_2015"),
        default="domain_classifier",
    )
    parser.add_argument("--inception-graph", default="", metavar="PATH")
    parser.add_argument("--model", default="", help="a generator SavedModel (default: untrained)")
    # The digits as the default run trains on them (data.resolution/channels=auto on 8x8 gray).
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--channels", type=int, choices=(1, 3, 4), default=1)
    parser.add_argument(
        "--real-images",
        type=int,
        default=360,
        help="real reference images (%(default)s: about the digits' eval split)",
    )


def _digits(resolution: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = datasets.digit_pixels()
    images = tf.image.resize(pixels[..., None].astype(np.float32), [resolution, resolution])
    images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8).numpy()
    return np.tile(images, [1, 1, 1, channels]), labels


def _generator(workdir: str, data: DataConfig) -> str:
    from artgan.models import networks

    train = TrainConfig()
    generator, _ = networks.build_networks(train, data)
    return export_generator(generator, train.latent_dim, f"{workdir}/generator")


def run(args: argparse.Namespace) -> dict:
    data = DataConfig(resolution=args.resolution, channels=args.channels)
    config = dataclasses.replace(DEFAULTS, num_samples=args.samples)
    images, labels = _digits(data.resolution, data.channels)
    with tempfile.TemporaryDirectory() as workdir:
        if args.feature_network == "inception_2015":
            network = open_feature_network(
                "inception_2015", inception_graph_path=args.inception_graph
            )
        else:
            classifier = train_domain_classifier(images, labels, images[:200], labels[:200], 2)
            network = open_feature_network(
                classifier.name, classifier_dir=export_classifier(classifier, f"{workdir}/net")
            )
        started = time.perf_counter()
        features, _ = network.features_and_probs(images[: args.real_images])
        reference = RealReference(scores.FeatureStatistics.from_features(features), features, 0, 0)
        reference_seconds = time.perf_counter() - started
        model_dir = args.model or _generator(workdir, data)
        seeds = np.arange(config.seed, config.seed + config.num_samples, dtype=np.int64)
        started = time.perf_counter()
        score, _, timings = score_generator(model_dir, seeds, network, reference, config)
        total = time.perf_counter() - started
    stages = dataclasses.asdict(timings)
    outside_forward = total - stages["features"]
    return {
        "samples": config.num_samples,
        "feature_network": network.name,
        "feature_dims": int(reference.statistics.dims),
        "resolution": data.resolution,
        "real_images": reference.statistics.count,
        "seconds": {**stages, "total": total},
        "share_of_total": {name: seconds / total for name, seconds in stages.items()},
        "share_outside_feature_forward_pass": outside_forward / total,
        "aim_outside_forward_pass_under_10_percent": outside_forward / total < 0.10,
        "generated_images_per_second": config.num_samples / total,
        "real_reference_seconds": reference_seconds,
        "score": {"fid": score.fid, "kid": score.kid, "inception_score": score.inception_score},
    }
