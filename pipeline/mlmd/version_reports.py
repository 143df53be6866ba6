"""What the gallery shows about a served version: its blessing's numbers and report, and its
lineage, read from ML Metadata (opened once, read-only) and the artifacts' files.

A push is matched by version and, when the Pusher's destination ends in
``/<model_name>/<version>``, by model name, so two models served from one home do not mix.
"""

from __future__ import annotations

import json
import math
import os
import threading
from typing import Any

import tensorflow as tf
from tfx.utils import path_utils

from artgan.components.gan_evaluator.executor import METRICS_FILE, REPORT_FILE
from artgan.errors import ArtganError
from artgan.models.metrics.feature_network import metric_names
from artgan.models.training.trainer import TRAINING_RESULT_FILE
from artgan.models.training.warm_start import TRAIN_CONFIG_FILE
from artgan.pipeline.mlmd.connection import open_store, sqlite_connection, store_errors
from artgan.pipeline.mlmd.lineage import LineageStep, upstream
from artgan.pipeline.mlmd.reader import Artifact, MetadataReader, custom, timestamp

STORE_FILE = "metadata.sqlite"
# Gate metrics metric_names() does not name (models/metrics/evaluation.decide).
GATE_NAMES = {"classifier_accuracy": "feature network accuracy", "copy_rate": "near-copies"}


class VersionReports:
    """Per pushed version: its blessing's metrics, gates and report, and where it came from."""

    def __init__(self, home: str):
        self._connection = sqlite_connection(os.path.join(home, STORE_FILE))
        self._store = open_store(self._connection)
        self._lock = threading.Lock()  # one store, possibly many request threads

    def summary(self, model_name: str, version: int) -> dict | None:
        """JSON-ready facts about the push of ``version``; None when MLMD knows no such push."""
        with self._lock, store_errors(self._connection):
            reader = self._reader()  # fresh per call: the pipeline may have pushed since
            push = _push(reader, model_name, version)
            if push is None:
                return None
            inputs = _producer_inputs(reader, push.id)
            model = reader.artifact(inputs["model"]) if "model" in inputs else None
            blessing = _blessing(reader, inputs)
            record = _read_json(blessing.uri, METRICS_FILE) if blessing else {}
            found = {
                "model_name": model_name,
                "version": int(version),
                "pushed_at": timestamp(push.create_time_since_epoch),
                "destination": custom(push, "pushed_destination"),
                "model_artifact_id": model.id if model else None,
                "blessing_artifact_id": blessing.id if blessing else None,
                "blessed": custom(blessing, "blessed", 0) == 1 if blessing else None,
                "feature_network": _feature_network(blessing, record),
                "metrics": _metrics(blessing, record) if blessing else None,
                "gates": _gates(record) if blessing else None,
                "training": _training(reader, model) if model else None,
                "lineage": _lineage(reader, push.id),
                "has_report": bool(blessing) and _exists(blessing.uri, REPORT_FILE),
            }
            return {key: value for key, value in found.items() if value is not None}

    def report_html(self, model_name: str, version: int) -> bytes | None:
        """The pushed model's ``evaluation.html`` as written, or None."""
        with self._lock, store_errors(self._connection):
            reader = self._reader()
            push = _push(reader, model_name, version)
            blessing = _blessing(reader, _producer_inputs(reader, push.id)) if push else None
            if blessing is None or not _exists(blessing.uri, REPORT_FILE):
                return None
            with tf.io.gfile.GFile(os.path.join(blessing.uri, REPORT_FILE), "rb") as f:
                return f.read()

    def close(self) -> None:
        self._store = None  # MLMD closes the connection when the store is collected

    def _reader(self) -> MetadataReader:
        if self._store is None:
            raise ArtganError("VersionReports is closed: open a new one")
        return MetadataReader(self._store)


def _push(reader: MetadataReader, model_name: str, version: int) -> Artifact | None:
    """The latest PushedModel that pushed ``version`` of ``model_name``."""
    pushes = [
        push
        for push in reader.artifacts_of_type("PushedModel")
        if custom(push, "pushed", 0) == 1
        and str(custom(push, "pushed_version", "")) == str(version)
        and _destination_names(str(custom(push, "pushed_destination", "")), model_name, version)
    ]
    return max(pushes, key=lambda p: (p.create_time_since_epoch, p.id), default=None)


def _destination_names(destination: str, model_name: str, version: int) -> bool:
    """Whether ``.../<model_name>/<version>`` fits; True when the path does not say."""
    parts = destination.replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 2 or parts[-1] != str(version):
        return True
    return parts[-2] == model_name


def _producer_inputs(reader: MetadataReader, artifact_id: int) -> dict[str, int]:
    producer = reader.producer(artifact_id)
    return dict(reader.inputs(producer[0])) if producer else {}


def _blessing(reader: MetadataReader, pusher_inputs: dict[str, int]) -> Artifact | None:
    blessing_id = pusher_inputs.get("model_blessing")
    return reader.artifact(blessing_id) if blessing_id is not None else None


