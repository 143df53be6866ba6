"""GanEvaluator executor: score candidate and baseline, decide, record, explain."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
from typing import Any

import numpy as np
from PIL import Image
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from artgan import grid
from artgan.components import feature_artifacts
from artgan.components.gan_evaluator.nearest import NearestPair, nearest_training_images
from artgan.components.gan_evaluator.report import HistoryPoint, NearestFigure, render_report
from artgan.config import DataConfig, EvalConfig, from_json, parse_colour
from artgan.models.metrics.evaluation import ModelScore, RealReference, decide, score_generator
from artgan.models.metrics.feature_network import FeatureNetwork, metric_names

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
REPORT_FILE = "evaluation.html"


def _optional(input_dict: dict[str, list[types.Artifact]], key: str) -> types.Artifact | None:
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


def _png(images: np.ndarray, columns: int | None = None) -> bytes:
    picture = grid.image_grid(images, columns=columns)
    buffer = io.BytesIO()
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(buffer, "PNG")
    return buffer.getvalue()


def _history(blessings: list[types.Artifact], network_name: str) -> list[HistoryPoint]:
    """Earlier blessings scored in the same feature network's space, oldest first."""
    points = []
    for blessing in sorted(blessings, key=lambda a: a.id):
        if not blessing.has_custom_property("fid") or (
            not blessing.has_custom_property("feature_network")
            or blessing.get_string_custom_property("feature_network") != network_name
        ):
            continue
        points.append(
            HistoryPoint(
                f"model {blessing.get_int_custom_property('current_model_id')}",
                blessing.get_float_custom_property("fid"),
                blessing.get_int_custom_property("blessed") == 1,
            )
        )
    return points


CANDIDATE_PROPERTIES = (
    "fid",
    "kid",
    "kid_std",
    "inception_score",
    "inception_score_std",
    "density",
    "coverage",
    "copy_rate",
)


def _set_float(artifact: types.Artifact, key: str, value: float) -> None:
    """A float custom property, left out when it is NaN (no class score, say): MLMD's SQLite
    store cannot hold NaN, and readers take a missing number as not measured."""
    if math.isfinite(value):
        artifact.set_float_custom_property(key, value)


def _score_record(model: types.Artifact, score: ModelScore) -> dict:
    return {"model_id": model.id, "uri": model.uri, **dataclasses.asdict(score)}


