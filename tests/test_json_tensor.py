"""TF Serving's JSON tensor format (util/json_tensor.cc) as the REST API reads and writes it."""

from __future__ import annotations

import base64
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from artgan.contract.requests import ServingError
from artgan.serving.json_tensor import (
    http_status,
    parse_predict_body,
    request_tensors,
    response_json,
)


def tensors(body: dict, **dtypes) -> dict[str, np.ndarray]:
    parsed = parse_predict_body(json.dumps(body).encode())
    return {name: tf.make_ndarray(proto) for name, proto in request_tensors(parsed, dtypes).items()}


def error_of(body, **dtypes) -> ServingError:
    with pytest.raises(ServingError) as caught:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        request_tensors(parse_predict_body(raw), dtypes)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value


def test_row_format_batches_instances_along_the_first_dimension():
    got = tensors({"instances": [[1.0, 2.0], [3.0, 4.5]]}, x=types_pb2.DT_FLOAT)
    assert got["x"].dtype == np.float32
    assert got["x"].tolist() == [[1.0, 2.0], [3.0, 4.5]]


def test_row_format_with_several_inputs_takes_one_object_per_instance():
    got = tensors(
        {"instances": [{"a": 1, "b": [0.5]}, {"a": 2, "b": [1.5]}]},
        a=types_pb2.DT_INT64,
        b=types_pb2.DT_FLOAT,
    )
    assert got["a"].tolist() == [1, 2] and got["b"].tolist() == [[0.5], [1.5]]


def test_columnar_format_takes_each_input_whole():
    got = tensors(
        {"inputs": {"a": [[1, 2, 3]], "b": 7}}, a=types_pb2.DT_INT32, b=types_pb2.DT_INT64
    )
    assert got["a"].shape == (1, 3) and got["b"].shape == ()


def test_b64_objects_decode_into_string_inputs():
    raw = bytes(range(256))
    encoded = base64.b64encode(raw).decode()
    rows = tensors({"instances": [{"b64": encoded}, "plain"]}, x=types_pb2.DT_STRING)
    assert rows["x"].tolist() == [raw, b"plain"]
    columns = tensors({"inputs": {"b64": encoded.rstrip("=")}}, x=types_pb2.DT_STRING)
    assert columns["x"].tolist() == raw  # padding is optional, as in absl::Base64Unescape
    assert (
        "Unable to base64 decode"
        in error_of({"inputs": {"b64": "@@@"}}, x=types_pb2.DT_STRING).message
    )
    assert (
        "Type: Object is not of expected type: int64"
        in error_of({"instances": [{"b64": "AAAA"}]}, x=types_pb2.DT_INT64).message
    )


@pytest.mark.parametrize(
    ("body", "dtype", "message"),
    [
        (
            {"instances": [1.5]},
            types_pb2.DT_INT64,
            "JSON Value: 1.5 Type: Number is not of expected type: int64",
        ),
        ({"instances": [True]}, types_pb2.DT_INT64, "Type: True is not of expected type: int64"),
        ({"instances": [2**31]}, types_pb2.DT_INT32, "is not of expected type: int32"),
        ({"instances": [1]}, types_pb2.DT_BOOL, "is not of expected type: bool"),
        ({"instances": [None]}, types_pb2.DT_FLOAT, "Type: Null is not of expected type: float"),
        ({"instances": [2**24]}, types_pb2.DT_FLOAT, "to float without loss of precision"),
        ({"instances": [1e39]}, types_pb2.DT_FLOAT, "to float without loss of precision"),
        ({"instances": [[1, 2], [3]]}, types_pb2.DT_INT64, "Expecting tensor size: 2 but got: 1"),
        (
            {"inputs": [[1, [2]]]},
            types_pb2.DT_INT64,
            "Encountered list at unexpected level: 2 expected < 2",
        ),
        ({"inputs": [[1], 2]}, types_pb2.DT_INT64, "2 found at incorrect level: 2 in the JSON DOM"),
    ],
)
def test_values_that_do_not_fit_the_dtype_or_shape_are_refused(body, dtype, message):
    assert message in error_of(body, x=dtype).message


