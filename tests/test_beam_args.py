"""Beam arguments of a local run: refused before the run when Beam would fail or drop them."""

from __future__ import annotations

import dataclasses

import pytest

from artgan.config import PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.beam_args import WORKER_BOOTSTRAP, check_beam_args, with_worker_bootstrap
from artgan.pipeline.local_runner import run_locally

MULTI_PROCESSING = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


@pytest.mark.parametrize(
    "beam_args",
    [
        PipelineConfig().beam_args,
        MULTI_PROCESSING,
        # TFX's own examples (penguin, taxi) for Dataflow, Flink and Spark
        (
            "--runner=DataflowRunner",
            "--project=my-project",
            "--region=europe-west4",
            "--temp_location=gs://bucket/tmp",
            "--sdk_container_image=registry.example.com/artgan:0.1.0",
            "--experiments=use_runner_v2",
        ),
        (
            "--runner=FlinkRunner",
            "--flink_master=localhost:8081",
            "--flink_submit_uber_jar",
            "--environment_type=LOOPBACK",
            "--experiments=use_loopback_process_worker=True",
        ),
        (
            "--runner=SparkRunner",
            "--spark_master_url=spark://localhost:7077",
            "--environment_type=DOCKER",
            "--environment_config=registry.example.com/artgan:0.1.0",
        ),
        (
            "--runner=PortableRunner",
            "--job_endpoint=localhost:8099",
            "--environment_type=EXTERNAL",
            "--environment_config=localhost:50000",
        ),
    ],
)
def test_beam_args_of_every_documented_runner_pass(beam_args):
    check_beam_args(beam_args)


@pytest.mark.parametrize(
    "beam_args, named",
    [
        (("--direct_running_mode=multiprocessing",), "invalid choice: 'multiprocessing'"),
        (("--direct_num_workers=two",), "--direct_num_workers: invalid int value: 'two'"),
        (("--direct_num_wokers=2",), "--direct_num_wokers"),
        (("direct_num_workers=2",), "'direct_num_workers=2'"),
        (("--direct_num_workers", "2"), "'2'"),  # one argument per --beam-arg
    ],
)
def test_a_beam_arg_beam_would_refuse_or_drop_is_named(beam_args, named):
    with pytest.raises(ArtganError, match="--beam-arg") as raised:
        check_beam_args(beam_args)
    assert named in str(raised.value)


def test_run_locally_refuses_a_misspelled_beam_arg_before_any_component(tmp_path):
    config = dataclasses.replace(
        PipelineConfig(home=str(tmp_path / "home"), data_dir=str(tmp_path)),
        beam_args=("--direct_running_mode=multi_processing", "--direct_num_wokers=2"),
    )
    with pytest.raises(ArtganError, match="--direct_num_wokers"):
        run_locally(config)
    assert not (tmp_path / "home").exists()


def test_the_worker_bootstrap_is_added_once():
    assert with_worker_bootstrap(MULTI_PROCESSING) == (*MULTI_PROCESSING, WORKER_BOOTSTRAP)
    assert with_worker_bootstrap((WORKER_BOOTSTRAP,)) == (WORKER_BOOTSTRAP,)
    check_beam_args(with_worker_bootstrap(MULTI_PROCESSING))
