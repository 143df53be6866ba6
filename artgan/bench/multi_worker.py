"""Multi-worker training on this machine: N workers against one, at the same global batch.

The default recipe (``TrainConfig`` defaults, class-conditional) trains on the embedded digits
at the resolution ``data.resolution=auto`` picks for them, for a fixed number of steps, three
times, each run its own processes (``local_cluster.run_cluster``, loopback ports): one worker
(seed 0), N workers under MultiWorkerMirroredStrategy (seed 0; each worker draws its own
latents and keeps its own share of every global batch), and one worker again (seed 1), which
brackets the N-worker run against a machine getting busier and measures the run-to-run noise.
Each task runs ``multi_worker_task``: the Trainer's own loop, logging (and so reading back the
losses) every step.

Speed: steps/s of the chief over the steps after the warm-up (``--worker-warmup-steps``, one
lazy-R1 cycle by default, so both step functions are traced and the workers' collectives set
up before timing), images/s = steps/s x the global batch; N workers against the mean of the
two one-worker runs, whose ratio to each other shows how much a busy machine moved them. The
N tasks share this machine's cores and all-reduce G's and D's gradients over gRPC every step:
on one machine this measures what multi-worker training costs, not the speed-up of N
machines.

Losses: per run, the mean and standard deviation of d_loss and g_loss over the last half of
the steps; the N-worker run's mean minus the one-worker run's, against the run-to-run noise:
the difference of the two one-worker runs (seeds 0 and 1). A rough test (one pair of seeds):
within noise when the difference is at most twice the larger of that run-to-run difference
and the standard error the per-step spread alone gives.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from artgan.bench import local_cluster, time_to_quality
from artgan.config import DataConfig, TrainConfig
from artgan.errors import ArtganError

TASK_MODULE = "artgan.bench.multi_worker_task"
DATASET = "digits"
DIGITS_SIZE = 8  # the embedded digits' source size
LOSSES = ("d_loss", "g_loss")
# CPU workers: on a GPU machine every task would otherwise claim the whole GPU.
TASK_ENV = {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "1"}


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    workers: int
    steps: int  # timed steps, after the warm-up
    warmup_steps: int
    global_batch: int
    resolution: int
    timeout_s: float  # per run


def default_resolution() -> int:
    """What ``data.resolution=auto`` picks for the digits on CPUs."""
    return time_to_quality.cpu_auto_resolution(DIGITS_SIZE)


def check_options(options: WorkerOptions) -> WorkerOptions:
    """``options``, or an ArtganError naming the flag that cannot work."""
    if options.workers < 2:
        raise ArtganError(f"--workers {options.workers}: compare at least 2 workers against 1")
    if options.global_batch < options.workers or options.global_batch % options.workers:
        raise ArtganError(
            f"--worker-batch-size {options.global_batch}: the global batch must split evenly "
            f"over --workers {options.workers}"
        )
    if options.steps < 2 or options.warmup_steps < 1 or not options.timeout_s > 0:
        raise ArtganError(
            "--worker-steps must be >= 2, --worker-warmup-steps >= 1, --worker-timeout > 0"
        )
    try:
        DataConfig(resolution=options.resolution, channels=1).validate()
    except ArtganError as error:
        raise ArtganError(f"--worker-resolution: {error}") from error
    return options


def compare_workers(options: WorkerOptions, work_dir: str) -> dict:
    """Trains one worker, ``options.workers`` workers and one worker again; speed and losses."""
    os.makedirs(work_dir, exist_ok=True)
    images, labels = time_to_quality.load_dataset(DATASET)
    pixels = time_to_quality.resized(images, options.resolution) / 127.5 - 1.0
    images_path = os.path.join(work_dir, "images.npz")
    np.savez(images_path, images=pixels.astype(np.float32), labels=labels)
    data = DataConfig(resolution=options.resolution, channels=1)
    total_steps = options.warmup_steps + options.steps
    runs = {}
    for name, workers, seed in (
        ("one_worker", 1, 0),
        (f"{options.workers}_workers", options.workers, 0),
        ("one_worker_seed1", 1, 1),
    ):
        train = dataclasses.replace(
            TrainConfig().with_augment_for(len(images))[0],
            train_steps=total_steps,
            batch_size=options.global_batch // workers,
            seed=seed,
            log_every_steps=1,
            sample_every_steps=total_steps + 1,  # sampling and checkpoints are not timed
            checkpoint_every_steps=total_steps + 1,
        )
        train.validate()
        run_dir = os.path.join(work_dir, name)
        os.makedirs(run_dir, exist_ok=True)
        config_path = os.path.join(run_dir, "config.json")
        with open(config_path, "w") as f:
            json.dump({"data": dataclasses.asdict(data), "train": dataclasses.asdict(train)}, f)
        tasks = local_cluster.run_cluster(
            TASK_MODULE,
            ["--config", config_path, "--images", images_path],
            workers,
            run_dir,
            options.timeout_s,
            env=TASK_ENV,
        )
        runs[name] = run_summary(tasks, workers, seed, options)
    return summarize(runs, options, total_steps)


def run_summary(tasks: dict[str, dict], workers: int, seed: int, options: WorkerOptions) -> dict:
    """The chief's speed after the warm-up, and its loss curve (every task logs the same)."""
    speeds = {name: steps_per_second(task, options.warmup_steps) for name, task in tasks.items()}
    chief = tasks["chief"]
    if chief["global_batch"] != options.global_batch:
        raise ArtganError(
            f"{workers} workers trained at global batch {chief['global_batch']}, not "
            f"{options.global_batch}: the tasks did not form one cluster"
        )
    return {
        "workers": workers,
        "seed": seed,
        "global_batch": chief["global_batch"],
        "steps_per_second": speeds["chief"],
        "images_per_second": speeds["chief"] * chief["global_batch"],
        "steps_per_second_per_task": speeds,
        "first_step_seconds": chief["seconds"][0],  # start-up, tracing, collective set-up
        "timed_seconds": chief["seconds"][-1] - chief["seconds"][options.warmup_steps - 1],
        "step": chief["step"],
        "d_loss": chief["d_loss"],
        "g_loss": chief["g_loss"],
    }


