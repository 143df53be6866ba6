"""The Trainer as a TFJob (``kubeflow compile --trainer-workers N``): manifest, waiting, and a run.

The Kubernetes API is the one thing not real here: ``tests/tfjob_local.py`` runs each replica of
the TFJob the step creates as a local process with the operator's TF_CONFIG. The manifest itself
is compared with kubeflow/golden/trainer-tfjob.yaml; regenerate it after an intended change with

    ARTGAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_tfjob_trainer.py
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from golden import assert_matches_golden
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfjob_local import LocalTFJobs
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import metadata
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
from tfx.types import standard_artifacts
from tiny_pipeline import tiny_config, write_tiny_digits

from artgan.components.tfjob_trainer import TFJobSettings, cluster, manifest
from artgan.components.tfjob_trainer.executor import Executor
from artgan.config import PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.pipeline import create_pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "kubeflow", "golden", "trainer-tfjob.yaml")
RUN_TIMEOUT_S = 300


def _artifact(artifact_class, uri: str, **attributes):
    artifact = artifact_class()
    artifact.uri = uri
    for name, value in attributes.items():
        setattr(artifact, name, value)
    return artifact


def golden_manifest() -> dict:
    """The TFJob for a fixed Trainer execution: 3 tasks with a GPU each."""
    root = "gs://artgan-test/pipeline_root/artgan-test"
    inputs = {
        "examples": [
            _artifact(
                standard_artifacts.Examples,
                f"{root}/Transform/transformed_examples/6",
                split_names='["train", "eval"]',
            )
        ],
        "transform_graph": [
            _artifact(standard_artifacts.TransformGraph, f"{root}/Transform/transform_graph/6")
        ],
    }
    outputs = {
        "model": [_artifact(standard_artifacts.Model, f"{root}/Trainer/model/7")],
        "model_run": [_artifact(standard_artifacts.ModelRun, f"{root}/Trainer/model_run/7")],
    }
    properties = {
        "custom_config": json.dumps({"train": {"batch_size": 64}}),
        "run_fn": "artgan.models.training.trainer.run_fn",
        "train_args": '{"num_steps": 3000}',
        "eval_args": '{"num_steps": 0}',
    }
    settings = TFJobSettings(
        workers=3, image="registry.example.com/team/artgan:test", gpus=1, name_prefix="artgan-test"
    )
    return manifest.tfjob_manifest(
        manifest.job_name(settings.name_prefix, outputs["model"][0].uri),
        "kubeflow-user",
        settings,
        manifest.replica_args(inputs, outputs, properties),
        labels={"app.kubernetes.io/name": "artgan"},
    )


def with_json_args_parsed(job: dict) -> dict:
    """The manifest with its JSON arguments as objects: protobuf writes map fields (an
    artifact type's properties) in no fixed order."""
    job = json.loads(json.dumps(job))
    for spec in job["spec"]["tfReplicaSpecs"].values():
        for container in spec["template"]["spec"]["containers"]:
            container["args"] = [
                json.loads(arg) if arg.startswith("{") else arg for arg in container["args"]
            ]
    return job


def test_the_tfjob_matches_the_golden_file():
    assert_matches_golden(
        with_json_args_parsed(golden_manifest()),
        GOLDEN,
        "# artgan's Trainer TFJob, its JSON arguments shown parsed (tests/test_tfjob_trainer.py "
        "regenerates it)\n",
        "the TFJob",
    )


def test_the_tfjob_has_a_chief_and_workers_that_restart_on_failure_without_istio():
    job = golden_manifest()
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "TFJob")
    replicas = job["spec"]["tfReplicaSpecs"]
    assert {kind: spec["replicas"] for kind, spec in replicas.items()} == {"Chief": 1, "Worker": 2}
    for spec in replicas.values():
        assert spec["restartPolicy"] == "OnFailure"
        template = spec["template"]
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        (container,) = template["spec"]["containers"]
        assert container["name"] == "tensorflow"
        assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
        args = container["args"]
        assert args[args.index("--executor_class_path") + 1] == manifest.REPLICA_EXECUTOR
    name = job["metadata"]["name"]
    assert len(name) <= 63 and name.startswith("artgan-test-train-")


