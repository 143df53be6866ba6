"""ExampleValidator's anomalies reach the AnomaliesGate, which reports them or stops the run."""

from __future__ import annotations

import logging
import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.components.example_validator.executor import Executor as ExampleValidatorExecutor
from tfx.types import artifact_utils, standard_artifacts

from artgan.components.anomalies_gate import check_anomalies
from artgan.config import DataConfig, PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.pipeline import create_pipeline


def _statistics(uri: str, features_per_split: dict[str, list[str]]):
    """A statistics artifact in StatisticsGen's layout: every listed feature present in all of
    10 examples."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = uri
    artifact.split_names = artifact_utils.encode_split_names(list(features_per_split))
    for split, names in features_per_split.items():
        dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=10)
        for name in names:
            feature = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
            feature.path.step.append(name)
            common = feature.num_stats.common_stats
            common.num_non_missing, common.min_num_values, common.max_num_values = 10, 1, 1
        split_dir = os.path.join(uri, f"Split-{split}")
        os.makedirs(split_dir)
        stats = statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])
        with open(os.path.join(split_dir, "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())
    return artifact


def _schema(uri: str, required: list[str]):
    artifact = standard_artifacts.Schema()
    artifact.uri = uri
    schema = schema_pb2.Schema()
    for name in required:
        feature = schema.feature.add(name=name, type=schema_pb2.INT)
        feature.presence.min_fraction = 1.0
    os.makedirs(uri)
    with open(os.path.join(uri, "schema.pbtxt"), "w") as f:
        f.write(str(schema))
    return artifact


def _validate(tmp_path, features_per_split, required):
    """Runs TFX's own ExampleValidator executor; returns its ExampleAnomalies artifact."""
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    ExampleValidatorExecutor().Do(
        {
            "statistics": [_statistics(str(tmp_path / "stats"), features_per_split)],
            "schema": [_schema(str(tmp_path / "schema"), required)],
        },
        {"anomalies": [anomalies]},
        {"exclude_splits": "[]"},
    )
    return anomalies


def test_missing_feature_is_reported_and_stops_the_run_when_configured(tmp_path, caplog):
    anomalies = _validate(
        tmp_path, {"train": ["label", "height"], "eval": ["height"]}, required=["label", "height"]
    )
    with caplog.at_level(logging.WARNING):
        lines = check_anomalies(anomalies, stop=False)
    assert len(lines) == 1 and lines[0].startswith("eval: label: ")
    assert "eval: label: " in caplog.text
    with pytest.raises(ArtganError, match="1 anomaly.*eval: label.*stop-on-anomalies"):
        check_anomalies(anomalies, stop=True)


def test_data_matching_its_schema_passes_even_when_anomalies_stop_the_run(tmp_path):
    anomalies = _validate(tmp_path, {"train": ["label"], "eval": ["label"]}, required=["label"])
    assert check_anomalies(anomalies, stop=True) == []


def test_transform_waits_for_the_gate_and_the_setting_reaches_it(tmp_path):
    config = PipelineConfig(
        data=DataConfig(resolution=16, channels=1, stop_on_anomalies=True, max_pixels=1234)
    )
    pipeline = create_pipeline(config, str(tmp_path), str(tmp_path / "root"), str(tmp_path / "s"))
    by_id = {component.id: component for component in pipeline.components}
    gate = by_id["AnomaliesGate"]
    assert gate.exec_properties["stop_on_anomalies"] == 1
    assert by_id["ExampleValidator"] in gate.upstream_nodes
    assert gate in by_id["Transform"].upstream_nodes
    assert by_id["ImageExampleGen"].exec_properties["max_pixels"] == 1234
