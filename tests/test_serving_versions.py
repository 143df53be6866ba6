"""Several models, version policies, labels and config reloads, over real gRPC."""

from __future__ import annotations

import http.client
import logging
import shutil
import threading
import time
from concurrent import futures

import grpc
import pytest
from serving_fixtures import (
    AVAILABLE,
    END,
    MODEL,
    POLL_SECONDS,
    export_versions,
    images_and_pngs,
    open_stubs,
    predict_request,
    push,
    rpc_error,
    status_of,
    wait_for_state,
)
from tensorflow_serving.apis import model_management_pb2, prediction_service_pb2_grpc

from artgan.config import ServerConfig
from artgan.errors import ArtganError
from artgan.serving.client import GeneratorClient
from artgan.serving.model_config import parse_config_text
from artgan.serving.server import start_server


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[int, str]:
    return export_versions(tmp_path_factory.mktemp("exports"), (1, 2, 3))


def config_text(*models: tuple[str, str, str, dict[str, int]]) -> str:
    """model_config_list text of (name, base_path, policy, labels) entries."""
    entries = []
    for name, base_path, policy, labels in models:
        label_text = " ".join(
            f'version_labels {{ key: "{label}" value: {version} }}'
            for label, version in labels.items()
        )
        entries.append(
            f'config {{ name: "{name}" base_path: "{base_path}" model_platform: "tensorflow" '
            f"{policy} {label_text} }}"
        )
    return "model_config_list { " + " ".join(entries) + " }"


def start_with_config(tmp_path, text: str, **options):
    path = tmp_path / "models.config"
    path.write_text(text)
    server = ServerConfig(model_config_file=str(path), **options)
    return start_server("", port=0, poll_seconds=POLL_SECONDS, server=server), path


def versioned(request, version=None, label=None):
    if label is not None:
        request.model_spec.version_label = label
    else:
        request.model_spec.version.value = version
    return request


def served_version(stubs, request) -> int:
    return stubs.prediction.Predict(request, timeout=30).model_spec.version.value


def reload_request(text: str) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(parse_config_text(text, "test"))
    return request


def test_two_models_with_policies_versions_and_labels(exported, tmp_path):
    emoji, sprites = tmp_path / "emoji", tmp_path / "sprites"
    for version in (1, 2, 3):
        push(exported[version], emoji, version)
        push(exported[version], sprites, version)
    text = config_text(
        ("emoji", str(emoji), "model_version_policy { all {} }", {}),
        ("sprites", str(sprites), "model_version_policy { latest { num_versions: 2 } }", {}),
    )
    handle, _ = start_with_config(tmp_path, text)
    with handle:
        stubs = open_stubs(handle.address)
        assert served_version(stubs, predict_request([1], model="emoji")) == 3
        pngs = {
            version: images_and_pngs(
                stubs.prediction.Predict(
                    versioned(predict_request([1], model="emoji"), version), timeout=30
                )
            )[1]
            for version in (1, 2, 3)
        }
        assert pngs[1] != pngs[2] != pngs[3]  # each version its own weights
        states = {
            s.version: s.state for s in status_of(stubs, model="sprites").model_version_status
        }
        assert states == {3: AVAILABLE, 2: AVAILABLE}
        old = rpc_error(
            stubs.prediction.Predict, versioned(predict_request([1], model="sprites"), 1)
        )
        assert old.code() == grpc.StatusCode.NOT_FOUND
        assert "Specific(sprites, 1)" in old.details()

        # Labels come with a reload; the one on a version that is not available is refused.
        labelled = config_text(
            ("emoji", str(emoji), "model_version_policy { all {} }", {"stable": 2, "canary": 3}),
            ("sprites", str(sprites), "model_version_policy { latest { num_versions: 2 } }", {}),
        )
        stubs.models.HandleReloadConfigRequest(reload_request(labelled), timeout=60)
        for label, version in (("stable", 2), ("canary", 3)):
            request = versioned(predict_request([1], model="emoji"), label=label)
            assert served_version(stubs, request) == version
        unknown = rpc_error(
            stubs.prediction.Predict, versioned(predict_request([1], model="emoji"), label="beta")
        )
        assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad_label = config_text(
            ("emoji", str(emoji), "model_version_policy { all {} }", {"stable": 2}),
            ("sprites", str(sprites), "", {"stable": 1}),
        )
        refused = rpc_error(stubs.models.HandleReloadConfigRequest, reload_request(bad_label))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "version 1 of model sprites" in refused.details()
        request = versioned(predict_request([1], model="emoji"), label="canary")
        assert served_version(stubs, request) == 3  # the refused reload changed nothing
        stubs.channel.close()


