"""``artgan kubeflow``: the compiled KFP v2 PipelineSpec, submitting it, image and manifests.

The compiled pipeline is compared with a stored golden file (kubeflow/golden/pipeline.yaml),
modulo the TFX/schema versions. Whoever changes the pipeline (a component, a parameter, a config
default) regenerates it and reviews the diff:

    ARTGAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_kubeflow.py
"""

from __future__ import annotations

import json
import os
import re
import socket
import time

import numpy as np
import pytest
import yaml
from golden import assert_matches_golden
from google.protobuf import json_format
from PIL import Image
from tfx import v1 as tfx
from tfx import version as tfx_version

from artgan import cli
from artgan.cli import kubeflow as cli_kubeflow
from artgan.config import DataConfig, KubeflowConfig, PipelineConfig
from artgan.errors import ArtganError
from artgan.kubeflow import compiler
from artgan.kubeflow.submit import submit_package

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBEFLOW_DIR = os.path.join(REPO, "kubeflow")
GOLDEN = os.path.join(KUBEFLOW_DIR, "golden", "pipeline.yaml")
VERSION_FIELDS = ("sdkVersion", "schemaVersion")
IMAGE = "registry.example.com/team/artgan:test"
COMPILE_FLAGS = [
    "--pipeline-name", "artgan-test",
    "--pipeline-root", "gs://artgan-test/pipeline_root",
    "--data", "s3://artgan-test/images",
    "--serving-root", "s3://artgan-test/serving",
    "--image", IMAGE,
    "--beam-arg=--runner=DataflowRunner",
    "--beam-arg=--region=europe-west4",
    "--trainer-gpus", "2",
    # data.*=auto would read s3:// at compile time; these are what auto picks for the emoji
    "--resolution", "64",
    "--channels", "4",
]  # fmt: skip
EXPECTED = PipelineConfig(
    pipeline_name="artgan-test",
    data=DataConfig(resolution=64, channels=4),
    kubeflow=KubeflowConfig(
        pipeline_root="gs://artgan-test/pipeline_root",
        data_uri="s3://artgan-test/images",
        serving_root="s3://artgan-test/serving",
        image=IMAGE,
        beam_args=("--runner=DataflowRunner", "--region=europe-west4"),
        trainer_gpus=2,
    ),
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> str:
    """The package `artgan kubeflow compile` writes for COMPILE_FLAGS."""
    path = str(tmp_path_factory.mktemp("kubeflow") / "pipeline.yaml")
    assert cli.main(["kubeflow", "compile", "--output", path, *COMPILE_FLAGS]) == 0
    return path


def _spec_dict(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _executors(spec: dict) -> dict[str, dict]:
    """Task name -> its container executor (resolver tasks have none)."""
    executors = spec["deploymentSpec"]["executors"]
    found = {}
    for name, task in spec["root"]["dag"]["tasks"].items():
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        if "container" in executors[label]:
            found[name] = executors[label]["container"]
    return found


def _constant(spec: dict, task: str, parameter: str):
    value = spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"][parameter]
    return next(iter(value["runtimeValue"]["constantValue"].values()))


def test_compile_flags_become_the_kubeflow_config():
    args = cli.build_parser().parse_args(["kubeflow", "compile", *COMPILE_FLAGS])
    assert cli_kubeflow.config_from_args(args) == EXPECTED


def test_warm_start_compiles_with_the_blessed_model_feeding_the_trainer(tmp_path):
    path = str(tmp_path / "pipeline.yaml")
    assert cli.main(["kubeflow", "compile", "--output", path, *COMPILE_FLAGS, "--warm-start"]) == 0

    trainer_inputs = _spec_dict(path)["root"]["dag"]["tasks"]["Trainer"]["inputs"]["artifacts"]
    source = trainer_inputs["base_model"]["taskOutputArtifact"]
    assert source["producerTask"].startswith("latest_blessed_model_resolver")


def test_package_parses_as_a_pipeline_spec_with_every_component(compiled):
    spec = compiler.load_pipeline_spec(compiled)  # strict: unknown fields would raise

    task_names = set(spec.root.dag.tasks)
    assert spec.pipeline_info.name == "artgan-test"
    for node in compiler.build_kubeflow_pipeline(EXPECTED).components:
        if isinstance(node, tfx.dsl.Resolver):  # compiled into one task per resolved channel
            assert any(name.startswith(f"{node.id}-") for name in task_names), node.id
        else:
            assert node.id in task_names, node.id
    assert {"ImageExampleGen", "Transform", "Trainer", "GanEvaluator", "Pusher"} <= task_names


def test_every_component_runs_the_configured_image_with_the_beam_args(compiled):
    spec = _spec_dict(compiled)
    executors = _executors(spec)
    resolvers = [name for name in spec["root"]["dag"]["tasks"] if name not in executors]

    assert all("resolver" in name for name in resolvers)
    for name, container in executors.items():
        assert container["image"] == IMAGE, name
        # Remote Beam workers use the component image too (and TFX builds no sdist of itself).
        # Beam's workers import tfx first (pipeline/beam_args.py, WORKER_BOOTSTRAP).
        assert container["args"][-4:] == [
            "--runner=DataflowRunner",
            "--region=europe-west4",
            "--beam_plugin=tfx",
            f"--sdk_container_image={IMAGE}",
        ]


def test_only_the_trainer_requests_the_gpus(compiled):
    executors = _executors(_spec_dict(compiled))

    accelerator = executors["Trainer"]["resources"]["accelerator"]
    assert accelerator["resourceType"] == "nvidia.com/gpu"
    assert accelerator["resourceCount"] == "2"
    assert accelerator["count"] == "2"  # int64 fields are strings in proto JSON
    assert [name for name, c in executors.items() if "resources" in c] == ["Trainer"]


def test_remote_uris_pass_through_untouched(compiled):
    spec = _spec_dict(compiled)

    assert spec["defaultPipelineRoot"] == "gs://artgan-test/pipeline_root"
    assert _constant(spec, "ImageExampleGen", "input_base") == "s3://artgan-test/images"
    destination = yaml.safe_load(_constant(spec, "Pusher", "push_destination"))
    assert destination["filesystem"]["base_directory"] == "s3://artgan-test/serving/artgan"


def _normalised(spec: dict) -> dict:
    return {key: value for key, value in spec.items() if key not in VERSION_FIELDS}


def test_package_matches_the_golden_file(compiled):
    """On purpose changes: ARTGAN_UPDATE_GOLDEN=1 pytest tests/test_kubeflow.py (see above)."""
    assert_matches_golden(
        _normalised(_spec_dict(compiled)),
        GOLDEN,
        "# `artgan kubeflow compile` of tests/test_kubeflow.py's COMPILE_FLAGS, without "
        "versions.\n# Regenerate: ARTGAN_UPDATE_GOLDEN=1 pytest tests/test_kubeflow.py\n",
        "the compiled pipeline",
    )


def test_golden_file_is_a_pipeline_spec():
    with open(GOLDEN) as f:
        json_format.ParseDict(yaml.safe_load(f), compiler.pipeline_spec_pb2.PipelineSpec())


@pytest.mark.parametrize("name", ["artgan_gan", "Artgan", "-artgan", "", "a" * 129, "art gan"])
def test_pipeline_names_kfp_rejects_are_a_clear_error(name):
    with pytest.raises(ArtganError, match="not valid for Kubeflow Pipelines") as error:
        compiler.validate_pipeline_name(name)
    assert repr(name) in str(error.value)


@pytest.mark.parametrize("name", ["artgan", "a", "artgan-2", "0-digits-first", "a" * 128])
def test_pipeline_names_kfp_accepts_pass(name):
    compiler.validate_pipeline_name(name)


def test_compile_with_a_bad_name_or_local_path_fails_before_writing(tmp_path, capsys):
    output = tmp_path / "pipeline.yaml"
    assert (
        cli.main(["kubeflow", "compile", "--output", str(output), "--pipeline-name", "My_GAN"]) == 2
    )
    assert cli.main(["kubeflow", "compile", "--output", str(output), "--data", "/mnt/images"]) == 2

    err = capsys.readouterr().err
    assert "artgan kubeflow: error: pipeline name 'My_GAN'" in err and "'my-gan'" in err
    assert "kubeflow.data_uri must be an object-storage URI" in err and "/mnt/images" in err
    assert "Traceback" not in err
    assert not output.exists()


def test_auto_data_settings_are_read_from_the_data_uri_at_compile_time(tmp_path, capsys):
    images = tmp_path / "images" / "faces"
    images.mkdir(parents=True)
    pixels = np.zeros((40, 48, 4), np.uint8)
    pixels[8:32, 8:40] = (250, 200, 0, 255)  # an opaque shape on a transparent ground
    for index in range(3):
        Image.fromarray(pixels).save(images / f"{index}.png")
    flags = ["--pipeline-root", "gs://artgan-test/root", "--serving-root", "gs://artgan-test/s"]

    built = compiler.build_kubeflow_pipeline(
        cli_kubeflow.config_from_args(
            cli.build_parser().parse_args(
                ["kubeflow", "compile", *flags, "--data", f"file://{tmp_path / 'images'}"]
            )
        )
    )
    transform = next(c for c in built.components if c.id == "Transform")
    data = json.loads(transform.exec_properties["custom_config"])["data"]
    assert (data["resolution"], data["channels"]) == (32, 4)

    output = tmp_path / "pipeline.yaml"
    unreadable = ["--data", "s3://artgan-test/nothing-here", "--output", str(output)]
    assert cli.main(["kubeflow", "compile", *flags, *unreadable]) == 2
    err = capsys.readouterr().err
    assert "s3://artgan-test/nothing-here" in err and "--resolution and --channels" in err
    assert "Traceback" not in err and not output.exists()


def test_json_output_is_refused_because_kfp_client_rejects_it(tmp_path):
    with pytest.raises(ArtganError, match="must end in .yaml"):
        compiler.compile_pipeline(EXPECTED, str(tmp_path / "pipeline.json"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_submit_to_an_unreachable_host_is_a_clear_error(capsys):
    host = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()

    code = cli.main(["kubeflow", "submit", "--host", host, "--package", GOLDEN])

    err = capsys.readouterr().err
    assert code == 2
    assert f"artgan kubeflow: error: cannot reach Kubeflow Pipelines at '{host}'" in err
    assert "Connection refused" in err and "Traceback" not in err
    assert time.monotonic() - started < 10


def test_submit_without_a_package_says_to_compile_first(tmp_path):
    with pytest.raises(ArtganError, match="artgan kubeflow compile"):
        submit_package("http://127.0.0.1:1", str(tmp_path / "missing.yaml"))


def test_dockerfile_builds_from_the_pinned_tfx_image_with_the_lock_list():
    with open(os.path.join(KUBEFLOW_DIR, "Dockerfile")) as f:
        dockerfile = f.read()

    assert f"ARG BASE_IMAGE=tensorflow/tfx:{tfx_version.__version__}\n" in dockerfile
    assert "FROM ${BASE_IMAGE}" in dockerfile
    assert re.search(r"pip install .*--no-deps -r requirements/lock.txt", dockerfile)
    assert re.search(r"pip install .*--no-deps --no-build-isolation \.", dockerfile)
    packaged = re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.MULTILINE)
    assert sorted(packaged) == sorted(_installed_folders())


def _installed_folders() -> list[str]:
    """The top-level folders pyproject.toml installs (artgan -> artgan, pipeline, ...)."""
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        section = f.read().split("[tool.setuptools.package-dir]", 1)[1].split("[", 1)[0]
    return re.findall(r'= "(\w+)"', section)


def test_serving_manifests_read_the_pushed_model_base_path():
    defaults = PipelineConfig()
    base_path = defaults.kubeflow.serving_model_dir(defaults.serving.model_name)
    with open(os.path.join(KUBEFLOW_DIR, "k8s", "tf-serving.yaml")) as f:
        _, deployment, service = yaml.safe_load_all(f)
    with open(os.path.join(KUBEFLOW_DIR, "k8s", "kserve-inferenceservice.yaml")) as f:
        inference_service = yaml.safe_load(f)

    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert f"{env['MODEL_BASE_PATH']}/{env['MODEL_NAME']}" == base_path
    assert {p["containerPort"] for p in container["ports"]} == {defaults.serving.port, 8501}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in service["spec"]["ports"]} == {defaults.serving.port, 8501}
    model = inference_service["spec"]["predictor"]["model"]
    assert model["storageUri"] == base_path
    assert model["modelFormat"]["name"] == "tensorflow"
    assert inference_service["metadata"]["name"] == defaults.serving.model_name


def _serve_config(args: list[str], config_dir: str):
    """The ServerConfig ``artgan serve`` makes of a manifest's TF Serving flags, with the
    mounted config folder pointing at the repository's copy."""
    from artgan.cli import build_parser
    from artgan.cli.config_flags import section_from_args
    from artgan.config import ServerConfig

    local = [arg.replace("/etc/artgan", config_dir) for arg in args]
    parsed = build_parser().parse_args(["serve", *local])
    return section_from_args(parsed, "server", ServerConfig())


def test_serving_manifests_pass_tf_servings_flags_and_config_files_artgan_serve_reads():
    from artgan.serving.batching import read_batching_options
    from artgan.serving.metrics import prometheus_path

    config_dir = os.path.join(KUBEFLOW_DIR, "serving-config")
    with open(os.path.join(KUBEFLOW_DIR, "k8s", "tf-serving.yaml")) as f:
        config_map, deployment, _ = yaml.safe_load_all(f)
    with open(os.path.join(KUBEFLOW_DIR, "docker-compose.yaml")) as f:
        compose = yaml.safe_load(f)["services"]["tf-serving"]
    for name, text in config_map["data"].items():
        with open(os.path.join(config_dir, name)) as f:
            assert f.read() == text, f"k8s ConfigMap {name} differs from serving-config/{name}"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/artgan"
    assert "./serving-config:/etc/artgan:ro" in compose["volumes"]
    for args in (container["args"], compose["command"]):
        server = _serve_config(args, config_dir)
        assert server.rest_port == 8501 and server.enable_batching
        assert server.enable_grpc_healthcheck_service
        assert read_batching_options(server.batching_parameters_file).max_batch_size == 32
        assert prometheus_path(server.monitoring_config_file) == "/monitoring/prometheus/metrics"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/monitoring/prometheus/metrics"
    assert container["livenessProbe"]["grpc"]["port"] == 8500


def test_trainer_workers_compile_the_trainer_into_a_tfjob_step_that_requests_no_gpus(tmp_path):
    path = str(tmp_path / "pipeline.yaml")
    flags = [*COMPILE_FLAGS, "--trainer-workers", "3", "--trainer-service-account", "trainer"]
    assert cli.main(["kubeflow", "compile", "--output", path, *flags]) == 0

    spec = _spec_dict(path)
    trainer = _executors(spec)["Trainer"]
    assert "resources" not in trainer  # the step only waits; the TFJob's pods get the GPUs
    class_path = trainer["args"][trainer["args"].index("--executor_class_path") + 1]
    assert class_path == "artgan.components.tfjob_trainer.executor.Executor"
    parameters = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    constant = parameters["custom_config"]["runtimeValue"]["constantValue"]
    custom_config = json.loads(constant["stringValue"])
    assert custom_config["tfjob"] == {
        "workers": 3,
        "image": IMAGE,
        "gpus": 2,
        "gpu_resource": "nvidia.com/gpu",
        "service_account": "trainer",
        "namespace": "",
        "name_prefix": "artgan-test",
        "poll_seconds": 15.0,
    }
    assert {"data", "train", "checkpoint_dir"} <= set(custom_config)


def test_a_misspelled_beam_arg_fails_the_compile_naming_it(tmp_path, capsys):
    path = str(tmp_path / "pipeline.yaml")
    flags = [*COMPILE_FLAGS, "--beam-arg=--direct_num_wokers=2"]
    assert cli.main(["kubeflow", "compile", "--output", path, *flags]) != 0
    assert "--direct_num_wokers" in capsys.readouterr().err
    assert not os.path.exists(path)


def test_zero_trainer_workers_is_a_clear_error(tmp_path, capsys):
    path = str(tmp_path / "pipeline.yaml")
    assert (
        cli.main(
            ["kubeflow", "compile", "--output", path, *COMPILE_FLAGS, "--trainer-workers", "0"]
        )
        != 0
    )
    assert "kubeflow.trainer_workers must be >= 1" in capsys.readouterr().err
    assert not os.path.exists(path)
