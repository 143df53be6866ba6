"""The ``tf.distribute`` strategy and XLA setting a training run uses, chosen from the hardware.

TPUStrategy (mixed_bfloat16) when ``train.tpu_address`` is set; MirroredStrategy (mixed_float16)
when GPUs are visible; else the default strategy on CPU. XLA (``train.jit_compile``) compiles
each replica's step; ``auto`` turns it on with GPUs, where it fuses the many small ops of a GAN
step, and leaves it off on CPU, where it made the default 64x64 step three times slower
(``artgan bench train --only step``). TPU programs are always XLA-compiled. On CPU the step
stays float32: mixed_bfloat16 made the default step only 5-8% faster, even with AMX.

Across machines: when ``TF_CONFIG`` describes a cluster of more than one chief/worker task (as
the Kubeflow TFJob, Vertex AI Training and the ``tf.distribute`` docs set it), every task runs
the same program under MultiWorkerMirroredStrategy (on CPUs TensorFlow's ring collectives over
gRPC); ``cluster_task`` says which task this is, and which one is the chief.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import socket
import urllib.parse

import keras
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.errors import ArtganError

log = logging.getLogger(__name__)

TPU_CONNECT_TIMEOUT_S = 10.0  # TensorFlow waits forever on an address nothing answers at
TRAINING_TASK_TYPES = ("chief", "worker")  # the jobs MultiWorkerMirroredStrategy trains with


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in a training cluster; one task alone when there is no cluster."""

    task_type: str = "worker"
    task_index: int = 0
    rank: int = 0  # 0 for the chief, then the workers in order (chief first, as TF orders them)
    num_workers: int = 1

    @property
    def multi_worker(self) -> bool:
        return self.num_workers > 1

    @property
    def is_chief(self) -> bool:
        """The task that writes samples, logs, checkpoints and the exported model."""
        return self.rank == 0


def cluster_task(tf_config: str | None = None) -> ClusterTask:
    """Parses ``TF_CONFIG`` (read from the environment when not given).

    No TF_CONFIG, or a cluster of one task, is single-machine training. The chief is the
    ``chief`` task, or ``worker`` 0 when the cluster has none (TensorFlow's rule).
    """
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if not tf_config.strip():
        return ClusterTask()

    def fail(reason: str) -> ArtganError:
        return ArtganError(
            f"TF_CONFIG {tf_config!r}: {reason}; set it as the tf.distribute docs describe, "
            '{"cluster": {"chief": ["host:port"], "worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": 0}}, or unset it to train on one machine'
        )

    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise fail(f"is not JSON ({error})") from error
    if not isinstance(config, dict):
        raise fail("is not a JSON object")
    cluster = config.get("cluster") or {}
    if not isinstance(cluster, dict) or not all(isinstance(v, list) for v in cluster.values()):
        raise fail("'cluster' must map job names to lists of host:port addresses")
    other_jobs = sorted(set(cluster) - set(TRAINING_TASK_TYPES) - {"evaluator"})
    if other_jobs:
        raise fail(f"jobs {other_jobs} are not supported (only chief and worker tasks train)")
    tasks = [(job, i) for job in TRAINING_TASK_TYPES for i in range(len(cluster.get(job, [])))]
    if len(tasks) <= 1:
        return ClusterTask()
    if len(cluster.get("chief", [])) > 1:
        raise fail("a cluster has at most one chief")
    task = config.get("task") or {}
    if not isinstance(task, dict):
        raise fail("'task' must be an object")
    task_type, task_index = task.get("type"), task.get("index", 0)
    if (task_type, task_index) not in tasks:
        raise fail(f"task {task_type}:{task_index} is not a chief or worker of the cluster")
    return ClusterTask(task_type, task_index, tasks.index((task_type, task_index)), len(tasks))


