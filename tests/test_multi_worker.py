"""Multi-worker training: TF_CONFIG parsing (strategy.cluster_task), and a chief and a worker
training together under MultiWorkerMirroredStrategy as two processes on loopback ports
(tests/multi_worker_task.py), including a worker killed mid-run and the cluster restarted.

The two-process tests take about 30 s and 60 s on two busy CPU cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from artgan.bench.local_cluster import free_ports
from artgan.contract.bundle import SavedModelBundle
from artgan.errors import ArtganError
from artgan.models.training.strategy import ClusterTask, cluster_task

TASK_SCRIPT = Path(__file__).with_name("multi_worker_task.py")
RUN_TIMEOUT_S = 300  # a whole run on busy cores takes 30-40 s
TASKS = ("chief", "worker")


def tf_config(task_type: str, index: int = 0, workers: int = 1) -> str:
    cluster = {
        "chief": ["127.0.0.1:2222"],
        "worker": [f"127.0.0.1:{2223 + i}" for i in range(workers)],
    }
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    "config",
    [
        None,  # TF_CONFIG unset
        "",
        json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker"}}),
    ],
)
def test_no_cluster_or_a_cluster_of_one_task_is_single_machine_training(config, monkeypatch):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    task = cluster_task(config)
    assert task == ClusterTask()
    assert not task.multi_worker and task.is_chief


def test_a_chief_and_workers_are_multi_worker_with_the_chief_first():
    chief = cluster_task(tf_config("chief", workers=2))
    second = cluster_task(tf_config("worker", index=1, workers=2))
    assert chief == ClusterTask("chief", 0, rank=0, num_workers=3)
    assert chief.multi_worker and chief.is_chief
    assert second == ClusterTask("worker", 1, rank=2, num_workers=3)
    assert second.multi_worker and not second.is_chief


def test_without_a_chief_worker_0_is_the_chief(monkeypatch):
    cluster = {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker"}}))
    assert cluster_task().is_chief  # read from the environment
    other = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    assert not cluster_task(other).is_chief


@pytest.mark.parametrize(
    "config, reason",
    [
        ('{"cluster": {"chief": ["h:1"], ', "is not JSON"),
        ('["chief"]', "is not a JSON object"),
        (json.dumps({"cluster": {"chief": "h:1"}}), "must map job names"),
        (json.dumps({"cluster": {"ps": ["h:1"], "worker": ["h:2"]}}), "'ps'"),
        (tf_config("worker", index=5), "task worker:5 is not a chief or worker"),
        (tf_config("evaluator"), "task evaluator:0"),
    ],
)
def test_a_broken_tf_config_names_tf_config_and_the_problem(config, reason):
    with pytest.raises(ArtganError) as raised:
        cluster_task(config)
    assert str(raised.value).startswith("TF_CONFIG ")
    assert reason in str(raised.value)


def logged_step(lines: list[str], pattern: str) -> int:
    """The step in the one log line that ``pattern`` (a regex with one group) matches."""
    (step,) = [int(match[1]) for match in map(re.compile(pattern).match, lines) if match]
    return step


class Cluster:
    """A chief and a worker of one training run, each its own process; kills them on close."""

    def __init__(self, base: Path, train_steps: int, train_minutes: float = 0.0):
        self.base = base
        self.args = [str(train_steps), str(train_minutes)]
        ports = free_ports(len(TASKS))
        self.cluster = {
            task: [f"127.0.0.1:{port}"] for task, port in zip(TASKS, ports, strict=True)
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts = 0

    def paths(self, task: str) -> dict[str, Path]:
        # Real tasks all get the same folders; here the worker gets folders of its own (but
        # the chief's checkpoints, which it must read), so that anything it wrote would show.
        return {
            "out": self.base / f"out-{task}",
            "run": self.base / f"run-{task}",
            "checkpoints": self.base / "checkpoints",
            "export": self.base / f"model-{task}" / "Format-Serving",
            "tmp": self.base / f"tmp-{task}",
        }

    def log(self, task: str) -> Path:
        return self.base / f"{task}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        for task in TASKS:
            paths = self.paths(task)
            paths["tmp"].mkdir(exist_ok=True)
            config = {"cluster": self.cluster, "task": {"type": task, "index": 0}}
            env = {
                **os.environ,
                "TF_CONFIG": json.dumps(config),
                "CUDA_VISIBLE_DEVICES": "",
                "TF_CPP_MIN_LOG_LEVEL": "1",
                "TMPDIR": str(paths["tmp"]),  # where the worker's scratch folders go
            }
            folders = [str(paths[name]) for name in ("out", "run", "checkpoints", "export")]
            with open(self.log(task), "w") as log:
                self.processes[task] = subprocess.Popen(
                    [sys.executable, str(TASK_SCRIPT), *folders, *self.args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    def wait(self, task: str, timeout: float = RUN_TIMEOUT_S) -> int:
        try:
            return self.processes[task].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{task} still running after {timeout} s:\n{self.tail(task)}")

    def tail(self, task: str) -> str:
        return "\n".join(self.log(task).read_text().splitlines()[-30:])

    def finish(self) -> None:
        for task in TASKS:
            assert self.wait(task) == 0, f"{task} failed:\n{self.tail(task)}"

    def result(self, task: str) -> dict:
        with open(self.paths(task)["out"] / "result.json") as f:
            return json.load(f)

    def stopped_at(self, task: str) -> int:
        return logged_step(self.result(task)["log"], r"training stopped at step (\d+)")

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def cluster_of(tmp_path):
    clusters: list[Cluster] = []

    def make(**kwargs) -> Cluster:
        clusters.append(Cluster(tmp_path, **kwargs))
        return clusters[-1]

    yield make
    for cluster in clusters:
        cluster.close()


def test_a_chief_and_a_worker_train_in_step_and_the_chief_exports_a_serving_model(cluster_of):
    # A time budget ends the run: each task reads its own clock, yet both stop at one step.
    cluster = cluster_of(train_steps=10_000, train_minutes=0.1)
    cluster.start()
    cluster.finish()

    steps = cluster.stopped_at("chief")
    assert 1 <= steps < 10_000
    assert cluster.stopped_at("worker") == steps
    chief = cluster.paths("chief")
    result = json.loads((chief["run"] / "training_result.json").read_text())
    assert result["steps_done"] == steps and result["stopped_by"] == "train_minutes"
    assert (chief["run"] / "samples" / "final.png").is_file()
    assert not chief["checkpoints"].exists()  # removed by the chief once exported

    served = SavedModelBundle(str(chief["export"])).run(
        "serving_default", {"seeds": np.array([0, 1], np.int64)}
    )["images"]
    assert served.dtype == np.uint8 and served.shape == (2, 8, 8, 1)

    worker = cluster.paths("worker")
    assert not worker["run"].exists() and not worker["export"].parent.exists()
    assert list(worker["tmp"].iterdir()) == []  # its scratch checkpoints and export are gone

    weights = [np.load(cluster.paths(task)["out"] / "weights.npz") for task in TASKS]
    assert weights[0].files == weights[1].files
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)


def test_a_killed_worker_stops_the_chief_and_the_restarted_cluster_resumes(cluster_of):
    cluster = cluster_of(train_steps=10)
    cluster.start()
    checkpoint = cluster.paths("chief")["checkpoints"] / "checkpoint"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not checkpoint.exists():  # the chief's first checkpoint (step 2)
        for task, process in cluster.processes.items():
            assert process.poll() is None, f"{task} ended early:\n{cluster.tail(task)}"
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(0.1)
    cluster.processes["worker"].kill()
    cluster.processes["worker"].wait()

    # The chief's all-reduce is aborted once the worker stops sending heartbeats (about 10 s).
    assert cluster.wait("chief") != 0
    assert "Collective ops is aborted" in cluster.log("chief").read_text()

    cluster.start()  # as TFJob or Vertex AI restart failed tasks
    cluster.finish()
    for task in TASKS:
        lines = cluster.result(task)["log"]
        resumed = logged_step(lines, r"resuming from .* at step (\d+)")
        assert 2 <= resumed < 10, lines
        first_report = next(line for line in lines if line.startswith("step "))
        assert first_report.startswith(f"step {resumed + 1}/10"), first_report
        assert cluster.stopped_at(task) == 10
    result = json.loads((cluster.paths("chief")["run"] / "training_result.json").read_text())
    assert result["steps_done"] == 10 and result["stopped_by"] == "train_steps"
    assert (cluster.paths("chief")["export"] / "saved_model.pb").is_file()
