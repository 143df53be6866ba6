"""The pipeline definition: components, dotted entry points, stable checkpoint folders."""

from __future__ import annotations

import dataclasses

from tfx.components.transform import executor as transform_executor

from artgan.config import DataConfig, PipelineConfig
from artgan.pipeline.pipeline import (
    BASELINE_RESOLVER_ID,
    PREPROCESSING_FN,
    RUN_FN,
    beam_args_with_worker_image,
    checkpoint_dir,
    create_pipeline,
)

# The pipeline is built from numbers: data settings set to auto are chosen before.
RESOLVED = PipelineConfig(data=DataConfig(resolution=16, channels=1))


def test_transform_and_trainer_name_installed_functions_not_module_files(tmp_path):
    pipeline = create_pipeline(
        RESOLVED, str(tmp_path), str(tmp_path / "root"), str(tmp_path / "serving")
    )
    by_id = {component.id: component for component in pipeline.components}
    assert by_id["Transform"].exec_properties["preprocessing_fn"] == PREPROCESSING_FN
    assert by_id["Trainer"].exec_properties["run_fn"] == RUN_FN
    assert not by_id["Transform"].exec_properties.get("module_file")
    assert not by_id["Trainer"].exec_properties.get("module_file")
    for component in ("ImageExampleGen", "Trainer", "GanEvaluator", "Pusher"):
        assert component in by_id
    # TFX's Transform, with the executor that writes its examples in batches
    assert by_id["Transform"].executor_spec.executor_class is transform_executor.Executor


def test_checkpoint_folder_is_stable_for_the_same_inputs_and_config():
    config = RESOLVED
    first = checkpoint_dir("/root", config, "/data", "abc")
    assert checkpoint_dir("/root", config, "/data", "abc") == first
    assert first.startswith("/root/checkpoints/")
    other_config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, batch_size=32)
    )
    assert checkpoint_dir("/root", other_config, "/data", "abc") != first
    assert checkpoint_dir("/root", config, "/data", "changed-files") != first


def test_beam_components_name_the_worker_image_so_tfx_builds_no_sdist(tmp_path):
    config = RESOLVED
    pipeline = create_pipeline(
        config, str(tmp_path), str(tmp_path / "root"), str(tmp_path / "serving")
    )
    args = pipeline.beam_pipeline_args
    assert f"--sdk_container_image={config.kubeflow.image}" in args
    assert all(arg in args for arg in config.beam_args)
    # TFX leaves the arguments alone (no --extra_package of a freshly built sdist).
    from tfx.utils import dependency_utils

    assert dependency_utils.make_beam_dependency_flags(args) == args


def test_a_dependency_option_the_user_gave_wins():
    args = ("--runner=DataflowRunner", "--setup_file=./setup.py")
    assert beam_args_with_worker_image(args, "artgan:1") == list(args)


def test_warm_start_feeds_the_latest_blessed_model_to_the_trainer(tmp_path):
    def trainer_inputs(warm_start: bool):
        config = RESOLVED
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, warm_start=warm_start)
        )
        pipeline = create_pipeline(
            config, str(tmp_path), str(tmp_path / "root"), str(tmp_path / "serving")
        )
        return {component.id: component for component in pipeline.components}["Trainer"].inputs

    base_model = trainer_inputs(True)["base_model"]
    assert base_model.producer_component_id == BASELINE_RESOLVER_ID  # the evaluator's baseline
    assert base_model.output_key == "model"
    assert "base_model" not in trainer_inputs(False)


def test_transform_statistics_are_off_unless_asked_for(tmp_path):
    # StatisticsGen already describes the input; Transform's own statistics only cost time.
    def transform_of(config: PipelineConfig):
        pipeline = create_pipeline(config, str(tmp_path), str(tmp_path / "r"), str(tmp_path / "s"))
        return {c.id: c for c in pipeline.components}["Transform"]

    assert transform_of(RESOLVED).exec_properties["disable_statistics"] == 1
    asked = RESOLVED
    asked = dataclasses.replace(
        asked, data=dataclasses.replace(asked.data, transform_statistics=True)
    )
    assert transform_of(asked).exec_properties["disable_statistics"] == 0