def hardware_strategy(train: TrainConfig) -> tf.distribute.Strategy:
    """The strategy for ``train``; sets the matching global mixed-precision policy."""
    if train.tpu_address:
        return tpu_strategy(train.tpu_address)
    task = cluster_task()
    if task.multi_worker:
        return multi_worker_strategy(task)
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@functools.cache
def multi_worker_strategy(task: ClusterTask) -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (which TensorFlow reads too).

    Every task must run it; it waits for all of them to connect before the first step. One
    per process, made before TensorFlow runs its first op ("Collective ops must be configured
    at program startup"): an entry point calls ``hardware_strategy`` before building its
    dataset, and later calls get the same strategy.
    """
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    log.info(
        "multi-worker training as %s:%d (%s), %d of %d tasks, %d replicas in all",
        task.task_type,
        task.task_index,
        "chief" if task.is_chief else "not the chief",
        task.rank + 1,
        task.num_workers,
        strategy.num_replicas_in_sync,
    )
    return strategy


def any_task(strategy: tf.distribute.Strategy, task: ClusterTask, flag: bool) -> bool:
    """Whether ``flag`` holds on any task of the cluster (on one machine: ``flag``).

    Every task must run the same steps, or the others wait forever in the next all-reduce; a
    stop condition one task sees alone (its clock) is agreed on with this before acting on it.
    """
    if not task.multi_worker:
        return flag
    votes = strategy.run(tf.identity, args=(tf.constant(float(flag)),))
    return float(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)) > 0


def average_across_workers(
    strategy: tf.distribute.Strategy, task: ClusterTask, variables: list
) -> None:
    """Sets each float variable to its mean over the workers (on one machine: nothing).

    For state each replica updates from its own share of the batch (batch-norm moving
    statistics): gradients are all-reduced, these are not, so without this each worker would
    end with, and export, statistics of only its own images.
    """
    variables = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    if not task.multi_worker or not variables:
        return
    local = strategy.run(lambda: tf.concat([tf.reshape(v, [-1]) for v in variables], 0))
    mean = strategy.reduce(tf.distribute.ReduceOp.MEAN, local, axis=None)
    sizes = [int(tf.size(v)) for v in variables]
    for variable, value in zip(variables, tf.split(mean, sizes), strict=True):
        variable.assign(tf.reshape(value, variable.shape))


def uses_xla(train: TrainConfig, strategy: tf.distribute.Strategy) -> bool:
    """Whether each replica's train step is compiled with XLA (``jit_compile=True``).

    False under TPUStrategy: the TPU compiles the whole step with XLA anyway.
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return False
    if train.jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return train.jit_compile == "on"


def tpu_strategy(address: str) -> tf.distribute.TPUStrategy:
    """Connects to the TPU at ``address`` (a Cloud TPU name, ``grpc://host:port`` or ``local``).

    Initialises the TPU system and sets the mixed_bfloat16 policy (TPUs compute in bfloat16).
    """

    def fail(reason: str) -> ArtganError:
        return ArtganError(
            f"train.tpu_address {address!r}: {reason}; give the name or grpc://host:port of a "
            "reachable TPU (or 'local' on a TPU VM), or leave it empty to train on GPUs/CPU"
        )

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        master = resolver.master()
    except Exception as error:  # the Cloud TPU lookup raises HTTP, OS and value errors alike
        raise fail(f"cannot be resolved ({error})") from error
    _check_reachable(master, fail)
    try:
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.OpError, ValueError, RuntimeError) as error:
        raise fail(f"no TPU could be initialised there ({error})") from error
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    strategy = tf.distribute.TPUStrategy(resolver)
    log.info("training on TPU %s with %d cores", address, strategy.num_replicas_in_sync)
    return strategy


def _check_reachable(master: str, fail) -> None:
    """Fails fast when a grpc://host:port TPU worker does not answer (TensorFlow would hang)."""
    if not master:  # a TPU attached to this machine ('local')
        return
    url = urllib.parse.urlparse(master if "://" in master else f"grpc://{master}")
    try:
        port = url.port
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise fail(f"{master!r} is not of the form grpc://host:port")
    try:
        socket.create_connection((url.hostname, port), timeout=TPU_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise fail(f"nothing answers at {url.hostname}:{port} ({error})") from error
