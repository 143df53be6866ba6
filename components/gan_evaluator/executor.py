"""GanEvaluator executor: generate, extract features, compute FID/IS, write the blessing."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import numpy as np
import tensorflow_transform as tft
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from artgan.models import grid, metrics
from artgan.models.dataset import load_split
from artgan.models.evaluation import ModelScore, decide, generate_images, score_images
from artgan.models.feature_network import build_feature_network
from artgan.pipeline.config import EvalConfig, from_json

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PREVIEW_SAMPLES = 64


def _split_pattern(examples: types.Artifact, split: str) -> list[str]:
    return [os.path.join(artifact_utils.get_split_uri([examples], split), "*")]


class Executor(base_executor.BaseExecutor):
    """Scores the candidate (and the baseline, recomputed on the same images and seeds)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        config = from_json(EvalConfig, exec_properties["eval_config"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        model = artifact_utils.get_single_instance(input_dict["model"])
        baselines = input_dict.get("baseline_model") or []
        baseline = baselines[0] if baselines else None
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])

        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        feature_spec = tft.TFTransformOutput(transform_uri).transformed_feature_spec()
        train_images, train_labels = load_split(_split_pattern(examples, "train"), feature_spec)
        eval_images, eval_labels = load_split(_split_pattern(examples, "eval"), feature_spec)
        network = build_feature_network(
            train_images, train_labels, eval_images, eval_labels, config.classifier_epochs
        )
        real_features, _ = network.features_and_probs(eval_images)
        train_features, _ = network.features_and_probs(train_images)
        real_floor = metrics.frechet_distance(train_features, real_features)

        seeds = np.arange(config.seed, config.seed + config.num_samples, dtype=np.int64)
        candidate_images = generate_images(path_utils.serving_model_path(model.uri), seeds)
        candidate = score_images(candidate_images, network, real_features)
        baseline_score: ModelScore | None = None
        if baseline is not None:
            baseline_images = generate_images(path_utils.serving_model_path(baseline.uri), seeds)
            baseline_score = score_images(baseline_images, network, real_features)
            grid.save_grid(
                baseline_images[:PREVIEW_SAMPLES], os.path.join(blessing.uri, "baseline.png")
            )
        grid.save_grid(
            candidate_images[:PREVIEW_SAMPLES], os.path.join(blessing.uri, "candidate.png")
        )
        verdict = decide(candidate, baseline_score, config)

        blessing.set_int_custom_property("blessed", int(verdict.blessed))
        blessing.set_int_custom_property("current_model_id", model.id)
        blessing.set_string_custom_property("current_model", model.uri)
        blessing.set_float_custom_property("fid", candidate.fid)
        blessing.set_float_custom_property("inception_score", candidate.inception_score)
        blessing.set_float_custom_property("real_fid_floor", real_floor)
        blessing.set_string_custom_property("feature_network", network.name)
        if baseline is not None:
            blessing.set_int_custom_property("baseline_model_id", baseline.id)
            blessing.set_string_custom_property("baseline_model", baseline.uri)
            blessing.set_float_custom_property("baseline_fid", baseline_score.fid)
        record = {
            "blessed": verdict.blessed,
            "reasons": list(verdict.reasons),
            "candidate": dataclasses.asdict(candidate),
            "baseline": dataclasses.asdict(baseline_score) if baseline_score else None,
            "real_fid_floor": real_floor,
            "feature_network": network.name,
            "feature_network_heldout_accuracy": network.heldout_accuracy,
            "num_samples": config.num_samples,
            "num_real_eval_images": len(eval_images),
            "eval_config": dataclasses.asdict(config),
        }
        io_utils.write_string_file(
            os.path.join(blessing.uri, METRICS_FILE), json.dumps(record, indent=2)
        )
        io_utils.write_string_file(
            os.path.join(blessing.uri, "BLESSED" if verdict.blessed else "NOT_BLESSED"), ""
        )
        log.info(
            "GanEvaluator: model %d %s (%s); IS %.3f; real-vs-real floor FID %.3f; "
            "samples per class %s",
            model.id,
            "BLESSED" if verdict.blessed else "NOT blessed",
            "; ".join(verdict.reasons),
            candidate.inception_score,
            real_floor,
            list(candidate.class_histogram),
        )
