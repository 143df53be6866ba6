"""``artgan mlmd``: each command's JSON, checked against the MLMD records read directly.

The real pipeline runs once (``blessed_tiny_home``, conftest.py) on 60 tiny digits with a gate
that blesses, so the store holds one complete run, a blessed and pushed model and the whole
lineage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from artgan import cli
from artgan.cli import mlmd as cli_mlmd

Execution = metadata_store_pb2.Execution


@pytest.fixture(scope="module")
def home(blessed_tiny_home) -> str:
    """An artgan home after one blessed and pushed run (shared, read-only: conftest.py)."""
    return blessed_tiny_home


def _store(sqlite_path: str) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(sqlite_path))


@pytest.fixture(scope="module")
def store(home) -> metadata_store.MetadataStore:
    return _store(os.path.join(home, "metadata.sqlite"))


def _only(store, type_name: str) -> metadata_store_pb2.Artifact:
    (artifact,) = store.get_artifacts_by_type(type_name)
    return artifact


def _value(value: metadata_store_pb2.Value):
    return getattr(value, value.WhichOneof("value"))


def _mlmd_json(capsys, *args: str):
    assert cli.main(["mlmd", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _producer(store, artifact_id: int) -> int:
    (event,) = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == e.OUTPUT]
    return event.execution_id


def test_runs_lists_the_run_with_each_component_state_and_duration(home, store, capsys):
    runs = _mlmd_json(capsys, "runs", "--home", home)

    (context,) = store.get_contexts_by_type("pipeline_run")
    executions = {e.id: e for e in store.get_executions_by_context(context.id)}
    (run,) = runs
    assert run["run_id"] == context.name
    assert run["state"] == "COMPLETE"
    assert [c["execution_id"] for c in run["components"]] == sorted(executions)
    for component in run["components"]:
        execution = executions[component["execution_id"]]
        (node,) = [c for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        assert node.name == f"artgan.{component['component']}"
        assert component["state"] == Execution.State.Name(execution.last_known_state)
        elapsed = execution.last_update_time_since_epoch - execution.create_time_since_epoch
        assert component["duration_s"] == pytest.approx(elapsed / 1000)
    names = {c["component"] for c in run["components"]}
    assert {"ImageExampleGen", "Transform", "Trainer", "GanEvaluator", "Pusher"} <= names


def test_models_shows_scores_blessing_and_pushed_version(home, store, capsys):
    models = _mlmd_json(capsys, "models", "--home", home)

    model = _only(store, "Model")
    blessing = _only(store, "ModelBlessing")
    push = _only(store, "PushedModel")
    scores = blessing.custom_properties
    (record,) = models
    assert record["model_id"] == model.id
    assert record["uri"] == model.uri
    assert record["blessing_id"] == blessing.id
    assert record["blessed"] is True and _value(scores["blessed"]) == 1
    assert record["fid"] == _value(scores["fid"])
    assert record["inception_score"] == _value(scores["inception_score"])
    assert record["kid"] == (_value(scores["kid"]) if "kid" in scores else None)
    assert record["pushed_version"] == _value(push.custom_properties["pushed_version"])
    assert record["serving_check"] is True
    assert record["serving_check_reason"] == "all 7 checks passed"
    assert os.path.isfile(
        os.path.join(home, "serving", "artgan", record["pushed_version"], "saved_model.pb")
    )


def test_lineage_of_the_served_version_reaches_the_image_folder(home, store, tiny_digits, capsys):
    push = _only(store, "PushedModel")
    version = _value(push.custom_properties["pushed_version"])
    by_version = _mlmd_json(capsys, "lineage", "--version", version, "--home", home)
    latest = _mlmd_json(capsys, "lineage", "--latest-pushed", "--home", home)

    assert by_version == latest
    assert by_version["start_id"] == push.id and by_version["direction"] == "upstream"
    steps = {step["artifact_id"]: step for step in by_version["steps"]}
    model, blessing = _only(store, "Model"), _only(store, "ModelBlessing")
    transform_graph = _only(store, "TransformGraph")
    raw_examples = store.get_artifacts_by_id(
        [a for a in steps if steps[a]["component"] == "ImageExampleGen"]
    )[0]
    assert {push.id, model.id, blessing.id, transform_graph.id, raw_examples.id} <= set(steps)
    assert [steps[i]["depth"] for i in (push.id, model.id, blessing.id)] == [0, 1, 1]
    for artifact_id, step in steps.items():
        assert step["execution_id"] == _producer(store, artifact_id)
        assert step["uri"] == store.get_artifacts_by_id([artifact_id])[0].uri
    (folder,) = by_version["input_folders"]
    counts = raw_examples.custom_properties
    assert folder["input_base"] == tiny_digits
    assert folder["examples_id"] == raw_examples.id
    assert folder["num_examples"] == _value(counts["num_examples"]) == 60
    assert folder["image_files"] == 60 + _value(counts["num_skipped"])


def test_lineage_forward_from_the_examples_reaches_everything_made_from_them(home, store, capsys):
    (examples,) = [
        a for a in store.get_artifacts_by_type("Examples") if "num_examples" in a.custom_properties
    ]

    lineage = _mlmd_json(capsys, "lineage", "--from-artifact", str(examples.id), "--home", home)

    assert lineage["direction"] == "downstream"
    assert lineage["steps"][0]["artifact_id"] == examples.id
    # One run from one folder: every artifact in the store was made from these examples.
    assert {s["artifact_id"] for s in lineage["steps"]} == {a.id for a in store.get_artifacts()}


def test_show_prints_every_property_and_the_uri(home, store, capsys):
    blessing = _only(store, "ModelBlessing")

    shown = _mlmd_json(capsys, "show", str(blessing.id), "--home", home)

    assert shown["uri"] == blessing.uri and shown["type"] == "ModelBlessing"
    expected = {key: _value(value) for key, value in blessing.custom_properties.items()}
    assert shown["properties"] == expected
    assert shown["produced_by"]["component"] == "GanEvaluator"
    assert shown["produced_by"]["execution_id"] == _producer(store, blessing.id)
    assert {c["component"] for c in shown["consumed_by"]} == {"Pusher"}


def test_tables_align_columns_under_their_headers(home, store, capsys):
    assert cli.main(["mlmd", "models", "--home", home]) == 0
    header, row = capsys.readouterr().out.splitlines()

    model = _only(store, "Model")
    run_id = store.get_contexts_by_type("pipeline_run")[0].name
    assert header.startswith("model ") and row.startswith(f"{model.id} ")
    assert row.index(run_id) == header.index("run")
    assert row[header.index("blessed") :].startswith("yes")
    assert row[header.index("serves") :].startswith("yes")


def test_unknown_ids_and_versions_are_clear_errors(home, store, capsys):
    version = _value(_only(store, "PushedModel").custom_properties["pushed_version"])

    assert cli.main(["mlmd", "show", "999999", "--home", home]) == 2
    assert cli.main(["mlmd", "lineage", "--version", "1", "--home", home]) == 2
    assert cli.main(["mlmd", "runs", "--home", os.path.join(home, "missing")]) == 2

    err = capsys.readouterr().err
    assert "artgan mlmd: error: no artifact with id 999999" in err
    assert f"no model was pushed as version '1' (pushed versions: {version})" in err
    assert "no ML Metadata store at" in err and "artgan run" in err
    assert "Traceback" not in err


def test_a_run_still_in_progress_shows_as_running_and_missing_scores_as_blank(
    home, tmp_path, capsys
):
    """What a reader sees mid-run: an unfinished execution and a model not yet evaluated."""
    path = str(tmp_path / "metadata.sqlite")
    shutil.copy(os.path.join(home, "metadata.sqlite"), path)
    writer = _store(path)
    run_type = writer.get_context_type("pipeline_run")
    [run_id] = writer.put_contexts([metadata_store_pb2.Context(type_id=run_type.id, name="r2")])
    trainer_type = next(t for t in writer.get_execution_types() if t.name.endswith("Trainer"))
    execution = Execution(type_id=trainer_type.id, last_known_state=Execution.RUNNING)
    model = metadata_store_pb2.Artifact(
        type_id=writer.get_artifact_type("Model").id, uri="/models/unfinished"
    )
    _, [model_id], _ = writer.put_execution(
        execution,
        [(model, metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT))],
        writer.get_contexts_by_id([run_id]),
    )

    runs = _mlmd_json(capsys, "runs", "--sqlite", path)
    models = _mlmd_json(capsys, "models", "--sqlite", path)

    assert [run["state"] for run in runs] == ["COMPLETE", "RUNNING"]
    assert runs[1]["duration_s"] is None
    assert [(c["state"], c["duration_s"]) for c in runs[1]["components"]] == [("RUNNING", None)]
    unfinished = models[-1]
    assert unfinished["model_id"] == model_id and unfinished["run_id"] == "r2"
    assert unfinished["blessed"] is None and unfinished["fid"] is None
    assert unfinished["pushed_version"] is None
    assert cli.main(["mlmd", "models", "--sqlite", path]) == 0  # blanks in the table
    assert capsys.readouterr().out.splitlines()[-1].split() == [str(model_id), "r2", model.uri]


def test_reading_waits_for_a_writer_holding_the_lock(home, store, capsys):
    """The read-only store waits out a pipeline's write transaction instead of failing."""
    path = os.path.join(home, "metadata.sqlite")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"db = sqlite3.connect({path!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "time.sleep(1.5); db.execute('ROLLBACK')\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        models = _mlmd_json(capsys, "models", "--home", home)
    finally:
        holder.wait(timeout=30)
    assert [m["model_id"] for m in models] == [_only(store, "Model").id]


