"""Do feature networks rank models alike? The contrastive and random networks against a labelled
classifier, on generators of many qualities.

The default recipe and the DCGAN reference train in turns (as in ``bench train``); at each
snapshot both are sampled, so the models range from noise to the best either reaches. Every
sample set is scored by the Fréchet distance in three spaces: the domain classifier trained on
the labels (the reference ranking, kept whatever its accuracy), the contrastive network trained
on the images without labels, and the classifier's network at a random initialisation. Reported:
each network's FD per model, its floor, and the Spearman and Kendall rank correlation of its FDs
with the classifier's.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
from scipy import stats

from artgan.bench.time_to_quality import (
    CLASSIFIER_MAX_IMAGES,
    DATASETS,
    FOLDER_DATASETS,
    SCORE_RESOLUTIONS,
    Scorer,
    TimedTraining,
    as_uint8,
    dcgan_reference,
    default_recipe,
    heldout_split,
    load_dataset,
    resized,
    scorer_for,
)
from artgan.config import EvalConfig
from artgan.errors import ArtganError
from artgan.models.metrics.contrastive import train_contrastive
from artgan.models.metrics.domain_classifier import export_classifier, train_domain_classifier
from artgan.models.metrics.feature_network import open_feature_network

REFERENCE_NETWORK = "domain_classifier"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default="emoji")
    parser.add_argument("--emoji-dir", default="", help="a folder `artgan data emoji` wrote")
    parser.add_argument(
        "--train-seconds", type=float, default=600.0, help="per recipe (%(default)s)"
    )
    parser.add_argument("--snapshots", type=int, default=6, help="models per recipe")
    parser.add_argument("--samples", type=int, default=1000, help="images per model")
    parser.add_argument("--contrastive-epochs", type=int, default=EvalConfig().contrastive_epochs)
    parser.add_argument("--seed", type=int, default=0)


def build_scorers(
    images: np.ndarray, labels: np.ndarray, resolution: int, contrastive_epochs: int, seed: int
) -> tuple[dict[str, Scorer], dict]:
    """One scorer per network, all against the same held-out split."""
    config = EvalConfig()
    eval_index, train_index = heldout_split(len(images), seed)
    real = as_uint8(resized(images, resolution))
    train_real, eval_real = real[train_index][:CLASSIFIER_MAX_IMAGES], real[eval_index]
    trained = {
        REFERENCE_NETWORK: train_domain_classifier(
            train_real,
            labels[train_index][:CLASSIFIER_MAX_IMAGES],
            eval_real,
            labels[eval_index],
            epochs=config.classifier_epochs,
            seed=seed,
        ),
        "contrastive": train_contrastive(train_real, eval_real, contrastive_epochs, seed),
        "random_conv": train_domain_classifier(train_real, None, eval_real, None, 0, seed),
    }
    scorers, facts = {}, {"heldout_images": len(eval_index)}
    with tempfile.TemporaryDirectory() as workdir:
        for name, network in trained.items():
            opened = open_feature_network(
                network.name, classifier_dir=export_classifier(network, os.path.join(workdir, name))
            )
            scorers[name] = scorer_for(opened, real, eval_index, train_index, config, resolution)
            facts[name] = {
                "fd_floor": scorers[name].reference.fid_floor,
                "heldout_accuracy": network.heldout_accuracy,
                "view_match": network.view_match,
            }
    return scorers, facts


def rank_agreement(fds: dict[str, list[float]]) -> dict[str, dict]:
    """Spearman and Kendall correlation of each network's FDs with the reference network's."""
    reference = fds[REFERENCE_NETWORK]
    agreement = {}
    for name, values in fds.items():
        if name == REFERENCE_NETWORK:
            continue
        agreement[name] = {
            "spearman": float(stats.spearmanr(reference, values).statistic),
            "kendall": float(stats.kendalltau(reference, values).statistic),
        }
    return agreement


def run(args: argparse.Namespace) -> dict:
    if args.dataset in FOLDER_DATASETS and not args.emoji_dir:
        raise ArtganError(f"--dataset {args.dataset} needs --emoji-dir (see `artgan data emoji`)")
    if args.snapshots < 2 or args.samples < 2:
        raise ArtganError("--snapshots and --samples must be at least 2")
    images, labels = load_dataset(args.dataset, args.emoji_dir)
    resolution = SCORE_RESOLUTIONS[args.dataset]
    scorers, facts = build_scorers(images, labels, resolution, args.contrastive_epochs, args.seed)
    source_size = images.shape[1]
    runs = [
        TimedTraining(recipe, images, labels, args.seed, args.train_seconds)
        for recipe in (default_recipe(source_size, len(images)), dcgan_reference(resolution))
    ]
    for training in runs:
        training.warm_up()
    seeds = np.arange(args.samples, dtype=np.int64)
    models: list[dict] = []
    fds: dict[str, list[float]] = {name: [] for name in scorers}
    for snapshot in range(1, args.snapshots + 1):
        for training in runs:
            target = args.train_seconds * (snapshot / args.snapshots) ** 2  # dense early on
            training.train_for(max(0.0, target - training.seconds))
            samples = training.sample(seeds, resolution)
            model = {"recipe": training.recipe.name, "steps": training.steps, "fd": {}}
            for name, scorer in scorers.items():
                model["fd"][name] = scorer.fd(samples)["fd"]
                fds[name].append(model["fd"][name])
            models.append(model)
            print(f"{model['recipe']} at {model['steps']} steps: {model['fd']}", flush=True)
    return {
        "dataset": args.dataset,
        "resolution": resolution,
        "train_seconds_per_recipe": args.train_seconds,
        "samples_per_model": args.samples,
        "contrastive_epochs": args.contrastive_epochs,
        "networks": facts,
        "models": models,
        "rank_agreement_with_domain_classifier": rank_agreement(fds),
    }
