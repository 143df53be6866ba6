"""The pipeline definition, shared by the local runner and (later) the Kubeflow compiler.

ImageExampleGen -> StatisticsGen -> SchemaGen (-> ExampleValidator -> AnomaliesGate, which
Transform waits for) -> Transform -> Trainer -> GanEvaluator
(with the latest blessed model as baseline; fed by DomainClassifier and
RealFeatureStatisticsGen) -> Pusher, which also waits for ServingCheck (the model loads and
answers as TF Serving runs it). Transform and Trainer name their
functions by dotted path into the installed package, so no module file is built into a wheel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from tfx import v1 as tfx

from artgan.components.anomalies_gate import AnomaliesGate
from artgan.components.domain_classifier import DomainClassifier
from artgan.components.gan_evaluator import GanEvaluator
from artgan.components.gan_evaluator.history import RecentBlessingsStrategy
from artgan.components.image_example_gen import ImageExampleGen
from artgan.components.image_example_gen.listing import folder_fingerprint
from artgan.components.real_feature_statistics import RealFeatureStatisticsGen
from artgan.components.serving_check import ServingCheck
from artgan.components.tfjob_trainer import TFJobSettings, tfjob_trainer_options
from artgan.config import EvalConfig, PipelineConfig, to_json

PREPROCESSING_FN = "artgan.models.data.preprocessing.preprocessing_fn"
RUN_FN = "artgan.models.training.trainer.run_fn"
BASELINE_RESOLVER_ID = "latest_blessed_model_resolver"
HISTORY_RESOLVER_ID = "recent_blessings_resolver"


def checkpoint_dir(
    pipeline_root: str, config: PipelineConfig, data_dir: str, input_fingerprint: str
) -> str:
    """Where training checkpoints live: one folder per (inputs, data and train config).

    A re-run after a crash finds its checkpoints there and resumes; the Trainer removes the
    folder once the generator is exported.
    """
    key = json.dumps(
        [data_dir, input_fingerprint, to_json(config.data), to_json(config.train)], sort_keys=True
    )
    return os.path.join(pipeline_root, "checkpoints", hashlib.sha256(key.encode()).hexdigest()[:16])


def create_pipeline(
    config: PipelineConfig,
    data_dir: str,
    pipeline_root: str,
    serving_model_dir: str,
    metadata_connection_config=None,
    enable_cache: bool = False,
    trainer_job: TFJobSettings | None = None,
) -> tfx.dsl.Pipeline:
    """Builds the TFX pipeline for ``config`` reading images from ``data_dir``.

    ``config.data`` must be resolved (``data_settings.resolve_data_settings``). With
    ``trainer_job`` the Trainer trains as a TFJob of several workers (on Kubeflow).
    """
    config.validate()
    config.data.require_resolved()
    input_fingerprint = folder_fingerprint(data_dir) if os.path.isdir(data_dir) else ""
    example_gen = ImageExampleGen(
        input_base=data_dir,
        eval_percent=config.data.eval_percent,
        input_fingerprint=input_fingerprint,
        max_pixels=config.data.max_pixels,
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"data": dataclasses.asdict(config.data)},
        disable_statistics=not config.data.transform_statistics,
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(
        anomalies=example_validator.outputs["anomalies"],
        stop_on_anomalies=int(config.data.stop_on_anomalies),
    )
    transform.add_upstream_node(anomalies_gate)
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(BASELINE_RESOLVER_ID)
    trainer_custom_config = {
        "data": dataclasses.asdict(config.data),
        "train": dataclasses.asdict(config.train),
        "checkpoint_dir": checkpoint_dir(pipeline_root, config, data_dir, input_fingerprint),
    }
    trainer_options = (
        tfjob_trainer_options(trainer_job, trainer_custom_config)
        if trainer_job
        else {"custom_config": trainer_custom_config}
    )
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        # warm_start: begin from the latest blessed model (the evaluator's baseline)
        base_model=baseline_resolver.outputs["model"] if config.train.warm_start else None,
        train_args=tfx.proto.TrainArgs(num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=0),
        **trainer_options,
    )
    evaluation = evaluation_components(
        config.eval, transform, trainer, baseline_resolver, config.data.background
    )
    evaluator = evaluation[-1]
    # TFX's InfraValidator role: the model loads and answers as TF Serving would run it.
    serving_check = ServingCheck(
        model=trainer.outputs["model"], max_batch_size=config.serving.max_batch_size
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_check.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            anomalies_gate,
            transform,
            trainer,
            baseline_resolver,
            *evaluation,
            serving_check,
            pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_args_with_worker_image(config.beam_args, config.kubeflow.image),
    )


# Beam options that tell TFX where Beam workers get their Python dependencies from.
_BEAM_DEPENDENCY_OPTIONS = (
    "--extra_package",
    "--setup_file",
    "--requirements_file",
    "--worker_harness_container_image",
    "--sdk_container_image",
)


def beam_args_with_worker_image(beam_args: tuple[str, ...], image: str) -> list[str]:
    """``beam_args`` naming ``image`` (which holds artgan and TFX) as the Beam worker image.

    Without a dependency option TFX builds an sdist of itself for every Beam component run
    (about 6 s each) for remote workers; the DirectRunner ignores the image, and a remote
    runner (Dataflow, Flink) gets the right one. An option the user gave wins.
    """
    if any(arg.split("=")[0] in _BEAM_DEPENDENCY_OPTIONS for arg in beam_args):
        return list(beam_args)
    return [*beam_args, f"--sdk_container_image={image}"]


def evaluation_components(
    eval_config: EvalConfig, transform, trainer, baseline_resolver, background: str
) -> list[tfx.types.BaseNode]:
    """The evaluation branch, GanEvaluator last.

    DomainClassifier (unless the 2015 Inception graph is the feature network) ->
    RealFeatureStatisticsGen -> GanEvaluator, fed the baseline and, when
    ``eval_config.history_runs`` > 0, earlier blessings for the report's plot.
    """
    examples = transform.outputs["transformed_examples"]
    transform_graph = transform.outputs["transform_graph"]
    components: list[tfx.types.BaseNode] = []
    network = None
    if eval_config.resolved_feature_network() != "inception_2015":
        classifier = DomainClassifier(
            examples=examples,
            transform_graph=transform_graph,
            epochs=eval_config.classifier_epochs,
            background=background,
            network=eval_config.feature_network,
            min_classifier_accuracy=eval_config.min_classifier_accuracy,
            contrastive_epochs=eval_config.contrastive_epochs,
        )
        components.append(classifier)
        network = classifier.outputs["feature_network"]
    statistics = RealFeatureStatisticsGen(
        examples=examples,
        transform_graph=transform_graph,
        feature_network=network,
        inception_graph_path="" if network else eval_config.inception_graph_path,
        kid_max_rows=eval_config.kid_max_rows,
        background=background,
    )
    history = None
    if eval_config.history_runs > 0:
        history_resolver = tfx.dsl.Resolver(
            strategy_class=RecentBlessingsStrategy,
            config={"count": eval_config.history_runs},
            blessings=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id(HISTORY_RESOLVER_ID)
        components.append(history_resolver)
        history = history_resolver.outputs["blessings"]
    evaluator = GanEvaluator(
        model=trainer.outputs["model"],
        statistics=statistics.outputs["statistics"],
        feature_network=network,
        baseline_model=baseline_resolver.outputs["model"],
        history=history,
        eval_config=to_json(eval_config),
        background=background,
        examples=examples,
        transform_graph=transform_graph,
    )
    return [*components, statistics, evaluator]