class Executor(base_executor.BaseExecutor):
    """Scores the candidate (and the baseline, recomputed on the same seeds and reference)."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        config = from_json(EvalConfig, exec_properties["eval_config"])
        model = artifact_utils.get_single_instance(input_dict["model"])
        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        baseline = _optional(input_dict, "baseline_model")
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])

        background = parse_colour(exec_properties.get("background") or DataConfig().background)
        network = feature_artifacts.open_network(
            _optional(input_dict, "feature_network"), config.inception_graph_path, background
        )
        reference = feature_artifacts.read_reference(statistics, config)
        seeds = np.arange(config.seed, config.seed + config.num_samples, dtype=np.int64)
        candidate, candidate_images, timings = score_generator(
            path_utils.serving_model_path(model.uri), seeds, network, reference, config
        )
        baseline_score, baseline_images = None, None
        if baseline is not None:
            baseline_score, baseline_images, _ = score_generator(
                path_utils.serving_model_path(baseline.uri), seeds, network, reference, config
            )
        pairs = self._nearest_pairs(
            input_dict, candidate_images, network, reference, candidate, statistics
        )
        verdict = decide(
            candidate,
            baseline_score,
            config,
            network_name=network.name,
            fid_floor=reference.fid_floor,
            heldout_accuracy=network.heldout_accuracy,
        )
        record = {
            "blessed": verdict.blessed,
            "reasons": list(verdict.reasons),
            "checks": [dataclasses.asdict(check) for check in verdict.checks],
            "feature_network": network.name,
            "metric_names": metric_names(network.name),
            "feature_network_heldout_accuracy": network.heldout_accuracy,
            "feature_network_description": network.description,
            "candidate": _score_record(model, candidate),
            "baseline": _score_record(baseline, baseline_score) if baseline else None,
            "real_floor": {"fid": reference.fid_floor, "kid": reference.kid_floor},
            "reference": {
                "split": "eval",
                "num_images": reference.statistics.count,
                "statistics_uri": statistics.uri,
            },
            "num_samples": config.num_samples,
            "seeds": [int(seeds[0]), int(seeds[-1])],
            "candidate_timings_s": dataclasses.asdict(timings),
            "nearest_training_images": [
                {"sample_index": p.sample_index, "distance": p.distance, "copy": p.copy}
                for p in pairs
            ],
            "eval_config": dataclasses.asdict(config),
        }
        self._record_properties(blessing, record, model, baseline, network)
        self._write_files(blessing, record, candidate_images, baseline_images, input_dict, pairs)
        _log_decision(record, network, reference)

    @staticmethod
    def _nearest_pairs(
        input_dict: dict[str, list[types.Artifact]],
        preview: np.ndarray,
        network: FeatureNetwork,
        reference: RealReference,
        candidate: ModelScore,
        statistics: types.Artifact,
    ) -> list[NearestPair]:
        examples = _optional(input_dict, "examples")
        transform_graph = _optional(input_dict, "transform_graph")
        if examples is None or transform_graph is None:
            return []
        return nearest_training_images(
            preview,
            network,
            reference,
            candidate.copy_distance,
            examples,
            transform_graph.uri,
            statistics.uri,
        )

    @staticmethod
    def _record_properties(
        blessing: types.Artifact,
        record: dict,
        model: types.Artifact,
        baseline: types.Artifact | None,
        network: FeatureNetwork,
    ) -> None:
        candidate = record["candidate"]
        blessing.set_int_custom_property("blessed", int(record["blessed"]))
        blessing.set_int_custom_property("current_model_id", model.id)
        blessing.set_string_custom_property("current_model", model.uri)
        for key in CANDIDATE_PROPERTIES:
            _set_float(blessing, key, candidate[key])
        blessing.set_int_custom_property("num_samples", record["num_samples"])
        _set_float(blessing, "real_fid_floor", record["real_floor"]["fid"])
        _set_float(blessing, "real_kid_floor", record["real_floor"]["kid"])
        blessing.set_string_custom_property("feature_network", network.name)
        if network.heldout_accuracy is not None:
            _set_float(blessing, "feature_network_heldout_accuracy", network.heldout_accuracy)
        if baseline is not None:
            blessing.set_int_custom_property("baseline_model_id", baseline.id)
            blessing.set_string_custom_property("baseline_model", baseline.uri)
            for key in ("fid", "kid", "inception_score"):
                _set_float(blessing, f"baseline_{key}", record["baseline"][key])

    @staticmethod
    def _write_files(
        blessing: types.Artifact,
        record: dict,
        candidate_images: np.ndarray,
        baseline_images: np.ndarray | None,
        input_dict: dict[str, list[types.Artifact]],
        pairs: list[NearestPair],
    ) -> None:
        candidate_png = _png(candidate_images)
        baseline_png = _png(baseline_images) if baseline_images is not None else None
        for name, png in (("candidate.png", candidate_png), ("baseline.png", baseline_png)):
            if png is not None:
                io_utils.write_bytes_file(os.path.join(blessing.uri, name), png)
        network_name = record["feature_network"]
        history = _history(input_dict.get("history") or [], network_name)
        history.append(
            HistoryPoint(
                f"model {record['candidate']['model_id']}",
                record["candidate"]["fid"],
                record["blessed"],
                current=True,
            )
        )
        nearest = [
            NearestFigure(_png(np.stack([p.sample, p.neighbour]), columns=2), p.distance, p.copy)
            for p in pairs
        ]
        report = render_report(record, candidate_png, baseline_png, history, nearest)
        io_utils.write_string_file(os.path.join(blessing.uri, REPORT_FILE), report)
        io_utils.write_string_file(
            os.path.join(blessing.uri, METRICS_FILE), json.dumps(record, indent=2)
        )
        marker = "BLESSED" if record["blessed"] else "NOT_BLESSED"
        io_utils.write_string_file(os.path.join(blessing.uri, marker), "")


def _log_decision(record: dict, network: FeatureNetwork, reference: RealReference) -> None:
    names = record["metric_names"]

    def numbers(score: dict) -> str:
        text = (
            f"{names['fid']} {score['fid']:.4f}, {names['kid']} {score['kid']:.5f} "
            f"(std {score['kid_std']:.5f})"
        )
        if math.isfinite(score["inception_score"]):
            text += (
                f", {names['inception_score']} {score['inception_score']:.4f} "
                f"(std {score['inception_score_std']:.4f}), "
                f"per class {list(score['class_histogram'])}"
            )
        return text + (
            f", density {score['density']:.3f}, coverage {score['coverage']:.3f}, "
            f"near-copies {score['copy_rate']:.3f}"
        )

    lines = [
        f"GanEvaluator: model {record['candidate']['model_id']} "
        f"{'BLESSED' if record['blessed'] else 'NOT blessed'}",
        f"  feature network {network.name} (held-out accuracy {network.heldout_accuracy}); "
        f"{record['num_samples']} generated vs {reference.statistics.count} real eval images",
        f"  real vs real floor: {names['fid']} {reference.fid_floor:.4f}, "
        f"{names['kid']} {reference.kid_floor:.5f}",
        f"  candidate: {numbers(record['candidate'])}",
    ]
    if record["baseline"]:
        lines.append(
            f"  baseline model {record['baseline']['model_id']}: {numbers(record['baseline'])}"
        )
    lines += [f"  gate: {reason}" for reason in record["reasons"]]
    log.info("\n".join(lines))
