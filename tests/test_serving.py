"""The embedded model server and its client, over real gRPC with the official TF Serving stubs."""

from __future__ import annotations

import os
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from serving_fixtures import (
    AVAILABLE,
    END,
    LATENT_DIM,
    MAX_BATCH,
    MODEL,
    POLL_SECONDS,
    RESOLUTION,
    export_slow_model,
    export_versions,
    images_and_pngs,
    metadata_request,
    open_stubs,
    predict_request,
    push,
    rpc_error,
    status_of,
    status_request,
    wait_for_state,
    wait_for_version,
)
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_management_pb2,
    prediction_log_pb2,
)

from artgan.errors import ArtganError
from artgan.grid import image_grid
from artgan.models.export import export_generator, latents_from_seeds
from artgan.serving.client import GeneratorClient
from artgan.serving.pictures import write_generated
from artgan.serving.sampling import sample_served_model
from artgan.serving.seeds import parse_seeds
from artgan.serving.server import start_server


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[int, str]:
    """Two tiny generators with different weights: what versions 1 and 2 get pushed from."""
    return export_versions(tmp_path_factory.mktemp("exports"), (1, 2))


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    base_path = tmp_path_factory.mktemp("served") / MODEL
    push(exported[1], base_path, 1)
    with start_server(
        str(base_path), port=0, max_batch_size=MAX_BATCH, poll_seconds=POLL_SECONDS
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def stubs(server):
    opened = open_stubs(server.address)
    yield opened
    opened.channel.close()


# --- good requests -------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["", "serving_default"])
def test_predict_from_seeds(stubs, signature):
    response = stubs.prediction.Predict(predict_request([0, 1, 2], signature), timeout=30)
    images, pngs = images_and_pngs(response)
    assert images.dtype == np.uint8 and images.shape == (3, RESOLUTION, RESOLUTION, 1)
    assert len(pngs) == 3 and all(png.startswith(b"\x89PNG") for png in pngs)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_same_seed_gives_the_same_image_whatever_the_batch(stubs):
    first = images_and_pngs(stubs.prediction.Predict(predict_request([5, 6]), timeout=30))
    second = images_and_pngs(stubs.prediction.Predict(predict_request([6, 7, 8]), timeout=30))
    assert first[1][1] == second[1][0]
    np.testing.assert_array_equal(first[0][1], second[0][0])
    assert first[1][0] != first[1][1]


def test_from_latents_matches_the_seed_signature(stubs):
    latents = latents_from_seeds(tf.constant([3, 4], tf.int64), LATENT_DIM).numpy()
    request = predict_request(signature="from_latents", latents=tf.make_tensor_proto(latents))
    response = stubs.prediction.Predict(request, timeout=30)
    assert response.model_spec.signature_name == "from_latents"
    by_latents, _ = images_and_pngs(response)
    by_seeds, _ = images_and_pngs(stubs.prediction.Predict(predict_request([3, 4]), timeout=30))
    np.testing.assert_array_equal(by_latents, by_seeds)


def test_output_filter_returns_only_the_named_outputs(stubs):
    request = predict_request([1])
    request.output_filter.append("png")
    response = stubs.prediction.Predict(request, timeout=30)
    assert list(response.outputs) == ["png"]


def test_metadata_lists_both_signatures(stubs):
    response = stubs.prediction.GetModelMetadata(metadata_request(), timeout=30)
    assert response.model_spec.name == MODEL and response.model_spec.version.value == 1
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    by_seeds = signature_map.signature_def["serving_default"]
    by_latents = signature_map.signature_def["from_latents"]
    assert list(by_seeds.inputs) == ["seeds"]
    assert by_seeds.inputs["seeds"].dtype == types_pb2.DT_INT64
    assert list(by_latents.inputs) == ["latents"]
    assert by_latents.inputs["latents"].dtype == types_pb2.DT_FLOAT
    assert [d.size for d in by_latents.inputs["latents"].tensor_shape.dim] == [-1, LATENT_DIM]
    for signature in (by_seeds, by_latents):
        assert signature.outputs["images"].dtype == types_pb2.DT_UINT8
        assert signature.outputs["png"].dtype == types_pb2.DT_STRING
        assert signature.outputs["png_bytes"].dtype == types_pb2.DT_STRING
    # As TF Serving: the meta graph's whole map, the init op's entry included.
    assert set(signature_map.signature_def) == {
        "serving_default",
        "from_latents",
        "truncated",
        "seed_latents",
        "pngs",
        "__saved_model_init_op",
    }


def test_model_status_is_available(stubs):
    response = stubs.models.GetModelStatus(status_request(), timeout=30)
    [status] = response.model_version_status
    assert status.version == 1 and status.state == AVAILABLE


# --- bad requests --------------------------------------------------------------------------


def with_version(request, version=None, label=None):
    if label is not None:
        request.model_spec.version_label = label
    else:
        request.model_spec.version.value = version
    return request


def with_output_filter(request, *names):
    request.output_filter.extend(names)
    return request


BAD_PREDICTIONS = {
    "unknown model": (predict_request([1], model="nope"), grpc.StatusCode.NOT_FOUND, "nope"),
    "unknown version": (with_version(predict_request([1]), 7), grpc.StatusCode.NOT_FOUND, "7"),
    "unknown version label": (
        with_version(predict_request([1]), label="stable"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: stable",
    ),
    "unknown signature": (
        predict_request([1], signature="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "nope",
    ),
    "missing input": (predict_request(), grpc.StatusCode.INVALID_ARGUMENT, "seeds"),
    "extra input": (
        predict_request([1], extra=tf.make_tensor_proto([1])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "extra",
    ),
    "float seeds": (
        predict_request(seeds=tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'seeds' expects int64 [?], got float32 [2]",
    ),
    "rank-2 seeds": (
        predict_request([[1, 2]]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'seeds' expects int64 [?], got int64 [1, 2]",
    ),
    "wrong latent dim": (
        predict_request(
            signature="from_latents",
            latents=tf.make_tensor_proto(np.zeros((2, LATENT_DIM + 1), np.float32)),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        f"input 'latents' expects float32 [?, {LATENT_DIM}], got float32 [2, {LATENT_DIM + 1}]",
    ),
    "empty batch": (predict_request([]), grpc.StatusCode.INVALID_ARGUMENT, "seeds"),
    "batch too big": (
        predict_request(list(range(MAX_BATCH + 1))),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"max_batch_size {MAX_BATCH}",
    ),
    "unknown output": (
        with_output_filter(predict_request([1]), "nope"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "nope",
    ),
    "duplicate output": (
        with_output_filter(predict_request([1]), "png", "png"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "png",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PREDICTIONS))
def test_bad_predict_gets_exact_status_and_server_keeps_serving(stubs, case):
    request, code, message_part = BAD_PREDICTIONS[case]
    error = rpc_error(stubs.prediction.Predict, request)
    assert error.code() == code, error.details()
    assert message_part in error.details()
    assert stubs.prediction.Predict(predict_request([1]), timeout=30).model_spec.version.value == 1


def test_unknown_model_or_version_has_no_status_or_metadata(stubs):
    assert rpc_error(stubs.models.GetModelStatus, status_request("nope")).code() == (
        grpc.StatusCode.NOT_FOUND
    )
    versioned = with_version(status_request(), 7)
    assert rpc_error(stubs.models.GetModelStatus, versioned).code() == grpc.StatusCode.NOT_FOUND
    unknown = rpc_error(stubs.prediction.GetModelMetadata, metadata_request("nope"))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    no_field = metadata_request()
    del no_field.metadata_field[:]
    error = rpc_error(stubs.prediction.GetModelMetadata, no_field)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_classify_is_unimplemented_and_an_empty_config_reload_is_refused(stubs):
    classify = rpc_error(stubs.prediction.Classify, classification_pb2.ClassificationRequest())
    assert classify.code() == grpc.StatusCode.UNIMPLEMENTED and classify.details()
    reload = rpc_error(
        stubs.models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest()
    )
    assert reload.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model_config_list" in reload.details()
    assert stubs.prediction.Predict(predict_request([1]), timeout=30).outputs["png"]


def test_model_failure_is_internal_and_server_keeps_serving(server, stubs, monkeypatch):
    bundle = server.repository.latest().bundle
    real_run = bundle.run

    def run(signature, inputs, output_names=None, timeout_ms=0):
        if signature == "from_latents":
            raise RuntimeError("boom")
        return real_run(signature, inputs, output_names, timeout_ms)

    monkeypatch.setattr(bundle, "run", run)
    request = predict_request(
        signature="from_latents", latents=tf.make_tensor_proto(np.zeros((1, 8), np.float32))
    )
    error = rpc_error(stubs.prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INTERNAL and "boom" in error.details()
    assert stubs.prediction.Predict(predict_request([1]), timeout=30).outputs["png"]


def test_a_deadline_cuts_a_run_short_and_other_calls_are_answered_meanwhile(tmp_path):
    export_slow_model(str(tmp_path / "slow" / "1"))
    with start_server(str(tmp_path / "slow"), "slow", port=0) as handle:
        stubs = open_stubs(handle.address)
        running = stubs.prediction.Predict.future(predict_request([1], model="slow"), timeout=3)
        started = time.monotonic()
        statuses = stubs.models.GetModelStatus(status_request("slow"), timeout=10)
        assert statuses.model_version_status[0].state == AVAILABLE
        assert time.monotonic() - started < 2 and not running.done()
        with pytest.raises(grpc.RpcError) as caught:
            running.result()
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        stubs.channel.close()


def test_a_busy_port_is_an_error(server):
    with pytest.raises(ArtganError, match=str(server.port)):
        start_server(os.path.dirname(server.repository.latest().path), port=server.port)


# --- versions on disk ----------------------------------------------------------------------


def test_hot_reload_loads_a_newly_pushed_version(exported, tmp_path):
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 1)
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS) as handle:
        stubs = open_stubs(handle.address)
        _, before = images_and_pngs(stubs.prediction.Predict(predict_request([3]), timeout=30))
        # Still being written (no saved_model.pb) and broken: both ignored, version 1 serves on.
        shutil.copytree(os.path.join(exported[2], "variables"), base_path / "9" / "variables")
        (base_path / "5").mkdir()
        (base_path / "5" / "saved_model.pb").write_bytes(b"not a SavedModel")
        failed = wait_for_state(stubs, 5, END)
        assert failed.status.error_code != 0 and "saved_model.pb" in failed.status.error_message
        response = stubs.prediction.Predict(predict_request([3]), timeout=30)
        assert response.model_spec.version.value == 1
        assert images_and_pngs(response)[1] == before

        push(exported[2], base_path, 6)
        wait_for_version(stubs, 6)
        response = stubs.prediction.Predict(predict_request([3]), timeout=30)
        assert response.model_spec.version.value == 6
        assert images_and_pngs(response)[1] != before
        states = {s.version: s.state for s in status_of(stubs).model_version_status}
        assert states == {6: AVAILABLE, 5: END, 1: END}  # 1 unloaded once 6 was available
        old = rpc_error(stubs.prediction.Predict, with_version(predict_request([3]), 1))
        assert old.code() == grpc.StatusCode.NOT_FOUND
        stubs.channel.close()


def warmup_record(signature: str = "", **inputs) -> bytes:
    request = predict_request(signature=signature, **inputs)
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    ).SerializeToString()


def write_records(path: str, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


BROKEN_WARMUP = {
    "not a TFRecord": lambda path: open(path, "wb").write(b"garbage, not a TFRecord file"),
    "more than 1000 records": lambda path: write_records(
        path, [warmup_record(seeds=tf.make_tensor_proto([1], dtype=tf.int64))] * 1001
    ),
    "a failing request": lambda path: write_records(
        path, [warmup_record("nope", seeds=tf.make_tensor_proto([1], dtype=tf.int64))]
    ),
    "a classify log": lambda path: write_records(
        path,
        [
            prediction_log_pb2.PredictionLog(
                classify_log=prediction_log_pb2.ClassifyLog()
            ).SerializeToString()
        ],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_WARMUP))
def test_a_version_whose_warmup_fails_is_not_served(exported, tmp_path, case, caplog):
    """Like TF Serving: warmup runs before AVAILABLE, and its failure fails the whole load."""
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 1)
    staging = tmp_path / "v2"
    shutil.copytree(exported[2], staging)
    warmup_file = staging / "assets.extra" / "tf_serving_warmup_requests"
    assert warmup_file.is_file()  # every export carries one
    warmup_file.unlink()
    BROKEN_WARMUP[case](str(warmup_file))
    with start_server(str(base_path), port=0, poll_seconds=3600) as handle:
        push(str(staging), base_path, 2)
        assert not handle.repository.poll_once()
        assert "version 2" in caplog.text and "warmup" in caplog.text
        assert handle.served_version == 1
        stubs = open_stubs(handle.address)
        response = stubs.prediction.Predict(predict_request([3]), timeout=30)
        assert response.model_spec.version.value == 1
        stubs.channel.close()


def test_the_exported_warmup_file_is_replayed_at_load(exported, tmp_path, caplog):
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 1)
    caplog.set_level("INFO", logger="artgan.serving.repository")
    with start_server(str(base_path), port=0, poll_seconds=3600) as handle:
        assert handle.served_version == 1
    assert "version 1: replayed 10 warmup requests" in caplog.text  # 5 signatures x 2


def test_empty_base_path_serves_nothing_until_a_version_appears(exported, tmp_path):
    base_path = tmp_path / "not-yet"
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS) as handle:
        stubs = open_stubs(handle.address)
        status = rpc_error(stubs.models.GetModelStatus, status_request())
        assert status.code() == grpc.StatusCode.NOT_FOUND
        error = rpc_error(stubs.prediction.Predict, predict_request([1]))
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details() == f"Servable not found for request: Latest({MODEL})"
        push(exported[1], base_path, 1700000000)
        with GeneratorClient(handle.host, handle.port) as client:
            assert client.wait_until_available(MODEL, timeout_s=20) == 1700000000
        stubs.channel.close()


# --- client --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seeds",
    [("0-3,7", [0, 1, 2, 3, 7]), (" 5 ", [5]), ("2,2,1", [2, 1]), ("30-31, 20", [30, 31, 20])],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-", "-1", "1,,2", "0-999999999"])
def test_parse_seeds_rejects_bad_text(text):
    with pytest.raises(ArtganError, match="bad seeds"):
        parse_seeds(text)


def test_client_generates_in_chunks_and_writes_pngs(server, tmp_path):
    with GeneratorClient(server.host, server.port, max_batch_size=MAX_BATCH) as client:
        assert client.wait_until_available(MODEL, timeout_s=10) == 1
        result = client.generate(MODEL, range(6))
    assert result.version == 1 and result.seeds == list(range(6))
    assert result.images.shape == (6, RESOLUTION, RESOLUTION, 1)
    written = write_generated(result, str(tmp_path / "out"))
    assert [os.path.basename(path) for path in written["images"]] == [
        f"seed_000{seed}.png" for seed in range(6)
    ]
    for path, png, image in zip(written["images"], result.pngs, result.images, strict=True):
        assert open(path, "rb").read() == png
        assert np.asarray(Image.open(path)).shape == (RESOLUTION, RESOLUTION)
        np.testing.assert_array_equal(np.asarray(Image.open(path)), image[..., 0])
    grid = np.asarray(Image.open(written["grid"]))
    assert grid.shape == image_grid(result.images).shape[:2]


def test_client_errors_name_the_code_the_server_and_the_model(server):
    with GeneratorClient(server.host, server.port) as client:
        with pytest.raises(ArtganError, match="INVALID_ARGUMENT.*psi") as bad_psi:
            client.generate(MODEL, [1, 2], psi=float("nan"))
        assert server.address in str(bad_psi.value)
        with pytest.raises(ArtganError, match="NOT_FOUND.*Latest\\(nope\\)"):
            client.generate("nope", [1])
        with pytest.raises(ArtganError, match="nope") as timeout:
            client.wait_until_available("nope", timeout_s=0.3)
        assert server.address in str(timeout.value)


def test_sample_served_model_end_to_end(exported, tmp_path):
    base_path = tmp_path / MODEL
    push(exported[1], base_path, 3)
    written = sample_served_model(str(base_path), MODEL, "0-4", str(tmp_path / "samples"))
    assert written["version"] == 3 and len(written["images"]) == 5
    assert all(os.path.exists(path) for path in [*written["images"], written["grid"]])
    with pytest.raises(ArtganError, match="no model version"):
        sample_served_model(str(tmp_path / "empty"), MODEL, [1], str(tmp_path / "none"))


def test_class_conditional_model_serves_labels_and_rejects_unknown_ones(tmp_path):
    from artgan.config import DataConfig, TrainConfig
    from artgan.models.networks import build_networks

    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(train, DataConfig(resolution=8, channels=1), num_classes=3)
    export_generator(generator, LATENT_DIM, str(tmp_path / "base" / "1"), num_classes=3)
    with start_server(str(tmp_path / "base"), model_name=MODEL, port=0) as handle:
        with GeneratorClient(handle.host, handle.port) as client:
            client.wait_until_available(MODEL, timeout_s=20)
            zeros = client.generate(MODEL, [1, 2], labels=[0])
            twos = client.generate(MODEL, [1, 2], labels=[2, 2])
            assert zeros.images.shape == (2, 8, 8, 1)
            assert not np.array_equal(zeros.images, twos.images)
            with pytest.raises(ArtganError, match="INVALID_ARGUMENT.*labels must be < 3"):
                client.generate(MODEL, [1, 2], labels=[0, 3])
            with pytest.raises(ArtganError, match="2 labels for 3 seeds"):
                client.generate(MODEL, [1, 2, 3], labels=[0, 1])
            assert client.generate(MODEL, [4]).images.shape == (1, 8, 8, 1)
            # The documented from_latents contract (latents only) holds for conditional models.
            by_latents = client.predictions.Predict(
                predict_request(
                    signature="from_latents",
                    latents=tf.make_tensor_proto(np.zeros((2, LATENT_DIM), np.float32)),
                ),
                timeout=30,
            )
            assert tf.make_ndarray(by_latents.outputs["images"]).shape == (2, 8, 8, 1)
            cycled = client.generate(MODEL, [0, 1, 2, 3], labels=[0, 1, 2, 0])
    sampled = sample_served_model(str(tmp_path / "base"), MODEL, "0-3", str(tmp_path / "out"))
    for path, png in zip(sampled["images"], cycled.pngs, strict=True):
        with open(path, "rb") as f:
            assert f.read() == png  # seed s drawn as class s % 3


def test_outputs_use_tf_servings_typed_fields_unless_tensor_content_is_asked(exported, tmp_path):
    from artgan.config import ServerConfig

    push(exported[1], tmp_path / MODEL, 1)
    request = predict_request([1, 2])
    for as_content in (False, True):
        config = ServerConfig(enable_serialization_as_tensor_content=as_content)
        with start_server(str(tmp_path / MODEL), port=0, server=config) as handle:
            stubs = open_stubs(handle.address)
            images = stubs.prediction.Predict(request, timeout=30).outputs["images"]
            stubs.channel.close()
        shape = [dim.size for dim in images.tensor_shape.dim]
        assert images.dtype == types_pb2.DT_UINT8 and shape == [2, RESOLUTION, RESOLUTION, 1]
        if as_content:  # raw bytes, one per pixel value
            assert not images.int_val and len(images.tensor_content) == 2 * RESOLUTION**2
        else:  # Tensor::AsProtoField: uint8 values in int_val
            assert not images.tensor_content and len(images.int_val) == 2 * RESOLUTION**2
        assert tf.make_ndarray(images).shape == (2, RESOLUTION, RESOLUTION, 1)
