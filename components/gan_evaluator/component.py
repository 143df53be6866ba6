"""GanEvaluator: scores a generator against real eval images and decides its blessing."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.gan_evaluator.executor import Executor


class GanEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {"eval_config": ExecutionParameter(type=str)}  # EvalConfig as JSON
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),  # transformed
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "model": ChannelParameter(type=standard_artifacts.Model),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.ModelBlessing)}


class GanEvaluator(base_component.BaseComponent):
    """Blesses the model if its FID passes the threshold and does not regress the baseline.

    The ModelBlessing carries int custom properties ``blessed`` and ``current_model_id`` (read by
    the standard Pusher and LatestBlessedModelStrategy), float ``fid`` and
    ``inception_score``, and writes ``metrics.json`` plus sample grids into its folder.
    """

    SPEC_CLASS = GanEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: str,
        baseline_model: types.BaseChannel | None = None,
    ):
        blessing = types.Channel(type=standard_artifacts.ModelBlessing)
        super().__init__(
            spec=GanEvaluatorSpec(
                examples=examples,
                transform_graph=transform_graph,
                model=model,
                baseline_model=baseline_model,
                eval_config=eval_config,
                blessing=blessing,
            )
        )
