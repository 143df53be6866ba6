"""GanEvaluator: scores a generator against real images and decides its blessing."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.feature_artifacts import FeatureNetworkModel, RealFeatureStatistics
from artgan.components.gan_evaluator.executor import Executor
from artgan.config import DataConfig


class GanEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        "eval_config": ExecutionParameter(type=str),  # EvalConfig as JSON
        # data.background ("#rrggbb"): what RGBA images are flattened onto
        "background": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "statistics": ChannelParameter(type=RealFeatureStatistics),
        # The domain classifier; absent when scoring with the 2015 Inception graph.
        "feature_network": ChannelParameter(type=FeatureNetworkModel, optional=True),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
        # Earlier blessings (RecentBlessingsStrategy), plotted in evaluation.html.
        "history": ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        # The transformed examples and their graph: the nearest training image of each
        # sample is read from them for evaluation.html.
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph, optional=True),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.ModelBlessing)}


class GanEvaluator(base_component.BaseComponent):
    """Blesses the model if every configured gate passes (see ``models/evaluation.decide``).

    The candidate and the baseline (the latest blessed model) are both generated from the same
    seeds and scored against the same real reference. The ModelBlessing carries int custom
    properties ``blessed``, ``current_model_id`` (read by the Pusher and
    LatestBlessedModelStrategy) and ``baseline_model_id`` (when any), floats ``fid``, ``kid``,
    ``inception_score``, ``density``, ``coverage``, ``copy_rate`` (and the baseline's and real
    floor's), string ``feature_network``, and holds ``metrics.json``, ``evaluation.html`` and
    the sample grids; with ``examples`` and ``transform_graph`` the report shows each sample's
    nearest training image.
    """

    SPEC_CLASS = GanEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        statistics: types.BaseChannel,
        eval_config: str,
        feature_network: types.BaseChannel | None = None,
        baseline_model: types.BaseChannel | None = None,
        history: types.BaseChannel | None = None,
        background: str = DataConfig().background,
        examples: types.BaseChannel | None = None,
        transform_graph: types.BaseChannel | None = None,
    ):
        super().__init__(
            spec=GanEvaluatorSpec(
                model=model,
                statistics=statistics,
                feature_network=feature_network,
                baseline_model=baseline_model,
                history=history,
                examples=examples,
                transform_graph=transform_graph,
                eval_config=eval_config,
                background=background,
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
