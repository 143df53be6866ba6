"""DomainClassifier: trains the evaluator's feature network on the real images."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.domain_classifier.executor import Executor
from artgan.components.feature_artifacts import FeatureNetworkModel
from artgan.config import DataConfig, EvalConfig


class DomainClassifierSpec(types.ComponentSpec):
    PARAMETERS = {
        "epochs": ExecutionParameter(type=int),
        "seed": ExecutionParameter(type=int),
        # data.background ("#rrggbb"): what RGBA images are flattened onto
        "background": ExecutionParameter(type=str, optional=True),
        # eval.feature_network: auto | domain_classifier | contrastive
        "network": ExecutionParameter(type=str, optional=True),
        "min_classifier_accuracy": ExecutionParameter(type=float, optional=True),
        "contrastive_epochs": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),  # transformed
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
    }
    OUTPUTS = {"feature_network": ChannelParameter(type=FeatureNetworkModel)}


class DomainClassifier(base_component.BaseComponent):
    """Trains the evaluator's feature network and exports it as a SavedModel.

    ``network`` auto: a small CNN classifying the train split's labels, kept when its eval-split
    accuracy reaches ``min_classifier_accuracy``; otherwise (or without labels) a contrastive
    network trained on the images themselves (models/metrics/network_choice.py). The output
    FeatureNetworkModel carries ``feature_network`` (domain_classifier, contrastive, or
    random_conv when domain_classifier is forced on unlabelled images), ``heldout_accuracy``
    (a kept classifier), ``view_match`` (contrastive), ``fallback_reason`` and ``num_classes``.
    Deterministic for the same inputs and parameters, so a cached run reuses it.
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
        network: str = EvalConfig().feature_network,
        min_classifier_accuracy: float = EvalConfig().min_classifier_accuracy,
        contrastive_epochs: int = EvalConfig().contrastive_epochs,
    ):
        super().__init__(
            spec=DomainClassifierSpec(
                examples=examples,
                transform_graph=transform_graph,
                epochs=epochs,
                seed=seed,
                background=background,
                network=network,
                min_classifier_accuracy=min_classifier_accuracy,
                contrastive_epochs=contrastive_epochs,
                feature_network=types.Channel(type=FeatureNetworkModel),
            )
        )