def test_job_names_are_kubernetes_names_stable_per_execution():
    first = manifest.job_name("My_Pipeline.v2", "gs://b/Trainer/model/7")
    assert first == manifest.job_name("My_Pipeline.v2", "gs://b/Trainer/model/7")
    assert first != manifest.job_name("My_Pipeline.v2", "gs://b/Trainer/model/8")
    assert first.startswith("my-pipeline-v2-train-")
    long_name = manifest.job_name("a" * 128, "gs://b/m/1")
    assert len(long_name) <= 63


class ScriptedTFJobs:
    """The Kubernetes API for one TFJob whose conditions follow a script, one per read."""

    def __init__(self, script: list[str], existing: str = ""):
        self.script = list(script)
        self.created: list[dict] = []
        self.deleted: list[str] = []
        self.state = existing

    def create(self, manifest: dict) -> None:
        self.created.append(manifest)
        self.state = "Created"

    def get(self, namespace: str, name: str) -> dict | None:
        if not self.state:
            return None
        if self.created or self.state not in cluster.FINISHED:
            self.state = self.script.pop(0) if self.script else self.state
        if self.state == "gone":
            return None
        message = "chief-0 exited 1" if self.state == "Failed" else ""
        return {
            "status": {"conditions": [{"type": self.state, "status": "True", "message": message}]}
        }

    def delete(self, namespace: str, name: str) -> None:
        self.deleted.append(name)
        self.state = ""

    def own_pod_reference(self, namespace: str) -> dict | None:
        return None


def _job() -> dict:
    settings = TFJobSettings(workers=2, image="artgan:test")
    return manifest.tfjob_manifest("job", "ns", settings, ["--x"])


def test_waits_through_the_operators_conditions_until_the_job_succeeds():
    jobs = ScriptedTFJobs(["Created", "Running", "Restarting", "Running", "Succeeded"])
    naps: list[float] = []
    cluster.run_tfjob(jobs, _job(), poll_seconds=7.0, sleep=naps.append)
    assert len(jobs.created) == 1
    assert naps == [7.0] * 4


def test_a_failed_job_is_an_error_naming_it_its_message_and_how_to_read_its_logs():
    jobs = ScriptedTFJobs(["Running", "Failed"])
    with pytest.raises(ArtganError) as error:
        cluster.run_tfjob(jobs, _job(), poll_seconds=1.0, sleep=lambda s: None)
    message = str(error.value)
    assert "TFJob ns/job failed: chief-0 exited 1" in message
    assert "kubectl logs -n ns -l training.kubeflow.org/job-name=job" in message


def test_a_retried_step_waits_for_its_running_job_instead_of_creating_another():
    jobs = ScriptedTFJobs(["Running", "Succeeded"], existing="Running")
    cluster.run_tfjob(jobs, _job(), poll_seconds=1.0, sleep=lambda s: None)
    assert jobs.created == [] and jobs.deleted == []


def test_a_retried_step_replaces_its_failed_job():
    jobs = ScriptedTFJobs(["Running", "Succeeded"], existing="Failed")
    cluster.run_tfjob(jobs, _job(), poll_seconds=1.0, sleep=lambda s: None)
    assert jobs.deleted == ["job"] and len(jobs.created) == 1


def test_a_job_deleted_while_running_is_an_error():
    jobs = ScriptedTFJobs(["Running", "gone"])
    with pytest.raises(ArtganError, match="TFJob ns/job was deleted before it finished"):
        cluster.run_tfjob(jobs, _job(), poll_seconds=1.0, sleep=lambda s: None)


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"workers": 1}, "at least 2 training tasks"),
        ({"image": ""}, "image is empty"),
        ({"gpus": -1}, "gpus per task must be >= 0"),
    ],
)
def test_bad_settings_are_clear_errors(changes, reason):
    with pytest.raises(ArtganError, match=reason):
        TFJobSettings(**{"workers": 2, "image": "artgan:test", **changes}).validate()


class LocalExecutor(Executor):
    """The TFJob Trainer's executor with the TFJobs API of this test (local processes)."""

    jobs: LocalTFJobs

    def tfjobs(self) -> LocalTFJobs:
        return self.jobs


