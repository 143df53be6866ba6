"""Serving under load: `artgan serve` in its own process, gRPC and REST clients, a push midway.

Phases, each against the same SavedModel version (``--model``, or an untrained default
generator: serving cost does not depend on training), all in one run (`--only` picks some):

- in-process: the SavedModel called directly (session loader), the reference;
- load: ``--clients`` concurrent clients x ``--requests`` requests of 1..``--max-images``
  images, over gRPC and over REST, while a second version is pushed halfway (failures must
  be 0);
- overhead: one client, 1-image requests, p50 over gRPC and REST against in-process (aim:
  under 2 ms), and 64-image requests' throughput against in-process (aim: at least 90%);
- batching: ``--clients`` clients asking for 1 image each, with ``--enable-batching`` off and on
  (aim: at least 2x the images/s), next to the ceiling: the same images in-process in full
  batches of ``--clients``, the most any batching could give on this machine.

gRPC and in-process fetch the ``png`` output (what ``artgan generate`` asks for); REST has no
output filter, so its answers carry every output (pixels as JSON numbers), as TF Serving's do.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from artgan.contract import PNG_OUTPUT, PNGS_SIGNATURE, SEEDS_INPUT
from artgan.contract.bundle import SavedModelBundle
from artgan.errors import ArtganError
from artgan.serving.channel import MAX_MESSAGE_BYTES

MODEL = "bench"
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
BIG_BATCH = 64
STARTUP_TIMEOUT_S = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="a generator SavedModel (default: untrained)")
    parser.add_argument("--resolution", type=int, default=64, help="of the untrained generator")
    parser.add_argument("--channels", type=int, choices=(1, 3, 4), default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=200, help="per client, in the load phase")
    parser.add_argument("--max-images", type=int, default=16, help="per load request (1..N)")
    parser.add_argument("--latency-calls", type=int, default=100, help="1-image calls timed")
    parser.add_argument("--big-batch-calls", type=int, default=10, help="64-image calls timed")
    parser.add_argument(
        "--batching-requests", type=int, default=50, help="per client, in the batching phase"
    )
    parser.add_argument(
        "--only", choices=("all", "load", "batching"), default="all", help="phases to run"
    )
    parser.add_argument(
        "--batch-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="num_batch_threads of the batching phase's server (%(default)s: the cores)",
    )
    parser.add_argument(
        "--batching-timeout-micros",
        type=int,
        default=2000,
        help="batch_timeout_micros of the batching phase's server",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def untrained_generator(workdir: str, resolution: int, channels: int) -> str:
    from artgan.config import DataConfig, TrainConfig
    from artgan.models import networks
    from artgan.models.export import export_generator

    train = TrainConfig()
    generator, _ = networks.build_networks(
        train, DataConfig(resolution=resolution, channels=channels)
    )
    return export_generator(generator, train.latent_dim, os.path.join(workdir, "generator"))


def push(model_dir: str, base_path: str, version: int) -> None:
    staging = os.path.join(base_path, f".staging-{version}")
    shutil.copytree(model_dir, staging)
    os.rename(staging, os.path.join(base_path, str(version)))


class ServerProcess:
    """``artgan serve`` as a child process on free ports, until ``stop``."""

    def __init__(
        self, base_path: str, workdir: str, batching_file: str = "", flags: tuple[str, ...] = ()
    ):
        self.grpc_port, self.rest_port = free_port(), free_port()
        command = [
            sys.executable,
            "-m",
            "artgan",
            "serve",
            f"--model-base-path={base_path}",
            f"--model-name={MODEL}",
            f"--port={self.grpc_port}",
            f"--rest-port={self.rest_port}",
            f"--max-batch-size={BIG_BATCH}",
            "--file-system-poll-wait-seconds=0.2",
        ]
        if batching_file:
            command += ["--enable-batching", f"--batching-parameters-file={batching_file}"]
        command += flags
        self.log_path = os.path.join(workdir, f"serve-{self.grpc_port}.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.address = f"127.0.0.1:{self.grpc_port}"

    def wait_until_serving(self, version: int) -> None:
        channel = grpc.insecure_channel(self.address)
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ArtganError(f"artgan serve exited early; see {self.log_path}")
                with contextlib.suppress(grpc.RpcError):
                    statuses = stub.GetModelStatus(request, timeout=5).model_version_status
                    if any(s.version == version and s.state == AVAILABLE for s in statuses):
                        return
                time.sleep(0.1)
            raise ArtganError(f"version {version} not served in time; see {self.log_path}")
        finally:
            channel.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def grpc_caller(address: str) -> Callable[[np.ndarray], int]:
    """One client's Predict on ``seeds`` (PNG output): returns the version that answered."""
    channel = grpc.insecure_channel(
        address, options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    )
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def call(seeds: np.ndarray) -> int:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs[SEEDS_INPUT].CopyFrom(tf.make_tensor_proto(seeds, dtype=tf.int64))
        request.output_filter.append(PNG_OUTPUT)
        response = stub.Predict(request, timeout=120)
        if len(response.outputs[PNG_OUTPUT].string_val) != len(seeds):
            raise AssertionError("wrong number of images")
        return response.model_spec.version.value

    return call