def _read_json(folder: str, name: str) -> dict:
    path = os.path.join(folder, name)
    try:
        with tf.io.gfile.GFile(path) as f:
            data = json.load(f)
    except (tf.errors.OpError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _exists(folder: str, name: str) -> bool:
    return tf.io.gfile.exists(os.path.join(folder, name))


def _finite(value: Any) -> float | None:
    """A number a browser's JSON can hold: NaN, infinities and non-numbers become None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _feature_network(blessing: Artifact | None, record: dict) -> str | None:
    name = custom(blessing, "feature_network") if blessing else None
    return name or record.get("feature_network")


def _metrics(blessing: Artifact, record: dict) -> dict[str, float]:
    """Display name -> number: metrics.json's, else the blessing's properties (MLMD's SQLite
    keeps about six digits of them)."""
    names = record.get("metric_names") or metric_names(_feature_network(blessing, record) or "")
    fid, kid = names["fid"], names["kid"]
    candidate, floor = record.get("candidate") or {}, record.get("real_floor") or {}
    shown = {
        fid: ("fid", candidate.get("fid")),
        f"{fid.split(' ')[0]} floor (real vs real)": ("real_fid_floor", floor.get("fid")),
        kid: ("kid", candidate.get("kid")),
        f"{kid.split(' ')[0]} floor (real vs real)": ("real_kid_floor", floor.get("kid")),
        names["inception_score"]: ("inception_score", candidate.get("inception_score")),
        "density": ("density", candidate.get("density")),
        "coverage": ("coverage", candidate.get("coverage")),
        "near-copies": ("copy_rate", candidate.get("copy_rate")),
        GATE_NAMES["classifier_accuracy"]: (
            "feature_network_heldout_accuracy",
            record.get("feature_network_heldout_accuracy"),
        ),
    }
    metrics = {}
    for label, (key, written) in shown.items():
        value = _finite(written)
        value = _finite(custom(blessing, key)) if value is None else value
        if value is not None:
            metrics[label] = value
    return metrics


def _gates(record: dict) -> list[dict]:
    """metrics.json's checks: each gate's metric and kind, limit, value and verdict."""
    names = {**GATE_NAMES, **(record.get("metric_names") or {})}
    return [
        {
            "name": f"{names.get(check.get('metric'), check.get('metric'))}: {check.get('kind')}",
            "limit": _finite(check.get("limit")),
            "value": _finite(check.get("value")),
            "passed": bool(check.get("passed")),
            "comparison": check.get("comparison"),
            "text": check.get("text"),
        }
        for check in record.get("checks") or []
    ]


def _training(reader: MetadataReader, model: Artifact) -> dict:
    """How the model was trained: the config and result the Trainer wrote beside it."""
    extra = os.path.join(path_utils.serving_model_path(model.uri), "assets.extra")
    config = _read_json(extra, TRAIN_CONFIG_FILE)
    result = config.get("training_result")
    if not result:  # models exported before the result was copied beside them
        model_run = dict(_trainer_outputs(reader, model.id)).get("model_run")
        run = reader.artifact(model_run) if model_run is not None else None
        result = _read_json(run.uri, TRAINING_RESULT_FILE) if run else {}
    data, train = config.get("data") or {}, config.get("train") or {}
    facts = {
        "steps_done": result.get("steps_done"),
        "train_steps": result.get("train_steps", train.get("train_steps")),
        "stopped_by": result.get("stopped_by"),
        "training_seconds": result.get("training_seconds"),
        "resolution": data.get("resolution"),
        "channels": data.get("channels"),
        "architecture": train.get("architecture"),
        "loss": train.get("loss"),
        "batch_size": train.get("batch_size"),
        "warm_start_from": config.get("warm_start_from"),
    }
    return {key: value for key, value in facts.items() if value is not None}


def _trainer_outputs(reader: MetadataReader, model_id: int) -> list[tuple[str, int]]:
    producer = reader.producer(model_id)
    return reader.outputs(producer[0]) if producer else []


def _lineage(reader: MetadataReader, push_id: int) -> list[dict]:
    """The push back to the image folder, nearest first."""
    found = upstream(reader, push_id)
    entries = [
        {"type": step.type, "id": step.artifact_id, "uri": step.uri, "summary": _describe(step)}
        for step in found.steps
    ]
    for folder in found.input_folders:
        counts = f"{folder.num_examples} examples, {folder.num_skipped or 0} skipped"
        entries.append(
            {
                "type": "ImageFolder",
                "id": None,
                "uri": folder.input_base,
                "summary": f"{folder.image_files} image files ({counts})",
            }
        )
    return entries


def _describe(step: LineageStep) -> str:
    made_by = " ".join(part for part in (step.component, step.output_key) if part)
    facts = ", ".join(
        f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in step.facts.items()
    )
    return f"{made_by}: {facts}" if facts and made_by else made_by or facts