def test_reload_adds_and_removes_models_and_refuses_bad_lists(exported, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    push(exported[1], first, 1)
    push(exported[2], second, 7)
    handle, _ = start_with_config(tmp_path, config_text(("first", str(first), "", {})))
    with handle:
        stubs = open_stubs(handle.address)
        assert served_version(stubs, predict_request([1], model="first")) == 1
        for text, message in (
            (
                config_text(("a", str(first), "", {}), ("a", str(second), "", {})),
                "Illegal to list model a multiple times",
            ),
            (config_text(("a", "relative/path", "", {})), "absolute path"),
        ):
            error = rpc_error(stubs.models.HandleReloadConfigRequest, reload_request(text))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and message in error.details()
        assert served_version(stubs, predict_request([1], model="first")) == 1

        stubs.models.HandleReloadConfigRequest(
            reload_request(config_text(("second", str(second), "", {}))), timeout=60
        )
        assert served_version(stubs, predict_request([1], model="second")) == 7  # waited for
        gone = rpc_error(stubs.prediction.Predict, predict_request([1], model="first"))
        assert gone.code() == grpc.StatusCode.NOT_FOUND
        stubs.channel.close()


def test_the_config_file_is_polled_and_a_broken_edit_keeps_the_old_list(exported, tmp_path, caplog):
    first, second = tmp_path / "first", tmp_path / "second"
    push(exported[1], first, 1)
    push(exported[2], second, 1)
    handle, path = start_with_config(
        tmp_path, config_text(("first", str(first), "", {})), model_config_file_poll_wait_seconds=1
    )
    with handle, caplog.at_level(logging.ERROR):
        stubs = open_stubs(handle.address)
        path.write_text("model_config_list { config { name: ")
        deadline = time.monotonic() + 20
        while "keeping the previous config" not in caplog.text and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        assert "keeping the previous config" in caplog.text
        assert served_version(stubs, predict_request([1], model="first")) == 1
        path.write_text(config_text(("first", str(first), "", {}), ("second", str(second), "", {})))
        deadline = time.monotonic() + 20
        while "second" not in handle.manager.models() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        wait_for_state(stubs, 1, AVAILABLE, model="second")
        assert served_version(stubs, predict_request([1], model="second")) == 1
        stubs.channel.close()


def test_a_corrupt_version_is_end_with_its_error_and_not_retried(exported, tmp_path, caplog):
    base = tmp_path / "artgan"
    push(exported[1], base, 1)
    with start_server(str(base), port=0, poll_seconds=POLL_SECONDS) as handle:
        stubs = open_stubs(handle.address)
        (base / "2").mkdir()
        (base / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
        with caplog.at_level(logging.ERROR):
            failed = wait_for_state(stubs, 2, END)
            time.sleep(10 * POLL_SECONDS)  # ten more polls: none may load it again
        assert failed.status.error_code != grpc.StatusCode.OK.value[0]
        assert "saved_model.pb" in failed.status.error_message
        assert caplog.text.count("loading version 2") == 1
        assert served_version(stubs, predict_request([1])) == 1
        stubs.channel.close()


def test_a_label_on_an_unavailable_version_fails_startup_unless_allowed(exported, tmp_path):
    base = tmp_path / "artgan"
    push(exported[1], base, 1)
    text = config_text(("artgan", str(base), "", {"stable": 1}))
    with pytest.raises(ArtganError, match="not currently available"):
        start_with_config(tmp_path, text)
    handle, _ = start_with_config(tmp_path, text, allow_version_labels_for_unavailable_models=True)
    with handle:
        stubs = open_stubs(handle.address)
        assert served_version(stubs, versioned(predict_request([1]), label="stable")) == 1
        stubs.channel.close()


class HoldSecondPredict(grpc.UnaryUnaryClientInterceptor):
    """Lets the first Predict through and holds the next until ``release`` is set: a push can
    then land between two chunks of one generation, every time."""

    def __init__(self):
        self.calls = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def intercept_unary_unary(self, continuation, client_call_details, request):
        if client_call_details.method.endswith("/Predict"):
            self.calls += 1
            if self.calls == 2:
                self.held.set()
                assert self.release.wait(60)
        return continuation(client_call_details, request)


def test_generate_started_on_a_version_that_a_push_unloads_restarts_on_the_new_one(
    exported, tmp_path
):
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 1)
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS) as server:
        stubs = open_stubs(server.address)
        with GeneratorClient(server.host, server.port, max_batch_size=2) as client:
            hold = HoldSecondPredict()
            channel = grpc.intercept_channel(client.channel, hold)
            client.predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            generating = futures.ThreadPoolExecutor(1).submit(client.generate, MODEL, [1, 2, 3])
            assert hold.held.wait(60)  # chunk [1, 2] came from version 1; [3] is waiting
            push(exported[2], base_path, 2)
            wait_for_state(stubs, 1, END)  # version 1 is gone before the second chunk asks
            hold.release.set()
            result = generating.result(timeout=60)
            assert result.version == 2
            with GeneratorClient(server.host, server.port) as other:
                fresh = other.generate(MODEL, [1, 2, 3], version=2)
            assert result.pngs == fresh.pngs  # all three from version 2, none from version 1
            assert hold.calls == 4  # [1, 2] on v1, [3] NOT_FOUND, then [1, 2] and [3] on v2
        stubs.channel.close()