def rest_caller(port: int) -> Callable[[np.ndarray], int]:
    """One client's REST predict of the ``pngs`` signature (the PNGs alone: REST has no output
    filter) on one keep-alive connection, PNGs decoded from base64; 0 as the version (REST's
    answer does not say which one)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(seeds: np.ndarray) -> int:
        request = {"signature_name": PNGS_SIGNATURE, "instances": seeds.tolist()}
        connection.request("POST", f"/v1/models/{MODEL}:predict", json.dumps(request).encode())
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise AssertionError(f"HTTP {response.status}: {payload[:200]!r}")
        pngs = [base64.b64decode(png["b64"]) for png in json.loads(payload)["predictions"]]
        if len(pngs) != len(seeds):
            raise AssertionError("wrong number of images")
        return 0

    return call


def in_process_caller(bundle: SavedModelBundle) -> Callable[[np.ndarray], int]:
    def call(seeds: np.ndarray) -> int:
        bundle.run("serving_default", {SEEDS_INPUT: seeds}, [PNG_OUTPUT])
        return 0

    return call


def request_sizes(clients: int, requests: int, max_images: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [rng.integers(1, max_images + 1, size=requests).tolist() for _ in range(clients)]


def summary(latencies: list[float], images: int, seconds: float, failures: int) -> dict:
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": len(latencies) + failures,
        "failures": failures,
        "images": images,
        "seconds": round(seconds, 3),
        "images_per_second": round(images / seconds, 1) if seconds else 0.0,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def run_load(
    make_caller: Callable[[], Callable[[np.ndarray], int]],
    sizes: list[list[int]],
    halfway: Callable[[], None] | None = None,
) -> dict:
    """Each client sends its requests in turn; ``halfway`` runs once half of all are done."""
    total = sum(len(client) for client in sizes)
    done = [0]
    lock = threading.Lock()
    halfway_reached = threading.Event()
    versions: set[int] = set()
    errors: list[str] = []

    def client(index: int) -> tuple[list[float], int, int]:
        call = make_caller()
        latencies, images, failures = [], 0, 0
        for number, size in enumerate(sizes[index]):
            seeds = np.arange(size, dtype=np.int64) + 1000 * index + number
            started = time.perf_counter()
            try:
                versions.add(call(seeds))
                latencies.append(time.perf_counter() - started)
                images += size
            except Exception as error:  # counted, and the first few kept for the report
                failures += 1
                if len(errors) < 5:
                    errors.append(f"{type(error).__name__}: {error}"[:300])
            with lock:
                done[0] += 1
                if done[0] * 2 >= total:
                    halfway_reached.set()
        return latencies, images, failures

    pusher = None
    if halfway is not None:
        pusher = threading.Thread(target=lambda: halfway_reached.wait() and halfway())
        pusher.start()
    started = time.perf_counter()
    with futures.ThreadPoolExecutor(len(sizes)) as pool:
        results = list(pool.map(client, range(len(sizes))))
    seconds = time.perf_counter() - started
    if pusher is not None:
        pusher.join()
    latencies = [value for result in results for value in result[0]]
    result = summary(latencies, sum(r[1] for r in results), seconds, sum(r[2] for r in results))
    result["versions_seen"] = sorted(versions - {0})
    if errors:
        result["first_errors"] = errors
    return result


def paired(callers: dict[str, Callable[[np.ndarray], int]], size: int, calls: int) -> dict:
    """One client per caller, taking turns call by call (so drift in the machine's speed hits
    all alike): ``calls`` requests of ``size`` images each, after one warm-up call."""
    seeds = np.arange(size, dtype=np.int64)
    latencies: dict[str, list[float]] = {name: [] for name in callers}
    for call in callers.values():
        call(seeds)
    for _ in range(calls):
        for name, call in callers.items():
            started = time.perf_counter()
            call(seeds)
            latencies[name].append(time.perf_counter() - started)
    return {
        name: summary(times, size * len(times), sum(times), 0) for name, times in latencies.items()
    }


def run(args: argparse.Namespace) -> dict:
    if min(args.clients, args.requests, args.max_images, args.latency_calls) < 1:
        raise ArtganError("--clients, --requests, --max-images and --latency-calls must be >= 1")
    untrained = f"untrained {args.resolution}x{args.resolution}x{args.channels}"
    result: dict = {
        "model": args.model or untrained,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "max_images": args.max_images,
    }
    with tempfile.TemporaryDirectory() as workdir:
        model_dir = args.model or untrained_generator(workdir, args.resolution, args.channels)
        if args.only in ("all", "load"):
            result.update(load_phases(args, model_dir, workdir))
        if args.only in ("all", "batching"):
            result["batching"] = batching_phase(args, model_dir, workdir)
    result["aims"] = aims(result)
    return result


def load_phases(args: argparse.Namespace, model_dir: str, workdir: str) -> dict:
    """In-process, gRPC and REST: concurrent load with a push midway, then 1- and 64-image
    calls in turns."""
    base_path = os.path.join(workdir, MODEL)
    os.makedirs(base_path)
    push(model_dir, base_path, 1)
    bundle = SavedModelBundle(os.path.join(base_path, "1"))
    local = in_process_caller(bundle)
    sizes = request_sizes(args.clients, args.requests, args.max_images)
    result: dict = {"in_process": {"load": run_load(lambda: local, sizes)}}
    server = ServerProcess(base_path, workdir)
    try:
        server.wait_until_serving(1)
        next_version = [2]

        def push_next():
            push(model_dir, base_path, next_version[0])
            next_version[0] += 1

        makers = {
            "grpc": lambda: grpc_caller(server.address),
            "rest": lambda: rest_caller(server.rest_port),
        }
        for name, make_caller in makers.items():
            result[name] = {
                "load_with_a_push_midway": run_load(make_caller, sizes, halfway=push_next)
            }
        callers = {"in_process": local, **{name: make() for name, make in makers.items()}}
        for phase, size, calls in (
            ("one_image", 1, args.latency_calls),
            ("batch_64", BIG_BATCH, args.big_batch_calls),
        ):
            for name, measured in paired(callers, size, calls).items():
                result[name][phase] = measured
    finally:
        server.stop()
        bundle.close()
    return result


def batching_phase(args: argparse.Namespace, model_dir: str, workdir: str) -> dict:
    """1-image requests from every client, batching off then on, each on a fresh server."""
    sizes = [[1] * args.batching_requests for _ in range(args.clients)]
    parameters = os.path.join(workdir, "batching.config")
    with open(parameters, "w") as f:
        f.write(
            f"max_batch_size {{ value: {args.clients} }}\n"
            f"batch_timeout_micros {{ value: {args.batching_timeout_micros} }}\n"
            f"max_enqueued_batches {{ value: {4 * args.clients} }}\n"
            f"num_batch_threads {{ value: {args.batch_threads} }}\n"
        )
    with open(parameters) as f:
        phase: dict = {"parameters": f.read()}
    for name, batching_file in (("off", ""), ("on", parameters)):
        base_path = os.path.join(workdir, f"batching-{name}", MODEL)
        os.makedirs(base_path)
        push(model_dir, base_path, 1)
        # A thread per client, so that every client's request can wait in one batch.
        threads = (f"--grpc-max-threads={args.clients}",)
        server = ServerProcess(base_path, workdir, batching_file, threads)
        try:
            server.wait_until_serving(1)
            grpc_caller(server.address)(np.arange(1, dtype=np.int64))  # warm up
            phase[name] = run_load(lambda server=server: grpc_caller(server.address), sizes)
        finally:
            server.stop()
    phase["in_process_full_batches"] = full_batch_ceiling(model_dir, args.clients, sizes)
    return phase


def full_batch_ceiling(model_dir: str, batch: int, sizes: list[list[int]]) -> dict:
    """The most images/s batching could reach: the same images in-process, ``batch`` (every
    client's one image) per call, with no server or client in the way."""
    images = sum(map(sum, sizes))
    bundle = SavedModelBundle(model_dir)
    try:
        call = in_process_caller(bundle)
        seeds = np.arange(batch, dtype=np.int64)
        call(seeds)  # warm up
        latencies = []
        for _ in range(max(1, images // batch)):
            started = time.perf_counter()
            call(seeds)
            latencies.append(time.perf_counter() - started)
    finally:
        bundle.close()
    return summary(latencies, batch * len(latencies), sum(latencies), 0)


def aims(result: dict) -> dict:
    """The issue's aims, for the phases that ran."""
    found: dict = {}
    if "grpc" in result:
        local = result["in_process"]
        overhead = {
            name: round(result[name]["one_image"]["p50_ms"] - local["one_image"]["p50_ms"], 3)
            for name in ("grpc", "rest")
        }
        big_share = {
            name: round(
                result[name]["batch_64"]["images_per_second"]
                / local["batch_64"]["images_per_second"],
                3,
            )
            for name in ("grpc", "rest")
        }
        failures = sum(
            result[name]["load_with_a_push_midway"]["failures"] for name in ("grpc", "rest")
        )
        found.update(
            failures_during_push=failures,
            zero_failures=failures == 0,
            p50_overhead_ms_one_image=overhead,
            p50_overhead_under_2_ms={name: value < 2 for name, value in overhead.items()},
            batch_64_share_of_in_process=big_share,
            batch_64_at_least_90_percent={name: value >= 0.9 for name, value in big_share.items()},
        )
    if "batching" in result:
        speedup = round(
            result["batching"]["on"]["images_per_second"]
            / max(result["batching"]["off"]["images_per_second"], 1e-9),
            3,
        )
        ceiling = round(
            result["batching"]["in_process_full_batches"]["images_per_second"]
            / max(result["batching"]["off"]["images_per_second"], 1e-9),
            3,
        )
        found.update(
            batching_speedup_one_image_clients=speedup,
            batching_at_least_2x=speedup >= 2,
            # in-process full batches against batching off: 2x is reachable only if >= 2
            batching_speedup_ceiling=ceiling,
            batching_share_of_ceiling=round(speedup / max(ceiling, 1e-9), 3),
        )
    return found
