"""Runs the pipeline locally with BeamDagRunner, metadata in ``<home>/metadata.sqlite``."""

from __future__ import annotations

import dataclasses
import logging
import os

from tfx.orchestration import metadata
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

from artgan import datasets
from artgan.config import PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.beam_args import check_beam_args, with_worker_bootstrap
from artgan.pipeline.data_settings import resolve_data_settings
from artgan.pipeline.outcome import RunOutcome, latest_run_outcome
from artgan.pipeline.pipeline import create_pipeline

log = logging.getLogger(__name__)


def resolve_paths(config: PipelineConfig) -> PipelineConfig:
    """Makes ``home`` and ``data_dir`` absolute (TFX stores absolute URIs in MLMD)."""
    home = os.path.abspath(config.home)
    data_dir = os.path.abspath(config.data_dir) if config.data_dir else ""
    return dataclasses.replace(config, home=home, data_dir=data_dir)


def data_dir_for(config: PipelineConfig) -> str:
    """The image folder to ingest: the configured one, or the embedded digits under home."""
    if not config.data_dir:
        return datasets.ensure_digits(config.embedded_data_dir)
    if not os.path.isdir(config.data_dir):
        raise ArtganError(f"data folder {config.data_dir!r} does not exist or is not a folder")
    return config.data_dir


def local_accelerator(config: PipelineConfig) -> bool:
    """Whether the Trainer will have a GPU or TPU here."""
    import tensorflow as tf

    return bool(config.train.tpu_address or tf.config.list_physical_devices("GPU"))


def run_locally(config: PipelineConfig, enable_cache: bool = False) -> RunOutcome:
    """Runs the whole pipeline once and returns what it decided."""
    config = resolve_paths(config)
    config.validate()
    check_beam_args(config.beam_args)
    config = dataclasses.replace(config, beam_args=with_worker_bootstrap(config.beam_args))
    data_dir = data_dir_for(config)
    config, chosen = resolve_data_settings(config, data_dir, local_accelerator(config))
    for line in chosen:
        log.info("%s", line)
    os.makedirs(config.home, exist_ok=True)
    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    pipeline = create_pipeline(
        config,
        data_dir=data_dir,
        pipeline_root=config.pipeline_root,
        serving_model_dir=config.serving_model_dir,
        metadata_connection_config=connection,
        enable_cache=enable_cache,
    )
    log.info("running pipeline %s in %s", config.pipeline_name, config.home)
    BeamDagRunner().run(pipeline)
    outcome = latest_run_outcome(connection)
    if outcome is None:
        raise ArtganError(f"the pipeline run left no blessing in {config.metadata_path}")
    return outcome
