"""Creating a TFJob and waiting for it, through the Kubernetes API.

``TFJobs`` is the API surface used (create, read, delete a ``tfjobs.kubeflow.org`` object);
``KubernetesTFJobs`` is it over the official ``kubernetes`` client, in the cluster with the
step's service account. ``run_tfjob`` creates the job (or finds the one a retried step created)
and follows its conditions as the Training Operator writes them until it succeeds or fails.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Protocol

from artgan.errors import ArtganError

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "tfjobs"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
FINISHED = ("Succeeded", "Failed")


class TFJobs(Protocol):
    def create(self, manifest: dict) -> None: ...

    def get(self, namespace: str, name: str) -> dict | None:
        """The TFJob, or None when there is none of that name."""

    def delete(self, namespace: str, name: str) -> None: ...

    def own_pod_reference(self, namespace: str) -> dict | None:
        """An ownerReference to the pod this runs in, or None."""


def job_state(job: dict) -> tuple[str, str]:
    """(state, message): Succeeded or Failed once finished, else the newest true condition."""
    conditions = [
        c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"
    ]
    for finished in FINISHED:
        for condition in conditions:
            if condition.get("type") == finished:
                return finished, condition.get("message", "")
    if not conditions:
        return "Pending", ""
    return conditions[-1].get("type", "Unknown"), conditions[-1].get("message", "")


def run_tfjob(
    jobs: TFJobs,
    manifest: dict,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Creates ``manifest`` and waits until it finishes; returns the succeeded TFJob.

    A TFJob of the same name (this step, retried) is waited for when still running or already
    succeeded, and replaced when it failed. A failed or vanished job is an ArtganError naming it
    and how to read its pods' logs.
    """
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    where = f"TFJob {namespace}/{name}"
    logs = f"kubectl logs -n {namespace} -l training.kubeflow.org/job-name={name} --prefix"
    existing = jobs.get(namespace, name)
    if existing is not None and job_state(existing)[0] == "Failed":
        log.info("%s failed in an earlier try of this step: replacing it", where)
        jobs.delete(namespace, name)
        while jobs.get(namespace, name) is not None:
            sleep(poll_seconds)
        existing = None
    if existing is None:
        jobs.create(manifest)
        log.info("created %s (%s)", where, _replica_counts(manifest))
    else:
        log.info("%s exists (this step was retried): waiting for it", where)
    last = ""
    while True:
        job = jobs.get(namespace, name)
        if job is None:
            raise ArtganError(f"{where} was deleted before it finished")
        state, message = job_state(job)
        if state != last:
            log.info("%s: %s%s", where, state, f" ({message})" if message else "")
            last = state
        if state == "Succeeded":
            return job
        if state == "Failed":
            raise ArtganError(f"{where} failed: {message or 'no message'}; its logs: {logs}")
        sleep(poll_seconds)


def _replica_counts(manifest: dict) -> str:
    specs = manifest["spec"]["tfReplicaSpecs"]
    return ", ".join(f"{spec['replicas']} {kind}" for kind, spec in specs.items())


class KubernetesTFJobs:
    """``TFJobs`` over the Kubernetes API: in-cluster credentials, else ~/.kube/config."""

    def __init__(self):
        try:
            from kubernetes import client, config
        except ImportError as error:
            raise ArtganError(
                f"a TFJob Trainer needs the 'kubernetes' package ({error}); it is in the image "
                "built from kubeflow/Dockerfile"
            ) from None
        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                config.load_kube_config()
            except Exception as error:
                raise ArtganError(
                    "a TFJob Trainer runs in a Kubernetes cluster (a Kubeflow Pipelines step): "
                    f"no in-cluster service account and no kube config ({error})"
                ) from None
        self._client = client
        self._objects = client.CustomObjectsApi()

    def create(self, manifest: dict) -> None:
        namespace = manifest["metadata"]["namespace"]
        self._call(
            "create", self._objects.create_namespaced_custom_object,
            GROUP, VERSION, namespace, PLURAL, manifest,
        )  # fmt: skip

    def get(self, namespace: str, name: str) -> dict | None:
        try:
            return self._objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except self._client.ApiException as error:
            if error.status == 404:
                return None
            raise self._error("read", namespace, error) from None

    def delete(self, namespace: str, name: str) -> None:
        self._call(
            "delete", self._objects.delete_namespaced_custom_object,
            GROUP, VERSION, namespace, PLURAL, name,
        )  # fmt: skip

    def own_pod_reference(self, namespace: str) -> dict | None:
        """An ownerReference to this pod, so the TFJob goes when the step's pod does."""
        pod_name = os.environ.get("HOSTNAME", "")
        if not pod_name:
            return None
        try:
            pod = self._client.CoreV1Api().read_namespaced_pod(pod_name, namespace)
        except self._client.ApiException as error:
            log.warning(
                "cannot read this pod (%s %s): the TFJob will outlive a stopped run; grant the "
                "service account 'get' on pods (see README, Kubeflow)",
                error.status,
                error.reason,
            )
            return None
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod_name,
            "uid": pod.metadata.uid,
            "blockOwnerDeletion": False,
        }

    def _call(self, verb: str, method, *args) -> None:
        try:
            method(*args)
        except self._client.ApiException as error:
            raise self._error(verb, args[2], error) from None

    @staticmethod
    def _error(verb: str, namespace: str, error) -> ArtganError:
        hint = ""
        if error.status == 403:
            hint = (
                f"; the step's service account needs {verb} on tfjobs.kubeflow.org in "
                f"{namespace} (kubeflow/k8s/trainer-rbac.yaml)"
            )
        elif error.status == 404:
            hint = "; is the Kubeflow Training Operator (TFJob) installed in the cluster?"
        return ArtganError(
            f"cannot {verb} TFJobs in namespace {namespace}: {error.status} {error.reason}{hint}"
        )


def own_namespace() -> str:
    """The namespace this pod runs in (its service account's), or 'default' outside a pod."""
    path = os.path.join(SERVICE_ACCOUNT_DIR, "namespace")
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    return "default"


def own_service_account() -> str:
    """This pod's service account, read from its token's subject; empty outside a pod."""
    path = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        token = f.read().strip()
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    subject = claims.get("sub", "")  # system:serviceaccount:<namespace>:<name>
    return subject.rsplit(":", 1)[-1] if subject.startswith("system:serviceaccount:") else ""
