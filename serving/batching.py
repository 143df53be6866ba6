"""Server-side batching as TF Serving does it (``--enable_batching``): concurrent Predict calls
on the same version and signature are joined into one model run.

A port of SharedBatchScheduler's rules (tensorflow/core/kernels/batching_util): each queue holds
open batches of at most ``max_batch_size`` rows; a batch runs when it is full, when a task no
longer fits behind it, or ``batch_timeout_micros`` after it opened, on one of
``num_batch_threads`` threads; a task larger than ``max_batch_size`` is INVALID_ARGUMENT and a
queue already holding ``max_enqueued_batches`` batches answers UNAVAILABLE. With
``allowed_batch_sizes`` a batch is padded (with copies of its first row) up to the next allowed
size, as BatchingSession does, and the padding is cut off the outputs.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence

import grpc
import numpy as np

from artgan.contract.requests import ServingError
from artgan.errors import ArtganError
from artgan.serving.config_protos import BatchingParameters, read_text_proto

RunFn = Callable[[Mapping[str, np.ndarray], Sequence[str], int], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """BatchingParameters with TF Serving's defaults for the fields a file leaves out."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()

    def check(self, source: str) -> None:
        """ArtganError naming ``source`` for options TF Serving would refuse."""
        problems = []
        if self.max_batch_size < 1 or self.num_batch_threads < 1:
            problems.append("max_batch_size and num_batch_threads must be >= 1")
        if self.batch_timeout_micros < 0 or self.max_enqueued_batches < 1:
            problems.append("batch_timeout_micros must be >= 0 and max_enqueued_batches >= 1")
        sizes = self.allowed_batch_sizes
        if sizes and any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            problems.append("allowed_batch_sizes entries must be monotonically increasing")
        if sizes and sizes[-1] != self.max_batch_size:
            problems.append(
                f"final entry in allowed_batch_sizes ({sizes[-1]}) must equal max_batch_size "
                f"({self.max_batch_size})"
            )
        if problems:
            raise ArtganError(f"batching parameters {source}: {'; '.join(problems)}")

    def padded_size(self, rows: int) -> int:
        return next((size for size in self.allowed_batch_sizes if size >= rows), rows)


def read_batching_options(path: str) -> BatchingOptions:
    """``--batching_parameters_file``'s BatchingParameters (text format, wrapper values as
    ``max_batch_size { value: 64 }``); empty or "" means TF Serving's defaults."""
    defaults = BatchingOptions()
    if not path:
        return defaults
    parameters = read_text_proto(path, BatchingParameters, "--batching-parameters-file")
    wrapped = {
        field: getattr(parameters, field).value
        for field in (
            "max_batch_size",
            "batch_timeout_micros",
            "max_enqueued_batches",
            "num_batch_threads",
        )
        if parameters.HasField(field)
    }
    options = dataclasses.replace(
        defaults, allowed_batch_sizes=tuple(parameters.allowed_batch_sizes), **wrapped
    )
    options.check(path)
    return options


class Task:
    """One request waiting in a batch: its inputs, rows, and where its answer goes."""

    def __init__(self, inputs: Mapping[str, np.ndarray], rows: int, timeout_ms: int):
        self.inputs = inputs
        self.rows = rows
        self.timeout_ms = timeout_ms
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


class Batch:
    def __init__(self, run: RunFn, output_names: Sequence[str]):
        self.run = run
        self.output_names = output_names
        self.tasks: list[Task] = []
        self.rows = 0
        self.opened = time.monotonic()
        self.closed = False  # no more tasks join (a task did not fit, or it is full)


class BatchScheduler:
    """One shared scheduler for every version and signature of a server (as TF Serving's
    SharedBatchScheduler): one queue per (version, signature, outputs) key."""

    def __init__(self, options: BatchingOptions):
        self.options = options
        self._queues: dict[Hashable, list[Batch]] = {}
        self._condition = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"artgan-batch-{index}", daemon=True)
            for index in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(
        self,
        key: Hashable,
        run: RunFn,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        timeout_ms: int = 0,
    ) -> dict[str, np.ndarray]:
        """Queues one request and blocks until its batch has run; its own rows of the
        outputs."""
        rows = len(next(iter(inputs.values())))
        limit = self.options.max_batch_size
        if rows > limit:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Task size {rows} is larger than maximum input batch size {limit}",
            )
        task = Task(inputs, rows, timeout_ms)
        queue_key = (key, tuple(output_names))
        with self._condition:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the batch scheduler stopped")
            queue = self._queues.setdefault(queue_key, [])
            if not queue or queue[-1].closed or queue[-1].rows + rows > limit:
                if len(queue) >= self.options.max_enqueued_batches:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                if queue:
                    queue[-1].closed = True
                queue.append(Batch(run, output_names))
            batch = queue[-1]
            batch.tasks.append(task)
            batch.rows += rows
            batch.closed = batch.closed or batch.rows == limit
            self._condition.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def queued_rows(self) -> int:
        """Rows waiting in batches that have not started running."""
        with self._condition:
            return sum(batch.rows for queue in self._queues.values() for batch in queue)

    def _ready_batch(self) -> tuple[Batch | None, float | None]:
        """The oldest batch ready to run, or how long until one may be (None: none queued)."""
        timeout_s = self.options.batch_timeout_micros / 1e6
        wait = None
        now = time.monotonic()
        for key, queue in self._queues.items():
            if not queue:
                continue
            head = queue[0]
            due = head.opened + timeout_s
            if head.closed or now >= due:
                queue.pop(0)
                if not queue:
                    del self._queues[key]
                return head, None
            wait = due - now if wait is None else min(wait, due - now)
        return None, wait

    def _work(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._stopped and not self._queues:
                        return
                    batch, wait = self._ready_batch()
                    if batch is not None:
                        break
                    self._condition.wait(wait)
            self._process(batch)

    def _process(self, batch: Batch) -> None:
        tasks = batch.tasks
        try:
            names = tasks[0].inputs.keys()
            joined = {name: np.concatenate([task.inputs[name] for task in tasks]) for name in names}
            padded_rows = self.options.padded_size(batch.rows)
            if padded_rows > batch.rows:
                joined = {
                    name: np.concatenate(
                        [value, np.repeat(value[:1], padded_rows - batch.rows, axis=0)]
                    )
                    for name, value in joined.items()
                }
            timeouts = [task.timeout_ms for task in tasks]
            # The longest of the tasks' deadlines bounds the run (none if any has none).
            timeout_ms = 0 if 0 in timeouts else max(timeouts)
            outputs = batch.run(joined, batch.output_names, timeout_ms)
            start = 0
            for task in tasks:
                task.outputs = {
                    name: value[start : start + task.rows] for name, value in outputs.items()
                }
                start += task.rows
        except BaseException as error:  # every task of the batch gets the run's failure
            for task in tasks:
                task.error = error
        finally:
            for task in tasks:
                task.done.set()

    def stop(self) -> None:
        """Runs what is queued, then stops the batch threads."""
        with self._condition:
            self._stopped = True
            for queue in self._queues.values():
                for batch in queue:
                    batch.closed = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()