class Load:
    """Clients calling Predict over gRPC and REST in a loop until ``stop``: every failure and
    every version that answered is kept."""

    def __init__(self, server, clients_per_api: int = 2):
        self.server = server
        self.stopped = threading.Event()
        self.failures: list[str] = []
        self.versions: list[int] = []
        self.rest_answers = 0
        self._threads = [
            threading.Thread(target=target, daemon=True)
            for target in [self._grpc] * clients_per_api + [self._rest] * clients_per_api
        ]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        for thread in self._threads:
            thread.join(60)

    def _grpc(self):
        stubs = open_stubs(self.server.address)
        while not self.stopped.is_set():
            try:
                response = stubs.prediction.Predict(predict_request([1, 2]), timeout=30)
                self.versions.append(response.model_spec.version.value)
            except grpc.RpcError as error:
                self.failures.append(f"gRPC {error.code().name}: {error.details()}")
        stubs.channel.close()

    def _rest(self):
        rest = self.server.rest
        while not self.stopped.is_set():
            connection = http.client.HTTPConnection(rest.host, rest.port, timeout=30)
            try:
                connection.request("POST", f"/v1/models/{MODEL}:predict", b'{"instances": [1, 2]}')
                response = connection.getresponse()
                body = response.read()
                if response.status == 200:
                    self.rest_answers += 1
                else:
                    self.failures.append(f"REST {response.status}: {body[:200]!r}")
            finally:
                connection.close()

    def wait_for(self, condition, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(POLL_SECONDS)


def test_no_request_fails_while_a_version_is_pushed_and_then_removed(exported, tmp_path):
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 1)
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS, rest_port=0) as server:
        stubs = open_stubs(server.address)
        wait_for_state(stubs, 1, AVAILABLE)
        with Load(server) as load:
            load.wait_for(lambda: load.versions and load.rest_answers, "the first answers")
            push(exported[2], base_path, 2)
            wait_for_state(stubs, 1, END)  # 2 loaded first, then 1 unloaded
            load.wait_for(lambda: load.versions[-1] == 2, "answers from version 2")
            shutil.rmtree(base_path / "2")  # the newest version is withdrawn: 1 comes back
            wait_for_state(stubs, 2, END)
            assert status_of(stubs, 1).model_version_status[0].state == AVAILABLE
            load.wait_for(lambda: load.versions[-1] == 1, "answers from version 1 again")
            answered = len(load.versions) + load.rest_answers
            load.wait_for(lambda: len(load.versions) + load.rest_answers > answered + 8, "more")
        stubs.channel.close()
    assert load.failures == []
    assert {1, 2} <= set(load.versions)
