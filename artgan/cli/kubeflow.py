"""``artgan kubeflow compile|submit``: the pipeline on Kubeflow Pipelines (KFP v2)."""

from __future__ import annotations

from artgan.cli import run as run_command
from artgan.cli.common import artgan_command
from artgan.cli.config_flags import add_section_flags
from artgan.config import PipelineConfig

DEFAULTS = PipelineConfig()
KUBEFLOW = DEFAULTS.kubeflow
LOCAL_ONLY = ("home", "data_dir", "beam_args")  # on Kubeflow: kubeflow.* says where things go


def add_parser(commands, parents) -> None:
    kubeflow = commands.add_parser(
        "kubeflow", parents=parents, help="compile the pipeline for Kubeflow, submit it"
    )
    actions = kubeflow.add_subparsers(dest="kubeflow_command", required=True)
    _add_compile(actions, parents)
    _add_submit(actions, parents)


def _add_compile(actions, parents) -> None:
    compile_ = actions.add_parser(
        "compile",
        parents=parents,
        help="write the pipeline as a KFP v2 PipelineSpec (YAML)",
        description="Compile the same pipeline `artgan run` runs into a KFP v2 PipelineSpec with "
        "TFX's KubeflowV2DagRunner. Locations are object-storage URIs every pod can read. "
        "Every field of artgan/config.py is a flag below.",
    )
    add_section_flags(compile_, "kubeflow", KUBEFLOW, "kubeflow (KubeflowConfig)")
    run_command.add_config_flags(compile_, top_level_skip=LOCAL_ONLY)


def _add_submit(actions, parents) -> None:
    submit = actions.add_parser(
        "submit",
        parents=parents,
        help="start a run of a compiled package on a Kubeflow Pipelines endpoint",
    )
    submit.add_argument(
        "--host", required=True, help="KFP API URL, e.g. http://localhost:8080 (port-forwarded)"
    )
    submit.add_argument("--package", default=KUBEFLOW.package, help="%(default)s")
    submit.add_argument("--run-name", help="default: the package name and the time")
    submit.add_argument("--experiment", help="default: KFP's 'Default' experiment")
    submit.add_argument("--namespace", help="Kubernetes namespace (multi-user Kubeflow)")


def config_from_args(args) -> PipelineConfig:
    """The pipeline configuration ``compile`` flags describe."""
    return run_command.config_from_args(args)


def run(args) -> None:
    if args.kubeflow_command == "compile":
        _compile(args)
    else:
        _submit(args)


def _compile(args) -> None:
    from artgan.kubeflow.compiler import compile_pipeline, load_pipeline_spec

    config = config_from_args(args)
    path = compile_pipeline(config, config.kubeflow.package)
    tasks = load_pipeline_spec(path).root.dag.tasks
    kubeflow = config.kubeflow
    print(f"compiled pipeline {config.pipeline_name!r} ({len(tasks)} tasks) to {path}")
    print(f"  image:          {kubeflow.image}")
    print(f"  pipeline root:  {kubeflow.pipeline_root}")
    print(f"  images from:    {kubeflow.data_uri}")
    print(f"  models pushed:  {kubeflow.serving_model_dir(config.serving.model_name)}/<version>")
    per_task = " per task" if kubeflow.trainer_workers > 1 else ""
    print(f"  trainer GPUs:   {kubeflow.trainer_gpus}{per_task}")
    if kubeflow.trainer_workers > 1:
        print(
            f"  trainer:        a TFJob of 1 Chief + {kubeflow.trainer_workers - 1} Worker(s) "
            "(needs the Training Operator; RBAC in kubeflow/k8s/trainer-rbac.yaml)"
        )
    print(f"  beam args:      {' '.join(kubeflow.beam_args)}")
    print(f"submit with: {artgan_command()} kubeflow submit --host URL --package {path}")


def _submit(args) -> None:
    from artgan.kubeflow.submit import submit_package

    submitted = submit_package(
        args.host,
        args.package,
        run_name=args.run_name,
        experiment=args.experiment,
        namespace=args.namespace,
    )
    print(f"started run {submitted.run_id}: {submitted.run_url}")
