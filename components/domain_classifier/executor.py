"""DomainClassifier executor: load the transformed splits, train, export, record its trust."""

from __future__ import annotations

import logging
import os
from typing import Any

import tensorflow_transform as tft
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from artgan import alpha
from artgan.config import DataConfig, EvalConfig, parse_colour
from artgan.models.data.dataset import load_split
from artgan.models.metrics.domain_classifier import export_classifier
from artgan.models.metrics.evaluation import to_uint8
from artgan.models.metrics.network_choice import NetworkSettings, train_feature_network

log = logging.getLogger(__name__)


def split_pattern(examples: types.Artifact, split: str) -> list[str]:
    return [os.path.join(artifact_utils.get_split_uri([examples], split), "*")]


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        output = artifact_utils.get_single_instance(output_dict["feature_network"])
        spec = tft.TFTransformOutput(transform_uri).transformed_feature_spec()
        train_images, train_labels = load_split(split_pattern(examples, "train"), spec)
        eval_images, eval_labels = load_split(split_pattern(examples, "eval"), spec)
        # RGBA images are flattened as FeatureNetwork flattens them before the classifier.
        background = parse_colour(exec_properties.get("background") or DataConfig().background)
        defaults = EvalConfig()
        settings = NetworkSettings(
            choice=exec_properties.get("network") or "domain_classifier",
            min_classifier_accuracy=_or_default(
                exec_properties.get("min_classifier_accuracy"), defaults.min_classifier_accuracy
            ),
            classifier_epochs=exec_properties["epochs"],
            contrastive_epochs=_or_default(
                exec_properties.get("contrastive_epochs"), defaults.contrastive_epochs
            ),
            seed=exec_properties["seed"],
        )
        chosen = train_feature_network(
            alpha.flatten(to_uint8(train_images), background),
            train_labels,
            alpha.flatten(to_uint8(eval_images), background),
            eval_labels,
            settings,
        )
        network = chosen.network
        export_classifier(network, output.uri)
        output.set_string_custom_property("feature_network", network.name)
        output.set_int_custom_property("num_classes", network.num_classes)
        output.set_int_custom_property("num_train_images", len(train_images))
        if network.heldout_accuracy is not None:
            output.set_float_custom_property("heldout_accuracy", network.heldout_accuracy)
        if network.view_match is not None:
            output.set_float_custom_property("view_match", network.view_match)
        if chosen.fallback_reason:
            output.set_string_custom_property("fallback_reason", chosen.fallback_reason)
        if chosen.refused_classifier_accuracy is not None:
            output.set_float_custom_property(
                "refused_classifier_accuracy", chosen.refused_classifier_accuracy
            )
        log.info(
            "DomainClassifier: %s, %d classes, held-out accuracy %s, view match %s on %d eval "
            "images",
            network.name,
            network.num_classes,
            network.heldout_accuracy,
            network.view_match,
            len(eval_images),
        )


def _or_default(value, default):
    return default if value is None else value
