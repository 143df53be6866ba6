"""VersionReports against the store of a real tiny pipeline run (blessed and pushed)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from artgan.cli.gallery import open_reports
from artgan.config import GalleryConfig
from artgan.errors import ArtganError
from artgan.pipeline.mlmd.version_reports import VersionReports
from artgan.serving.server import start_server

MODEL_NAME = "artgan"  # the pipeline's default: <home>/serving/artgan/<version>


@pytest.fixture(scope="module")
def home(blessed_tiny_home) -> str:
    """An artgan home after one blessed and pushed run (shared, read-only: conftest.py)."""
    return blessed_tiny_home


@pytest.fixture(scope="module")
def store(home) -> metadata_store.MetadataStore:
    path = os.path.join(home, "metadata.sqlite")
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))


@pytest.fixture
def reports(home):
    opened = VersionReports(home)
    yield opened
    opened.close()


def _only(store, type_name: str) -> metadata_store_pb2.Artifact:
    (artifact,) = store.get_artifacts_by_type(type_name)
    return artifact


def _version(store) -> int:
    return int(_only(store, "PushedModel").custom_properties["pushed_version"].string_value)


def _metrics_json(store) -> dict:
    with open(os.path.join(_only(store, "ModelBlessing").uri, "metrics.json")) as f:
        return json.load(f)


def test_summary_names_metrics_gates_training_and_blessing(reports, store):
    version = _version(store)
    blessing = _only(store, "ModelBlessing").custom_properties
    record = _metrics_json(store)

    summary = reports.summary(MODEL_NAME, version)

    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["model_name"] == MODEL_NAME and summary["version"] == version
    assert summary["pushed_at"].endswith("Z")
    assert summary["model_artifact_id"] == _only(store, "Model").id
    assert summary["blessed"] is True and summary["has_report"] is True
    assert summary["feature_network"] == "domain_classifier"
    metrics = summary["metrics"]
    assert metrics["FD (domain_classifier)"] == pytest.approx(blessing["fid"].double_value, 1e-5)
    assert metrics["FD (domain_classifier)"] == record["candidate"]["fid"]
    assert metrics["FD floor (real vs real)"] == pytest.approx(record["real_floor"]["fid"])
    assert metrics["KD (domain_classifier)"] == pytest.approx(record["candidate"]["kid"])
    assert {"density", "coverage", "near-copies"} <= set(metrics)
    assert [(g["name"], g["limit"], g["passed"]) for g in summary["gates"]] == [
        ("feature network accuracy: refusal", 0.0, True),
        ("FD (domain_classifier): threshold", 1e9, True),
    ]
    assert summary["gates"][1]["value"] == pytest.approx(record["candidate"]["fid"])
    training = summary["training"]
    assert (training["steps_done"], training["stopped_by"]) == (6, "train_steps")
    assert (training["resolution"], training["channels"], training["architecture"]) == (
        8,
        1,
        "conv",
    )


def test_lineage_goes_back_to_the_examples_and_the_image_folder(reports, store, tiny_digits):
    lineage = reports.summary(MODEL_NAME, _version(store))["lineage"]

    ids = {entry["id"]: entry for entry in lineage}
    (raw_examples,) = [
        a for a in store.get_artifacts_by_type("Examples") if "ImageExampleGen" in a.uri
    ]
    for type_name in ("PushedModel", "ModelBlessing", "Model", "TransformGraph"):
        artifact = _only(store, type_name)
        assert ids[artifact.id]["type"] == type_name and ids[artifact.id]["uri"] == artifact.uri
    assert ids[raw_examples.id]["type"] == "Examples"
    assert "num_examples 60" in ids[raw_examples.id]["summary"]
    assert lineage[0]["id"] == _only(store, "PushedModel").id
    assert lineage[-1] == {
        "type": "ImageFolder",
        "id": None,
        "uri": tiny_digits,
        "summary": "60 image files (60 examples, 0 skipped)",
    }


def test_report_html_is_the_blessings_evaluation_html(reports, store):
    with open(os.path.join(_only(store, "ModelBlessing").uri, "evaluation.html"), "rb") as f:
        written = f.read()

    assert reports.report_html(MODEL_NAME, _version(store)) == written
    assert written.lstrip().lower().startswith(b"<!doctype html")


def test_unknown_versions_and_models_give_none(reports, store):
    version = _version(store)

    assert reports.summary(MODEL_NAME, version + 1) is None
    assert reports.report_html(MODEL_NAME, version + 1) is None
    assert reports.summary("another_model", version) is None
    assert reports.report_html("another_model", version) is None


def test_a_missing_home_names_the_store_path(tmp_path):
    missing = str(tmp_path / "nowhere")

    with pytest.raises(ArtganError, match=os.path.join(missing, "metadata.sqlite")):
        VersionReports(missing)


def test_two_models_with_one_version_number_do_not_mix(home, store, tmp_path):
    """A push recorded under another model's folder; one whose path does not say is accepted."""
    shutil.copy(os.path.join(home, "metadata.sqlite"), tmp_path / "metadata.sqlite")
    writer = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    )
    version = _version(store)
    push_type = writer.get_artifact_type("PushedModel")
    pushes = []
    for destination in (f"/homes/x/serving/other/{version}", "gs://bucket/latest"):
        push = metadata_store_pb2.Artifact(type_id=push_type.id, uri="/pushes")
        push.custom_properties["pushed"].int_value = 1
        push.custom_properties["pushed_version"].string_value = str(version)
        push.custom_properties["pushed_destination"].string_value = destination
        pushes.append(push)
    writer.put_artifacts(pushes[:1])

    reports = VersionReports(str(tmp_path))
    served = reports.summary(MODEL_NAME, version)
    other = reports.summary("other", version)
    writer.put_artifacts(pushes[1:])
    unnamed = reports.summary("third", version)
    reports.close()

    assert served["model_artifact_id"] == _only(store, "Model").id
    assert other["destination"] == f"/homes/x/serving/other/{version}"
    assert "model_artifact_id" not in other and "metrics" not in other
    assert unnamed["destination"] == "gs://bucket/latest"


def test_serve_gallery_home_answers_the_pushed_versions_evaluation(home, store):
    """`artgan serve --gallery --home` over HTTP: the page's summary and report routes read
    this home's ML Metadata."""
    version = _version(store)
    reports = open_reports(home)
    with start_server(
        os.path.join(home, "serving", MODEL_NAME),
        MODEL_NAME,
        port=0,
        rest_port=0,
        gallery=GalleryConfig(gallery=True, home=home),
        reports=reports,
    ) as handle:
        root = f"{handle.rest.url}/gallery/api/{MODEL_NAME}/versions/{version}"
        with urllib.request.urlopen(f"{root}/summary.json") as answer:
            summary = json.load(answer)
        with urllib.request.urlopen(f"{root}/evaluation.html") as answer:
            html = answer.read()
    reports.close()
    assert summary["version"] == version and summary["blessed"] is True
    assert summary["lineage"][-1]["type"] == "ImageFolder"
    assert html == reports_html(store)


def reports_html(store) -> bytes:
    with open(os.path.join(_only(store, "ModelBlessing").uri, "evaluation.html"), "rb") as f:
        return f.read()
