"""ServingCheck executor: run the checks on the Model's serving folder, record the verdict."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from artgan.components.serving_check.checks import run_checks

log = logging.getLogger(__name__)

BLESSED_FILE = "INFRA_BLESSED"  # the marker files TFX's InfraValidator writes
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
RESULT_FILE = "serving_check.json"


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        model = artifact_utils.get_single_instance(input_dict["model"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model)
        )
        result = run_checks(model_dir, exec_properties["max_batch_size"])
        tf.io.gfile.makedirs(blessing.uri)
        marker = BLESSED_FILE if result.blessed else NOT_BLESSED_FILE
        with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), "w") as f:
            f.write(result.reason)
        with tf.io.gfile.GFile(os.path.join(blessing.uri, RESULT_FILE), "w") as f:
            json.dump({"model_dir": model_dir, **result.to_json()}, f, indent=2)
        blessing.set_int_custom_property("blessed", int(result.blessed))
        blessing.set_string_custom_property("reason", result.reason)
        blessing.set_int_custom_property("current_model_id", model.id)
        if result.blessed:
            log.info("ServingCheck: %s passed: %s", model_dir, result.reason)
        else:
            log.warning(
                "ServingCheck: %s FAILED, it will not be pushed: %s", model_dir, result.reason
            )