def _parse(*flags: str):
    return cli.build_parser().parse_args(["mlmd", "runs", *flags])


def test_mysql_and_grpc_flags_build_their_connection_configs():
    mysql = cli_mlmd.connection_from_args(
        _parse(
            "--mysql-host", "mysql.kubeflow", "--mysql-port", "3307",
            "--mysql-database", "mlmd", "--mysql-user", "reader", "--mysql-password", "secret",
        )
    )  # fmt: skip
    grpc = cli_mlmd.connection_from_args(
        _parse("--grpc-host", "metadata-grpc-service.kubeflow", "--grpc-port", "8081")
    )

    assert mysql.mysql == metadata_store_pb2.MySQLDatabaseConfig(
        host="mysql.kubeflow",
        port=3307,
        database="mlmd",
        user="reader",
        password="secret",
        skip_db_creation=True,
    )
    assert (grpc.host, grpc.port) == ("metadata-grpc-service.kubeflow", 8081)


def test_unreachable_mysql_and_grpc_stores_are_clear_errors(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])

    assert cli.main(["mlmd", "runs", "--grpc-host", "127.0.0.1", "--grpc-port", port]) == 2
    assert cli.main(["mlmd", "runs", "--mysql-host", "127.0.0.1", "--mysql-port", port]) == 2

    err = capsys.readouterr().err
    assert f"cannot read ML Metadata from MLMD gRPC server 127.0.0.1:{port}" in err
    assert f"cannot read ML Metadata from MySQL 127.0.0.1:{port}/metadb" in err
    assert "Traceback" not in err


def test_json_carries_no_nan():
    record = {"fid": float("nan"), "steps": [{"kid": float("inf")}]}

    @dataclasses.dataclass
    class Scores:
        data: dict

    assert json.loads(cli_mlmd.to_json(Scores(record))) == {
        "data": {"fid": None, "steps": [{"kid": None}]}
    }