def steps_per_second(task: dict, warmup_steps: int) -> float:
    """Steps after the first ``warmup_steps`` over their seconds."""
    seconds = task["seconds"]
    if len(seconds) <= warmup_steps:
        raise ArtganError(
            f"task {task['task']} logged {len(seconds)} steps, no more than the "
            f"{warmup_steps} warm-up steps"
        )
    return (len(seconds) - warmup_steps) / (seconds[-1] - seconds[warmup_steps - 1])


def last_half(values: list[float]) -> dict:
    tail = np.asarray(values[len(values) // 2 :], np.float64)
    return {"mean": float(tail.mean()), "std": float(tail.std(ddof=1)), "steps": len(tail)}


def summarize(runs: dict[str, dict], options: WorkerOptions, total_steps: int) -> dict:
    many = f"{options.workers}_workers"
    baseline = float(
        np.mean([runs[name]["steps_per_second"] for name in ("one_worker", "one_worker_seed1")])
    )
    ratio = runs[many]["steps_per_second"] / baseline
    losses = {}
    for loss in LOSSES:
        halves = {name: last_half(run[loss]) for name, run in runs.items()}
        one, other, multi = halves["one_worker"], halves["one_worker_seed1"], halves[many]
        difference = multi["mean"] - one["mean"]
        run_to_run = other["mean"] - one["mean"]
        standard_error = math.sqrt(
            multi["std"] ** 2 / multi["steps"] + one["std"] ** 2 / one["steps"]
        )
        tolerance = 2 * max(abs(run_to_run), standard_error)
        losses[loss] = {
            "last_half": halves,
            "difference": difference,
            "run_to_run": run_to_run,
            "standard_error": standard_error,
            "tolerance": tolerance,
            "within_noise": abs(difference) <= tolerance,
        }
    kind = "speed-up" if ratio > 1 else "overhead, not speed-up"
    return {
        "dataset": DATASET,
        "resolution": options.resolution,
        "architecture": TrainConfig().architecture,
        "global_batch": options.global_batch,
        "workers": options.workers,
        "steps": total_steps,
        "warmup_steps": options.warmup_steps,
        "cpus": os.cpu_count(),
        "runs": runs,
        "one_worker_steps_per_second": baseline,
        "one_worker_images_per_second": baseline * options.global_batch,
        "workers_vs_one": ratio,
        # The second one-worker run's speed over the first: how far a busy machine moves it.
        "one_worker_repeat_vs_first": runs["one_worker_seed1"]["steps_per_second"]
        / runs["one_worker"]["steps_per_second"],
        "verdict": f"{kind}: {options.workers} workers on this machine's {os.cpu_count()} "
        f"CPUs ran at {ratio:.2f}x the steps/s of one worker at global batch "
        f"{options.global_batch}",
        "losses": losses,
        "losses_within_noise": all(losses[loss]["within_noise"] for loss in LOSSES),
    }
