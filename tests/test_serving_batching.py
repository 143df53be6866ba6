"""Server-side batching (--enable-batching) over real gRPC, with TF Serving's
BatchingParameters file, limits and errors."""

from __future__ import annotations

import contextlib
import time
from concurrent import futures

import grpc
import pytest
from serving_fixtures import (
    POLL_SECONDS,
    images_and_pngs,
    one_version_base_path,
    open_stubs,
    predict_request,
    rpc_error,
    wait_for_version,
    write_config,
)

from artgan.config import ServerConfig
from artgan.errors import ArtganError
from artgan.serving.batching import BatchingOptions, read_batching_options
from artgan.serving.server import start_server

LONG_TIMEOUT_MICROS = 60_000_000  # a batch that is not full waits this long: tests fill them


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    return one_version_base_path(tmp_path_factory.mktemp("batching"))


@contextlib.contextmanager
def batching_stubs(base_path, tmp_path, text: str):
    """(server, stubs) of a server batching with BatchingParameters ``text``, once it serves."""
    config = ServerConfig(
        enable_batching=True,
        batching_parameters_file=write_config(tmp_path, "batching.config", text),
    )
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS, server=config) as server:
        stubs = open_stubs(server.address)
        wait_for_version(stubs, 1)
        try:
            yield server, stubs
        finally:
            stubs.channel.close()


def predict_pngs(stubs, seeds) -> list[bytes]:
    return images_and_pngs(stubs.prediction.Predict(predict_request(seeds), timeout=60))[1]


def test_batching_parameters_file_in_tf_servings_text_format(tmp_path):
    path = write_config(
        tmp_path,
        "batching.config",
        "max_batch_size { value: 64 } batch_timeout_micros { value: 2000 }\n"
        "num_batch_threads { value: 3 } allowed_batch_sizes: 16 allowed_batch_sizes: 64\n",
    )
    assert read_batching_options(path) == BatchingOptions(
        max_batch_size=64,
        batch_timeout_micros=2000,
        max_enqueued_batches=10,
        num_batch_threads=3,
        allowed_batch_sizes=(16, 64),
    )
    assert read_batching_options("") == BatchingOptions()  # TF Serving's defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size: 8", "is not a text-format BatchingParameters"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "must equal max_batch_size"),
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2 "
            "allowed_batch_sizes: 8",
            "monotonically increasing",
        ),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be >= 1"),
    ],
)
def test_bad_batching_parameters_name_the_file(tmp_path, text, message):
    path = write_config(tmp_path, "batching.config", text)
    with pytest.raises(ArtganError, match=message) as caught:
        read_batching_options(path)
    assert path in str(caught.value)


def test_concurrent_requests_join_one_batch_and_get_their_own_rows(base_path, tmp_path):
    text = (
        f"max_batch_size {{ value: 4 }} batch_timeout_micros {{ value: {LONG_TIMEOUT_MICROS} }} "
        "num_batch_threads { value: 1 }"
    )
    with batching_stubs(base_path, tmp_path, text) as (server, stubs):
        expected = predict_pngs(stubs, [1, 2, 3, 4])  # a full batch runs at once
        started = time.monotonic()
        with futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda seed: predict_pngs(stubs, [seed]), [1, 2, 3, 4]))
        # Each waited for the others: the batch ran when full, long before its timeout.
        assert time.monotonic() - started < LONG_TIMEOUT_MICROS / 1e6 / 2
        assert [pngs[0] for pngs in answers] == expected


def test_a_batch_is_padded_to_an_allowed_size_and_cut_back(base_path, tmp_path):
    text = "max_batch_size { value: 4 } allowed_batch_sizes: 4"
    with batching_stubs(base_path, tmp_path, text) as (server, stubs):
        padded = predict_pngs(stubs, [5, 6, 7])  # runs as a batch of 4, answers 3
        singles = [predict_pngs(stubs, [seed])[0] for seed in (5, 6, 7)]
        assert padded == singles


def test_too_large_a_task_and_a_full_queue_get_tf_servings_errors(base_path, tmp_path):
    text = (
        f"max_batch_size {{ value: 4 }} batch_timeout_micros {{ value: {LONG_TIMEOUT_MICROS} }} "
        "max_enqueued_batches { value: 1 } num_batch_threads { value: 1 }"
    )
    with batching_stubs(base_path, tmp_path, text) as (server, stubs):
        too_large = rpc_error(stubs.prediction.Predict, predict_request([1, 2, 3, 4, 5]))
        assert too_large.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert too_large.details() == "Task size 5 is larger than maximum input batch size 4"
        with futures.ThreadPoolExecutor(2) as pool:
            waiting = pool.submit(predict_pngs, stubs, [1])  # opens the only batch allowed
            deadline = time.monotonic() + 30
            while server.manager.batcher.queued_rows() < 1:
                assert time.monotonic() < deadline, "the first request never got queued"
                time.sleep(0.01)
            full = rpc_error(stubs.prediction.Predict, predict_request([1, 2, 3, 4]))
            assert full.code() == grpc.StatusCode.UNAVAILABLE
            assert "queue to which this task was submitted is full" in full.details()
            filling = pool.submit(predict_pngs, stubs, [2, 3, 4])  # fills the waiting batch
            assert waiting.result(timeout=30) + filling.result(timeout=30) == predict_pngs(
                stubs, [1, 2, 3, 4]
            )


def test_batching_parameters_file_is_checked_at_startup(base_path, tmp_path):
    config = ServerConfig(
        enable_batching=True,
        batching_parameters_file=write_config(
            tmp_path, "batching.config", "max_batch_size { value: -1 }"
        ),
    )
    with pytest.raises(ArtganError, match="max_batch_size and num_batch_threads must be >= 1"):
        start_server(str(base_path), port=0, server=config)
