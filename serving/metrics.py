"""The metrics TF Serving exports to Prometheus (``--monitoring_config_file``), under its names.

Names are TF Serving's monitoring names with ``/`` turned into ``:`` (its PrometheusExporter
does the same): ``:tensorflow:serving:request_count`` {model_name, status},
``:tensorflow:serving:request_latency`` (microseconds) {model_name, API, entrypoint} and the
SavedModel loader's ``:tensorflow:cc:saved_model:load_attempt_count`` {model_path, status} and
``:tensorflow:cc:saved_model:load_latency`` {model_path} (total microseconds of good loads).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

import grpc

from artgan.errors import ArtganError
from artgan.serving.config_protos import MonitoringConfig, read_text_proto

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
GRPC = "GRPC"
REST = "REST"


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """monitoring::Buckets::Exponential: ``scale * growth**i`` for i < count."""
    return tuple(scale * growth**index for index in range(count))


LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)  # 10 µs to about 20 minutes


def prometheus_name(name: str) -> str:
    return name.replace("/", ":")


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{name}="{escaped(value)}"' for name, value in zip(names, values, strict=True))


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, description: str, *labels: str):
        self.name, self.description, self.labels = prometheus_name(name), description, labels
        self._cells: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def increment(self, *values: str, by: float = 1) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + by

    def lines(self) -> list[str]:
        with self._lock:
            cells = sorted(self._cells.items())
        return [f"# TYPE {self.name} counter"] + [
            f"{self.name}{{{label_text(self.labels, values)}}} {number(total)}"
            for values, total in cells
        ]


class Histogram:
    def __init__(self, name: str, description: str, buckets: Sequence[float], *labels: str):
        self.name, self.description, self.labels = prometheus_name(name), description, labels
        self.buckets = tuple(buckets)
        self._cells: dict[tuple[str, ...], list] = {}  # values -> [counts per bucket, sum]
        self._lock = threading.Lock()

    def add(self, sample: float, *values: str) -> None:
        with self._lock:
            counts, _ = cell = self._cells.setdefault(values, [[0] * (len(self.buckets) + 1), 0.0])
            counts[bisect.bisect_left(self.buckets, sample)] += 1
            cell[1] += sample

    def lines(self) -> list[str]:
        with self._lock:
            cells = sorted((values, (list(c), s)) for values, (c, s) in self._cells.items())
        lines = [f"# TYPE {self.name} histogram"]
        for values, (counts, total) in cells:
            labels = label_text(self.labels, values)
            cumulative = 0
            for bound, count in zip([*self.buckets, float("inf")], counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"  # as absl::StrCat
                lines.append(f'{self.name}_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"{self.name}_sum{{{labels}}} {number(total)}")
            lines.append(f"{self.name}_count{{{labels}}} {cumulative}")
        return lines


class ServerMetrics:
    """One server's metrics; ``prometheus_text`` is the page the metrics path serves."""

    def __init__(self):
        self.request_count = Counter(
            "/tensorflow/serving/request_count",
            "The total number of requests.",
            "model_name",
            "status",
        )
        self.request_latency = Histogram(
            "/tensorflow/serving/request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            LATENCY_BUCKETS_US,
            "model_name",
            "API",
            "entrypoint",
        )
        self.load_attempt_count = Counter(
            "/tensorflow/cc/saved_model/load_attempt_count",
            "The number of times a SavedModel was successfully loaded.",
            "model_path",
            "status",
        )
        self.load_latency = Counter(
            "/tensorflow/cc/saved_model/load_latency",
            "Latency in microseconds for SavedModels that were successfully loaded.",
            "model_path",
        )

    def record_request(
        self, model_name: str, api: str, entrypoint: str, code: grpc.StatusCode, seconds: float
    ) -> None:
        self.request_count.increment(model_name, code.name)
        self.request_latency.add(seconds * 1e6, model_name, api, entrypoint)

    def record_load(self, model_path: str, ok: bool, seconds: float) -> None:
        self.load_attempt_count.increment(model_path, "success" if ok else "fail")
        if ok:
            self.load_latency.increment(model_path, by=round(seconds * 1e6))

    def prometheus_text(self) -> str:
        metrics = (
            self.request_count,
            self.request_latency,
            self.load_attempt_count,
            self.load_latency,
        )
        return "\n".join(line for metric in metrics for line in metric.lines()) + "\n"


def prometheus_path(monitoring_config_file: str) -> str | None:
    """Where the metrics page is served (None: Prometheus export off), from TF Serving's text
    MonitoringConfig ``prometheus_config { enable: true path: "..." }``."""
    if not monitoring_config_file:
        return None
    config = read_text_proto(monitoring_config_file, MonitoringConfig, "--monitoring-config-file")
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    path = prometheus.path or DEFAULT_PROMETHEUS_PATH
    if not path.startswith("/"):
        raise ArtganError(
            f"--monitoring-config-file {monitoring_config_file}: prometheus_config.path must "
            f"start with '/', got {path!r}"
        )
    return path