def test_several_inputs_need_objects():
    dtypes = {"a": types_pb2.DT_INT64, "b": types_pb2.DT_INT64}
    assert "instances is a plain list" in error_of({"instances": [1]}, **dtypes).message
    assert "inputs is a plain value/list" in error_of({"inputs": [1]}, **dtypes).message
    missing = error_of({"instances": [{"a": 1}]}, **dtypes).message
    assert "keys must be equal to: a,b" in missing
    mixed = error_of({"instances": [{"a": 1, "b": 2}, [1]]}, **dtypes).message
    assert mixed == "Expecting object but got list at item 1 of input list"


def test_nan_and_infinity_are_accepted_for_floats():
    got = tensors({"instances": [float("nan"), float("inf")]}, x=types_pb2.DT_FLOAT)
    assert np.isnan(got["x"][0]) and np.isinf(got["x"][1])


def test_one_output_omits_its_name_and_several_are_keyed():
    images = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    assert json.loads(response_json(True, {"images": images})) == {
        "predictions": [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    }
    assert json.loads(response_json(False, {"images": images})) == {"outputs": images.tolist()}
    both = json.loads(response_json(True, {"images": images, "ids": np.array([7, 8], np.int64)}))
    assert both["predictions"][1] == {"ids": 8, "images": [[4, 5], [6, 7]]}
    columns = json.loads(response_json(False, {"images": images, "ids": np.array([7, 8])}))
    assert columns == {"outputs": {"ids": [7, 8], "images": images.tolist()}}


def test_string_outputs_are_base64_only_under_a_bytes_name():
    raw = b'\x89PNG\r\n"\\\x00\xff'
    strings = np.array([raw], dtype=object)
    written = response_json(True, {"png": strings, "png_bytes": strings})
    # rapidjson's escapes for quotes, backslashes and control bytes; other bytes as they are.
    assert b'"png":"\x89PNG\\r\\n\\"\\\\\\u0000\xff"' in written
    rows = json.loads(written.decode("latin-1"))["predictions"]
    assert base64.b64decode(rows[0]["png_bytes"]["b64"]) == raw


@pytest.mark.parametrize("size", [255, 256, 20_000])  # short strings and PNG-sized ones
def test_every_byte_of_a_binary_string_output_reads_back(size):
    raw = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    raw += bytes(range(256))  # every byte value at least once
    written = response_json(False, {"png": np.array([raw], dtype=object)})
    (text,) = json.loads(written.decode("latin-1"))["outputs"]
    assert text.encode("latin-1") == raw


def test_integer_and_boolean_outputs_are_json_numbers_and_booleans():
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3) * 21
    written = response_json(True, {"images": images, "ok": np.array([True, False])})
    rows = json.loads(written)["predictions"]
    assert [row["images"] for row in rows] == images.tolist()
    assert [row["ok"] for row in rows] == [True, False]
    for dtype in (np.int8, np.int32, np.int64, np.uint16, np.uint64):
        values = np.array([[0, 1], [2, 127]], dtype=dtype)[:, ::-1]  # not C-contiguous
        assert response_json(False, {"x": values}) == b'{"outputs":[[1,0],[127,2]]}'
    assert response_json(False, {"x": np.zeros((2, 0), np.uint8)}) == b'{"outputs":[[],[]]}'


def test_floats_are_written_without_noise_digits():
    values = np.array([0.2, 1.0, 3e-5, np.nan, -np.inf], np.float32)
    assert response_json(False, {"x": values}) == b'{"outputs":[0.2,1.0,3e-05,NaN,-Infinity]}'


def test_row_outputs_must_share_a_batch_size():
    with pytest.raises(ServingError, match="inconsistent batch size"):
        response_json(True, {"a": np.zeros(2), "b": np.zeros(3)})
    assert (
        json.loads(response_json(False, {"a": np.zeros(2), "b": np.zeros(3)}))["outputs"]["b"]
        == [0.0] * 3
    )


def test_http_status_follows_tf_serving():
    assert [
        http_status(code)
        for code in (
            grpc.StatusCode.OK,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.INTERNAL,
        )
    ] == [200, 400, 400, 404, 429, 501, 503, 504, 500]


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 2), (1, 1), (2, 1, 3, 1), (0,)])
def test_uint8_images_are_written_as_nested_lists_of_numbers(shape):
    values = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    assert json.loads(response_json(False, {"images": values})) == {"outputs": values.tolist()}
