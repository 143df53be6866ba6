"""A training cluster on this machine: one process per chief/worker task, on loopback ports.

``run_cluster`` starts ``python -m MODULE ARGS --out TASK.json`` once per task, each with the
``TF_CONFIG`` that names it (a chief and ``workers - 1`` workers, the layout a Kubeflow TFJob
gives; a cluster of one worker gets no TF_CONFIG, which is single-machine training), waits for
all of them and returns what each wrote to its ``--out``. Every task's output goes to
``WORK_DIR/TASK.log``. When a task fails, or the deadline passes, every task still running is
killed and the ArtganError carries the last lines of the failed (or still running) tasks' logs:
under MultiWorkerMirroredStrategy the others would otherwise wait in an all-reduce.

The ports are free when chosen and bound by the tasks a moment later; another program taking
one in between fails the run (naming the task), it does not hang it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from artgan.errors import ArtganError

LOG_TAIL_LINES = 30
POLL_SECONDS = 0.2


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nothing listens on now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def task_configs(workers: int) -> dict[str, str | None]:
    """Task name -> its TF_CONFIG, chief first; one worker -> {"chief": None}."""
    if workers < 1:
        raise ArtganError(f"a cluster needs at least one worker, got {workers}")
    if workers == 1:
        return {"chief": None}
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    cluster = {"chief": addresses[:1], "worker": addresses[1:]}
    tasks = [("chief", 0)] + [("worker", index) for index in range(workers - 1)]
    return {
        "chief" if kind == "chief" else f"worker{index}": json.dumps(
            {"cluster": cluster, "task": {"type": kind, "index": index}}
        )
        for kind, index in tasks
    }


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def run_cluster(
    module: str,
    args: list[str],
    workers: int,
    work_dir: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Runs ``module`` as every task of a ``workers``-task cluster; task name -> its JSON.

    ``env`` is added to this process's environment for every task (TF_CONFIG is always set
    here, or removed for one worker).
    """
    os.makedirs(work_dir, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    paths = {}
    try:
        for name, tf_config in task_configs(workers).items():
            task_env = {**os.environ, **(env or {})}
            task_env.pop("TF_CONFIG", None)
            if tf_config:
                task_env["TF_CONFIG"] = tf_config
            out = os.path.join(work_dir, f"{name}.json")
            log = os.path.join(work_dir, f"{name}.log")
            paths[name] = (out, log)
            if os.path.exists(out):
                os.remove(out)  # left by an earlier run: must not pass for this one's
            with open(log, "w") as log_file:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", module, *args, "--out", out],
                    env=task_env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
        _wait_for_all(processes, {name: log for name, (_, log) in paths.items()}, timeout_s)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    results = {}
    for name, (out, log) in paths.items():
        try:
            with open(out) as f:
                results[name] = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise ArtganError(
                f"task {name} of `python -m {module}` exited 0 but wrote no result {out} "
                f"({error}); the end of {log}:\n{log_tail(log)}"
            ) from error
    return results


def _wait_for_all(
    processes: dict[str, subprocess.Popen], logs: dict[str, str], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        codes = {name: process.poll() for name, process in processes.items()}
        failed = [name for name, code in codes.items() if code not in (None, 0)]
        if failed:
            name = failed[0]
            raise ArtganError(
                f"task {name} failed (exit code {codes[name]}); the others were stopped. "
                f"The end of {logs[name]}:\n{log_tail(logs[name])}"
            )
        running = [name for name, code in codes.items() if code is None]
        if not running:
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {logs[name]}:\n{log_tail(logs[name])}" for name in running)
            raise ArtganError(
                f"tasks {', '.join(running)} still running after {timeout_s:g} s: stopped "
                f"(a larger timeout, or fewer steps). The ends of their logs:\n{tails}"
            )
        time.sleep(POLL_SECONDS)
