"""TF Serving's Prometheus metrics (--monitoring-config-file) on the REST port, after real gRPC
and REST traffic."""

from __future__ import annotations

import http.client
import json
import re

import grpc
import pytest
from serving_fixtures import (
    MODEL,
    POLL_SECONDS,
    one_version_base_path,
    open_stubs,
    predict_request,
    rpc_error,
    wait_for_version,
    write_config,
)

from artgan.config import ServerConfig
from artgan.errors import ArtganError
from artgan.serving.metrics import DEFAULT_PROMETHEUS_PATH, LATENCY_BUCKETS_US
from artgan.serving.server import start_server

SAMPLE = re.compile(r"^(?P<name>[^{ ]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def scrape(rest, path: str) -> tuple[int, str, dict]:
    connection = http.client.HTTPConnection(rest.host, rest.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text exposition -> {(name, labels): value}; every line must parse."""
    parsed = {}
    for line in text.splitlines():
        if not line or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        parsed[(match["name"], labels)] = float(match["value"])
    return parsed


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    return one_version_base_path(tmp_path_factory.mktemp("metrics"))


def test_request_and_load_metrics_after_grpc_and_rest_traffic(base_path, tmp_path):
    config = ServerConfig(
        monitoring_config_file=write_config(
            tmp_path, "monitoring.config", 'prometheus_config { enable: true path: "/metrics" }'
        )
    )
    with start_server(
        str(base_path), port=0, poll_seconds=POLL_SECONDS, server=config, rest_port=0
    ) as server:
        stubs = open_stubs(server.address)
        wait_for_version(stubs, 1)
        for seeds in ([1], [2, 3]):
            stubs.prediction.Predict(predict_request(seeds), timeout=30)
        missing = predict_request([1])
        missing.model_spec.version.value = 9
        assert rpc_error(stubs.prediction.Predict, missing).code() == grpc.StatusCode.NOT_FOUND
        connection = http.client.HTTPConnection(server.rest.host, server.rest.port, timeout=30)
        connection.request("POST", f"/v1/models/{MODEL}:predict", json.dumps({"instances": [4]}))
        assert connection.getresponse().status == 200
        connection.close()
        status, content_type, text = scrape(server.rest, "/metrics")
        stubs.channel.close()
    assert status == 200 and content_type.startswith("text/plain")
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    got = samples(text)

    def value(name, **labels):
        return got.get((name, frozenset(labels.items())), 0)

    assert value(":tensorflow:serving:request_count", model_name=MODEL, status="OK") == 3
    assert value(":tensorflow:serving:request_count", model_name=MODEL, status="NOT_FOUND") == 1
    latency = ":tensorflow:serving:request_latency"
    grpc_labels = {"model_name": MODEL, "API": "Predict", "entrypoint": "GRPC"}
    assert value(f"{latency}_count", **grpc_labels) == 3
    assert value(f"{latency}_count", model_name=MODEL, API="Predict", entrypoint="REST") == 1
    assert value(f"{latency}_bucket", **grpc_labels, le="+Inf") == 3
    assert value(f"{latency}_sum", **grpc_labels) > 0
    buckets = [value(f"{latency}_bucket", **grpc_labels, le=f"{b:g}") for b in LATENCY_BUCKETS_US]
    assert buckets == sorted(buckets)  # cumulative, as Prometheus histograms are
    version_path = str(base_path / "1")
    loads = ":tensorflow:cc:saved_model:load_attempt_count"
    assert value(loads, model_path=version_path, status="success") == 1
    assert value(":tensorflow:cc:saved_model:load_latency", model_path=version_path) > 0


def test_default_path_and_disabled_export(base_path, tmp_path):
    on = ServerConfig(
        monitoring_config_file=write_config(
            tmp_path, "monitoring.config", "prometheus_config { enable: true }"
        )
    )
    with start_server(str(base_path), port=0, server=on, rest_port=0) as server:
        assert scrape(server.rest, DEFAULT_PROMETHEUS_PATH)[0] == 200
    off = ServerConfig(
        monitoring_config_file=write_config(tmp_path, "monitoring.config", "prometheus_config { }")
    )
    with start_server(str(base_path), port=0, server=off, rest_port=0) as server:
        assert scrape(server.rest, DEFAULT_PROMETHEUS_PATH)[0] == 404


def test_a_bad_monitoring_config_names_the_file(base_path, tmp_path):
    path = write_config(tmp_path, "monitoring.config", "prometheus { enable: true }")
    with pytest.raises(ArtganError, match="not a text-format MonitoringConfig") as caught:
        start_server(str(base_path), port=0, server=ServerConfig(monitoring_config_file=path))
    assert path in str(caught.value)
