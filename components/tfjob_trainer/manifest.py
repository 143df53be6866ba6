"""The TFJob (``kubeflow.org/v1``, Kubeflow Training Operator) a Trainer step creates.

Every replica runs TFX's own Trainer executor (``GenericExecutor``) with the step's inputs,
outputs and execution properties, through ``tfx.scripts.run_executor``: the same entry point
TFX's Vertex/AI Platform Trainer gives its training jobs. The operator sets ``TF_CONFIG`` in
each pod, so run_fn trains under MultiWorkerMirroredStrategy; the Chief writes the model to the
step's output URI (object storage), the Workers only to temporary places.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

from tfx.types import artifact_utils

from artgan.components.tfjob_trainer.settings import TFJobSettings

API_VERSION = "kubeflow.org/v1"
REPLICA_EXECUTOR = "tfx.components.trainer.executor.GenericExecutor"
REPLICA_COMMAND = ("python", "-m", "tfx.scripts.run_executor")
CONTAINER_NAME = "tensorflow"  # the container the Training Operator gives TF_CONFIG and port to
MAX_RESTARTS = 3  # runPolicy.backoffLimit: pod restarts before the TFJob fails
FINISHED_TTL_S = 7 * 24 * 3600  # a finished TFJob (its status, for kubectl) is kept a week
JOB_NAME_STEM = 30  # characters of the pipeline name in the TFJob's name (pod names add ~20)


def job_name(pipeline_name: str, model_uri: str) -> str:
    """A DNS-1123 name, the same for every retry of one Trainer execution (its output URI)."""
    stem = re.sub(r"[^a-z0-9-]+", "-", pipeline_name.lower()).strip("-")[:JOB_NAME_STEM]
    digest = hashlib.sha256(model_uri.encode()).hexdigest()[:10]
    return f"{stem or 'artgan'}-train-{digest}".lstrip("-")


def replica_args(input_dict, output_dict, exec_properties: dict) -> list[str]:
    """``run_executor`` arguments: the Trainer's artifacts and properties, as JSON."""
    return [
        "--executor_class_path",
        REPLICA_EXECUTOR,
        "--inputs",
        artifact_utils.jsonify_artifact_dict(input_dict),
        "--outputs",
        artifact_utils.jsonify_artifact_dict(output_dict),
        "--exec-properties",
        json.dumps(exec_properties, sort_keys=True),
    ]


def tfjob_manifest(
    name: str,
    namespace: str,
    settings: TFJobSettings,
    args: list[str],
    labels: dict[str, str] | None = None,
    owner: dict | None = None,
) -> dict:
    """The TFJob: a Chief and ``settings.workers - 1`` Workers, restarted on failure."""
    container = {
        "name": CONTAINER_NAME,
        "image": settings.image,
        "command": list(REPLICA_COMMAND),
        "args": list(args),
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
    }
    if settings.gpus:
        container["resources"] = {"limits": {settings.gpu_resource: settings.gpus}}
    pod_spec = {"containers": [container]}
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    template = {
        # Kubeflow's Istio sidecar would keep a finished pod running and block the collectives.
        "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
        "spec": pod_spec,
    }

    def replicas(count: int) -> dict:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": copy.deepcopy(template),
        }

    metadata = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if owner:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": API_VERSION,
        "kind": "TFJob",
        "metadata": metadata,
        "spec": {
            "runPolicy": {
                "backoffLimit": MAX_RESTARTS,
                "cleanPodPolicy": "Running",
                "ttlSecondsAfterFinished": FINISHED_TTL_S,
            },
            "tfReplicaSpecs": {"Chief": replicas(1), "Worker": replicas(settings.workers - 1)},
        },
    }
