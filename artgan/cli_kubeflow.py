"""``artgan kubeflow compile|submit``: the pipeline on Kubeflow Pipelines (KFP v2)."""

from __future__ import annotations

import dataclasses

from artgan import cli_train
from artgan.config import PipelineConfig

DEFAULTS = PipelineConfig()
KUBEFLOW = DEFAULTS.kubeflow


def add_parser(commands) -> None:
    kubeflow = commands.add_parser("kubeflow", help="compile the pipeline for Kubeflow, submit it")
    actions = kubeflow.add_subparsers(dest="kubeflow_command", required=True)
    _add_compile(actions)
    _add_submit(actions)


def _add_compile(actions) -> None:
    compile_ = actions.add_parser(
        "compile",
        help="write the pipeline as a KFP v2 PipelineSpec (YAML)",
        description="Compile the same pipeline `artgan run` runs into a KFP v2 PipelineSpec with "
        "TFX's KubeflowV2DagRunner. Locations are object-storage URIs every pod can read.",
    )
    compile_.add_argument("--output", default=KUBEFLOW.package, help="%(default)s")
    compile_.add_argument("--pipeline-name", default=DEFAULTS.pipeline_name, help="%(default)s")
    compile_.add_argument("--pipeline-root", default=KUBEFLOW.pipeline_root, help="%(default)s")
    compile_.add_argument(
        "--data", default=KUBEFLOW.data_uri, help="image folder URI (%(default)s)"
    )
    compile_.add_argument(
        "--serving-root",
        default=KUBEFLOW.serving_root,
        help="blessed models go to <this>/<model-name>/<version> (%(default)s)",
    )
    compile_.add_argument("--model-name", default=DEFAULTS.serving.model_name)
    compile_.add_argument("--image", default=KUBEFLOW.image, help="component image (%(default)s)")
    compile_.add_argument(
        "--beam-arg",
        action="append",
        dest="beam_args",
        metavar="ARG",
        help="a Beam pipeline argument, repeatable, written with '=': "
        "--beam-arg=--runner=DataflowRunner (replaces the defaults: "
        f"{' '.join(KUBEFLOW.beam_args)})",
    )
    compile_.add_argument(
        "--trainer-gpus", type=int, default=KUBEFLOW.trainer_gpus, help="%(default)s"
    )
    compile_.add_argument("--gpu-resource", default=KUBEFLOW.gpu_resource, help="%(default)s")
    cli_train.add_train_arguments(compile_)
    compile_.add_argument("--resolution", type=int, default=DEFAULTS.data.resolution)
    compile_.add_argument("--channels", type=int, choices=(1, 3), default=DEFAULTS.data.channels)


def _add_submit(actions) -> None:
    submit = actions.add_parser(
        "submit", help="start a run of a compiled package on a Kubeflow Pipelines endpoint"
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
    kubeflow = dataclasses.replace(
        KUBEFLOW,
        pipeline_root=args.pipeline_root,
        data_uri=args.data,
        serving_root=args.serving_root,
        image=args.image,
        beam_args=tuple(args.beam_args) if args.beam_args else KUBEFLOW.beam_args,
        trainer_gpus=args.trainer_gpus,
        gpu_resource=args.gpu_resource,
    )
    return dataclasses.replace(
        DEFAULTS,
        pipeline_name=args.pipeline_name,
        data=dataclasses.replace(DEFAULTS.data, resolution=args.resolution, channels=args.channels),
        train=cli_train.train_from_args(args),
        serving=dataclasses.replace(DEFAULTS.serving, model_name=args.model_name),
        kubeflow=kubeflow,
    )


def run(args) -> None:
    if args.kubeflow_command == "compile":
        _compile(args)
    else:
        _submit(args)


def _compile(args) -> None:
    from artgan.kubeflow.compiler import compile_pipeline, load_pipeline_spec

    config = config_from_args(args)
    path = compile_pipeline(config, args.output)
    tasks = load_pipeline_spec(path).root.dag.tasks
    kubeflow = config.kubeflow
    print(f"compiled pipeline {config.pipeline_name!r} ({len(tasks)} tasks) to {path}")
    print(f"  image:          {kubeflow.image}")
    print(f"  pipeline root:  {kubeflow.pipeline_root}")
    print(f"  images from:    {kubeflow.data_uri}")
    print(f"  models pushed:  {kubeflow.serving_model_dir(config.serving.model_name)}/<version>")
    print(f"  trainer GPUs:   {kubeflow.trainer_gpus}")
    print(f"  beam args:      {' '.join(kubeflow.beam_args)}")
    print(f"submit with: artgan kubeflow submit --host URL --package {args.output}")


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