@pytest.fixture(scope="module")
def tfjob_run(tmp_path_factory):
    """The whole pipeline once, its Trainer training as a TFJob of a Chief and a Worker."""
    base = tmp_path_factory.mktemp("tfjob")
    config: PipelineConfig = tiny_config(str(base / "home"), write_tiny_digits(base / "digits"))
    os.makedirs(config.home)
    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    settings = TFJobSettings(workers=2, image="artgan:test", poll_seconds=0.5)
    pipeline = create_pipeline(
        config,
        data_dir=config.data_dir,
        pipeline_root=config.pipeline_root,
        serving_model_dir=config.serving_model_dir,
        metadata_connection_config=connection,
        trainer_job=settings,
    )
    (trainer,) = [c for c in pipeline.components if c.id == "Trainer"]
    trainer.executor_spec = executor_spec.ExecutorClassSpec(LocalExecutor)
    LocalExecutor.jobs = jobs = LocalTFJobs(base)
    try:
        BeamDagRunner().run(pipeline)
        (processes,) = jobs.processes.values()
        codes = {name: process.wait(RUN_TIMEOUT_S) for name, process in processes.items()}
        yield {
            "jobs": jobs,
            "codes": codes,
            "store": metadata_store.MetadataStore(connection),
            "config": config,
        }
    finally:
        jobs.close()


def test_the_step_creates_one_tfjob_of_a_chief_and_a_worker_running_tfxs_trainer(tfjob_run):
    (job,) = tfjob_run["jobs"].manifests.values()
    replicas = job["spec"]["tfReplicaSpecs"]
    assert {kind: spec["replicas"] for kind, spec in replicas.items()} == {"Chief": 1, "Worker": 1}
    (container,) = replicas["Chief"]["template"]["spec"]["containers"]
    args = container["args"]
    properties = json.loads(args[args.index("--exec-properties") + 1])
    replica_config = json.loads(properties["custom_config"])
    assert "tfjob" not in replica_config  # the replicas train as a one-pod Trainer would
    assert set(replica_config) == {"data", "train", "checkpoint_dir"}


def test_both_replicas_finish_and_the_worker_waits_for_the_chiefs_export(tfjob_run):
    jobs = tfjob_run["jobs"]
    assert tfjob_run["codes"] == {"chief-0": 0, "worker-0": 0}, {
        name: jobs.log_path(name).read_text()[-3000:] for name in tfjob_run["codes"]
    }
    assert "waiting for the chief's export" in jobs.log_path("worker-0").read_text()
    assert "waiting for the chief's export" not in jobs.log_path("chief-0").read_text()


def test_the_trainer_step_completes_with_the_chiefs_model_which_serves(tfjob_run):
    store = tfjob_run["store"]
    types = {t.id: t.name for t in store.get_execution_types()}
    states = {
        types[e.type_id].rsplit(".", 1)[-1]: e.last_known_state for e in store.get_executions()
    }
    assert states["Trainer"] == metadata_store_pb2.Execution.COMPLETE
    (model,) = store.get_artifacts_by_type("Model")
    assert os.path.exists(os.path.join(model.uri, "Format-Serving", "saved_model.pb"))
    (model_run,) = store.get_artifacts_by_type("ModelRun")
    with open(os.path.join(model_run.uri, "training_result.json")) as f:
        assert json.load(f)["steps_done"] == 6
    (blessing,) = store.get_artifacts_by_type("InfraBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    (version,) = os.listdir(tfjob_run["config"].serving_model_dir)  # and the Pusher pushed it
    assert os.path.exists(
        os.path.join(tfjob_run["config"].serving_model_dir, version, "saved_model.pb")
    )


def test_the_rbac_manifest_grants_every_call_the_step_makes():
    with open(os.path.join(REPO, "kubeflow", "k8s", "trainer-rbac.yaml")) as f:
        role, binding = yaml.safe_load_all(f)
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for verb in ("create", "get", "delete"):  # KubernetesTFJobs.create/get/delete
        assert (cluster.GROUP, cluster.PLURAL, verb) in granted
    assert ("", "pods", "get") in granted  # own_pod_reference
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
