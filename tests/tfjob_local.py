"""TFJobs run as local processes, the way the Kubeflow Training Operator runs their pods.

Stands in for the Kubernetes API (``TFJobs``) in tests: each replica of a created TFJob runs its
container's command and args here, with the ``TF_CONFIG`` the operator would set (lowercase
replica types, the Chief first) on loopback ports. Like the operator with its default success
policy, the job has Succeeded when the Chief exits 0 and Failed when any replica exits non-zero
(no restarts here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from artgan.bench.local_cluster import free_ports

REPLICA_TYPES = ("Chief", "Worker")


class LocalTFJobs:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.manifests: dict[tuple[str, str], dict] = {}
        self.processes: dict[tuple[str, str], dict[str, subprocess.Popen]] = {}

    def create(self, manifest: dict) -> None:
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        assert key not in self.manifests, f"TFJob {key} exists (the API answers 409)"
        specs = manifest["spec"]["tfReplicaSpecs"]
        tasks = [
            (kind, index)
            for kind in REPLICA_TYPES
            for index in range(specs.get(kind, {}).get("replicas", 0))
        ]
        ports = iter(free_ports(len(tasks)))
        cluster: dict[str, list[str]] = {}
        for kind, _ in tasks:
            cluster.setdefault(kind.lower(), []).append(f"127.0.0.1:{next(ports)}")
        self.manifests[key] = manifest
        self.processes[key] = {}
        for kind, index in tasks:
            (container,) = specs[kind]["template"]["spec"]["containers"]
            command = [
                sys.executable if part == "python" else part for part in container["command"]
            ]
            env = {
                **os.environ,
                **{item["name"]: item["value"] for item in container.get("env", [])},
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": kind.lower(), "index": index}}
                ),
            }
            name = f"{kind.lower()}-{index}"
            with open(self.log_path(name), "w") as log:
                self.processes[key][name] = subprocess.Popen(
                    command + container["args"], env=env, stdout=log, stderr=subprocess.STDOUT
                )

    def log_path(self, replica: str) -> Path:
        return self.log_dir / f"{replica}.log"

    def get(self, namespace: str, name: str) -> dict | None:
        key = (namespace, name)
        if key not in self.manifests:
            return None
        codes = {replica: p.poll() for replica, p in self.processes[key].items()}
        failed = [replica for replica, code in codes.items() if code not in (None, 0)]
        if failed:
            tail = self.log_path(failed[0]).read_text()[-2000:]
            condition = {
                "type": "Failed",
                "message": f"{failed[0]} exited {codes[failed[0]]}: {tail}",
            }
        elif codes["chief-0"] == 0:
            condition = {"type": "Succeeded", "message": "the Chief completed"}
        else:
            condition = {"type": "Running", "message": ""}
        return {**self.manifests[key], "status": {"conditions": [{**condition, "status": "True"}]}}

    def delete(self, namespace: str, name: str) -> None:
        for process in self.processes.pop((namespace, name), {}).values():
            process.kill()
            process.wait()
        self.manifests.pop((namespace, name), None)

    def own_pod_reference(self, namespace: str) -> dict | None:
        return None

    def close(self) -> None:
        for namespace, name in list(self.manifests):
            self.delete(namespace, name)
