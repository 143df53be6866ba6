"""The Trainer's executor on Kubeflow with ``--trainer-workers N``: train as a TFJob, wait.

TFX's Trainer contract is unchanged (same inputs, outputs and MLMD records): this step only
creates the TFJob whose replicas run TFX's own ``GenericExecutor`` on the same artifacts, waits
for it, and checks that the Chief wrote the model where the step's output says.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import json_utils

from artgan.components.tfjob_trainer import cluster, manifest
from artgan.components.tfjob_trainer.settings import CUSTOM_CONFIG_KEY, TFJobSettings
from artgan.errors import ArtganError
from artgan.models.training.trainer import export_finished_marker

log = logging.getLogger(__name__)

SERVING_MODEL_DIR = "Format-Serving"  # where TFX's GenericExecutor has run_fn export the model


class Executor(base_executor.BaseExecutor):
    """Runs the Trainer's training as a TFJob of a Chief and Workers (``TFJobSettings``)."""

    def tfjobs(self) -> cluster.TFJobs:
        """The Kubernetes API the TFJob is created through."""
        return cluster.KubernetesTFJobs()

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        key = standard_component_specs.CUSTOM_CONFIG_KEY
        custom_config = json_utils.loads(exec_properties.get(key) or "{}")
        settings = TFJobSettings.from_custom_config(custom_config)
        replica_config = {k: v for k, v in custom_config.items() if k != CUSTOM_CONFIG_KEY}
        replica_properties = {**exec_properties, key: json_utils.dumps(replica_config)}
        model_uri = output_dict[standard_component_specs.MODEL_KEY][0].uri
        jobs = self.tfjobs()
        namespace = settings.namespace or cluster.own_namespace()
        if not settings.service_account:
            # the replicas read and write the same storage as this step
            settings = dataclasses.replace(settings, service_account=cluster.own_service_account())
        job = manifest.tfjob_manifest(
            manifest.job_name(settings.name_prefix, model_uri),
            namespace,
            settings,
            manifest.replica_args(input_dict, output_dict, replica_properties),
            labels={"app.kubernetes.io/name": "artgan", "app.kubernetes.io/component": "trainer"},
            owner=jobs.own_pod_reference(namespace),
        )
        cluster.run_tfjob(jobs, job, settings.poll_seconds)
        serving_model_dir = os.path.join(model_uri, SERVING_MODEL_DIR)
        if not fileio.exists(export_finished_marker(serving_model_dir)):
            raise ArtganError(
                f"TFJob {namespace}/{job['metadata']['name']} succeeded but its Chief wrote no "
                f"model at {serving_model_dir}: do the TFJob's pods write to the same storage "
                "as this step (service account, credentials)?"
            )
        log.info("the TFJob's Chief exported the model to %s", model_uri)
