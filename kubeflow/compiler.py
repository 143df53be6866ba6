"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) with TFX's KubeflowV2DagRunner.

The pipeline is the one ``artgan run`` runs locally (``create_pipeline``), pointed at object
storage. The runner writes a bare PipelineSpec when the output name ends in ``.yaml``: the form
``kfp.Client`` accepts (its default ``pipeline.json`` is a Vertex job wrapper KFP rejects).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from artgan.components.tfjob_trainer import TFJobSettings
from artgan.config import KubeflowConfig, PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.beam_args import check_beam_args, with_worker_bootstrap
from artgan.pipeline.data_settings import resolve_data_settings
from artgan.pipeline.pipeline import create_pipeline

log = logging.getLogger(__name__)

KFP_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def validate_pipeline_name(name: str) -> None:
    """KFP accepts only lowercase letters, digits and '-', starting with a letter or digit."""
    if not KFP_PIPELINE_NAME.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:128] or "artgan"
        raise ArtganError(
            f"pipeline name {name!r} is not valid for Kubeflow Pipelines: use 1 to 128 "
            f"lowercase letters, digits and '-', starting with a letter or digit "
            f"(e.g. {suggestion!r})"
        )


def trainer_resources(kubeflow: KubeflowConfig) -> ResourceSpec | None:
    """The Trainer's accelerator request, or None for a CPU-only Trainer.

    Both the typed fields (read by older KFP backends and Vertex) and the string ``resource_*``
    fields (read by KFP >= 2.4, which also takes pipeline-parameter placeholders) are set.
    """
    if kubeflow.trainer_gpus == 0:
        return None
    return ResourceSpec(
        accelerator=ResourceSpec.AcceleratorConfig(
            type=kubeflow.gpu_resource,
            count=kubeflow.trainer_gpus,
            resource_type=kubeflow.gpu_resource,
            resource_count=str(kubeflow.trainer_gpus),
        )
    )


def trainer_tfjob(pipeline_name: str, kubeflow: KubeflowConfig) -> TFJobSettings | None:
    """The TFJob the Trainer step trains as, or None when its own pod trains."""
    if kubeflow.trainer_workers <= 1:
        return None
    return TFJobSettings(
        workers=kubeflow.trainer_workers,
        image=kubeflow.image,
        gpus=kubeflow.trainer_gpus,
        gpu_resource=kubeflow.gpu_resource,
        service_account=kubeflow.trainer_service_account,
        name_prefix=pipeline_name,
    )


def resolve_compile_time_data_settings(config: PipelineConfig) -> PipelineConfig:
    """Auto data settings read from ``kubeflow.data_uri`` now: the pods need numbers."""
    if config.data.is_resolved:
        return config
    uri = config.kubeflow.data_uri
    accelerator = bool(config.kubeflow.trainer_gpus or config.train.tpu_address)
    try:
        config, chosen = resolve_data_settings(config, uri, accelerator)
    except ArtganError:
        raise
    except Exception as error:  # object storage this machine cannot read
        raise ArtganError(
            f"data.resolution/channels=auto reads the images at compile time, and {uri!r} "
            f"cannot be read here ({type(error).__name__}: {error}); "
            "set --resolution and --channels"
        ) from None
    for line in chosen:
        log.info("%s", line)
    return config


def build_kubeflow_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """The local pipeline definition, with Kubeflow's locations, Beam arguments and resources."""
    kubeflow = config.kubeflow
    kubeflow.validate()
    validate_pipeline_name(config.pipeline_name)
    # The V2 runner compiles only TFX's standard resolver strategies, so the evaluator's
    # history resolver (a custom strategy, for its FID-over-runs plot) is left out here.
    config = resolve_compile_time_data_settings(config)
    check_beam_args(tuple(kubeflow.beam_args))
    config = dataclasses.replace(
        config,
        beam_args=with_worker_bootstrap(tuple(kubeflow.beam_args)),
        eval=dataclasses.replace(config.eval, history_runs=0),
    )
    trainer_job = trainer_tfjob(config.pipeline_name, kubeflow)
    pipeline = create_pipeline(
        config,
        data_dir=kubeflow.data_uri,
        pipeline_root=kubeflow.pipeline_root,
        serving_model_dir=kubeflow.serving_model_dir(config.serving.model_name),
        trainer_job=trainer_job,
    )
    resources = trainer_resources(kubeflow)
    if resources is not None and trainer_job is None:  # else the TFJob's pods get them
        trainers = [c for c in pipeline.components if isinstance(c, tfx.components.Trainer)]
        if len(trainers) != 1:
            raise ArtganError(f"expected one Trainer to request GPUs for, found {len(trainers)}")
        trainers[0].with_platform_config(resources)
    return pipeline


def compile_pipeline(config: PipelineConfig, output_path: str) -> str:
    """Writes the KFP v2 PipelineSpec (YAML) of the pipeline to ``output_path``; returns it."""
    if not output_path.endswith((".yaml", ".yml")):
        raise ArtganError(
            f"output {output_path!r} must end in .yaml: the runner's JSON form is a Vertex "
            "job wrapper that kfp.Client does not accept"
        )
    pipeline = build_kubeflow_pipeline(config)
    output_path = os.path.abspath(output_path)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=config.kubeflow.image
        ),
        output_dir=os.path.dirname(output_path),
        output_filename=os.path.basename(output_path),
    )
    runner.run(pipeline)
    _set_default_pipeline_root(output_path, config.kubeflow.pipeline_root)
    return output_path


def _set_default_pipeline_root(path: str, pipeline_root: str) -> None:
    """Records the pipeline root in the spec, where KFP looks for it.

    The runner puts it only in the Vertex job wrapper it drops for YAML, so without this KFP
    would write every artifact under the cluster's default root instead.
    """
    with open(path) as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    header = "".join(itertools.takewhile(lambda line: line.startswith("#"), lines))
    spec = yaml.safe_load(text)
    spec["defaultPipelineRoot"] = pipeline_root
    with open(path, "w") as f:
        f.write(header)
        yaml.safe_dump(spec, f, sort_keys=True)


def load_pipeline_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
    """Parses a compiled package the way kfp.Client does (unknown fields are errors)."""
    with open(path) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())
