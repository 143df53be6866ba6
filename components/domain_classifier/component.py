"""DomainClassifier: trains the evaluator's feature network on the labelled real images."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.domain_classifier.executor import Executor
from artgan.components.feature_artifacts import FeatureNetworkModel
from artgan.config import DataConfig


class DomainClassifierSpec(types.ComponentSpec):
    PARAMETERS = {
        "epochs": ExecutionParameter(type=int),
        "seed": ExecutionParameter(type=int),
        # data.background ("#rrggbb"): what RGBA images are flattened onto
        "background": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),  # transformed
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
    }
    OUTPUTS = {"feature_network": ChannelParameter(type=FeatureNetworkModel)}


class DomainClassifier(base_component.BaseComponent):
    """Trains a small CNN on the train split's labels; exports it as a SavedModel.

    Its penultimate features give FD/KD and its softmax a classifier score. The output
    FeatureNetworkModel carries ``feature_network`` ("domain_classifier", or "random_conv" when
    the images have no class labels), ``heldout_accuracy`` (on the eval split) and
    ``num_classes``. Deterministic for the same inputs and parameters, so a cached run reuses it.
    """

    SPEC_CLASS = DomainClassifierSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        epochs: int,
        seed: int = 0,
        background: str = DataConfig().background,
    ):
        super().__init__(
            spec=DomainClassifierSpec(
                examples=examples,
                transform_graph=transform_graph,
                epochs=epochs,
                seed=seed,
                background=background,
                feature_network=types.Channel(type=FeatureNetworkModel),
            )
        )
