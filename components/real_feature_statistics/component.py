"""RealFeatureStatisticsGen: real-image feature statistics, computed once and cached."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.feature_artifacts import FeatureNetworkModel, RealFeatureStatistics
from artgan.components.real_feature_statistics.executor import Executor
from artgan.config import DataConfig, EvalConfig


class RealFeatureStatisticsGenSpec(types.ComponentSpec):
    PARAMETERS = {
        # Used when no feature_network input is given (inception_2015).
        "inception_graph_path": ExecutionParameter(type=str, optional=True),
        "kid_max_rows": ExecutionParameter(type=int, optional=True),  # EvalConfig.kid_max_rows
        # data.background ("#rrggbb"): what RGBA images are flattened onto
        "background": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),  # transformed
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "feature_network": ChannelParameter(type=FeatureNetworkModel, optional=True),
    }
    OUTPUTS = {"statistics": ChannelParameter(type=RealFeatureStatistics)}


class RealFeatureStatisticsGen(base_component.BaseComponent):
    """Feature mean/covariance (float64) and KID rows of each split, with a Beam pipeline.

    One artifact per (examples, feature network, preprocessing): the evaluator reads the eval
    split as every model's reference and train-vs-eval as the real-vs-real floor. With the
    DomainClassifier's output as ``feature_network`` it uses that network; without it, the 2015
    Inception graph at ``inception_graph_path``.
    """

    SPEC_CLASS = RealFeatureStatisticsGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        feature_network: types.BaseChannel | None = None,
        inception_graph_path: str = "",
        kid_max_rows: int = EvalConfig().kid_max_rows,
        background: str = DataConfig().background,
    ):
        super().__init__(
            spec=RealFeatureStatisticsGenSpec(
                examples=examples,
                transform_graph=transform_graph,
                feature_network=feature_network,
                inception_graph_path=inception_graph_path,
                kid_max_rows=kid_max_rows,
                background=background,
                statistics=types.Channel(type=RealFeatureStatistics),
            )
        )
