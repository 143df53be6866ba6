"""TF Serving's JSON tensor format (util/json_tensor.cc): Predict bodies in, predictions out.

A body is ``{"signature_name": ..., "instances": [...]}`` (row format, answered with
``{"predictions": ...}``) or ``{"inputs": ...}`` (columnar, answered with ``{"outputs": ...}``).
``{"b64": "..."}`` is a DT_STRING value; DT_STRING outputs named ``*_bytes`` are written as
``{"b64": ...}`` and others as raw bytes in a JSON string, byte for byte as TF Serving writes them.
Errors are ``ServingError`` with TF Serving's codes and messages.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import grpc
import numpy as np
import orjson
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from artgan.contract.requests import ServingError

SIGNATURE_KEY = "signature_name"
INSTANCES_KEY = "instances"
INPUTS_KEY = "inputs"
PREDICTIONS_KEY = "predictions"
OUTPUTS_KEY = "outputs"
ERROR_KEY = "error"
BASE64_KEY = "b64"
BYTES_SUFFIX = "_bytes"

ROW = "row"
COLUMNAR = "columnar"

# TF Serving's error-code -> HTTP status mapping (model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# DataTypeString() spellings that differ from numpy's.
DTYPE_NAMES = {types_pb2.DT_FLOAT: "float", types_pb2.DT_DOUBLE: "double"}
SMALL_INTS = (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8)
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
FLOAT_MAX_INT = {types_pb2.DT_FLOAT: 2**24 - 1, types_pb2.DT_DOUBLE: 2**53 - 1}
FLOAT_MAX = {types_pb2.DT_FLOAT: float(np.finfo(np.float32).max), types_pb2.DT_DOUBLE: math.inf}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def dtype_string(dtype: int) -> str:
    if dtype in DTYPE_NAMES:
        return DTYPE_NAMES[dtype]
    try:
        return tf.dtypes.as_dtype(dtype).name
    except TypeError:
        return types_pb2.DataType.Name(dtype)


def value_text(value: Any) -> str:
    """A JSON value as error messages quote it."""
    return json.dumps(value, separators=(",", ":"))


def type_name(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


@dataclasses.dataclass(frozen=True)
class PredictBody:
    """A parsed Predict body: its signature name ("" = default), format and tensors' JSON."""

    signature_name: str
    row_format: bool
    payload: Any


def parse_predict_body(body: bytes) -> PredictBody:
    """Parses the JSON document and checks its top-level keys (FillPredictRequestFromJson)."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        message, offset = (
            (error.msg, error.pos)
            if isinstance(error, json.JSONDecodeError)
            else ("Invalid encoding in string.", error.start)
        )
        raise invalid(f"JSON Parse error: {message} at offset: {offset}") from error
    if not isinstance(document, dict):
        raise invalid(f"JSON Value: {value_text(document)} Is not object")
    signature_name = document.get(SIGNATURE_KEY, "")
    if not isinstance(signature_name, str):
        raise invalid(
            f"JSON Value: {value_text(document)} not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    if INSTANCES_KEY in document and INPUTS_KEY in document:
        raise invalid(
            f"JSON Value: {value_text(document)} Not formatted correctly expecting only one of "
            f"'{INPUTS_KEY}' or '{INSTANCES_KEY}' keys to exist "
        )
    if INSTANCES_KEY in document:
        instances = document[INSTANCES_KEY]
        if not isinstance(instances, list):
            raise invalid(
                f"JSON Value: {value_text(document)} Excepting '{INSTANCES_KEY}' to be an "
                "list/array"
            )
        if not instances:
            raise invalid(
                f"JSON Value: {value_text(document)} No values in '{INSTANCES_KEY}' array"
            )
        return PredictBody(signature_name, True, instances)
    if INPUTS_KEY in document:
        return PredictBody(signature_name, False, document[INPUTS_KEY])
    raise invalid("Missing 'inputs' or 'instances' key")


def is_base64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(BASE64_KEY), str)


def decode_base64_object(value: Any) -> bytes:
    if not is_base64_object(value):
        raise invalid(f"JSON Value: {value_text(value)} not formatted correctly for base64 data")
    text = "".join(value[BASE64_KEY].split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise invalid("Unable to base64 decode") from error


def type_error(value: Any, dtype: int) -> ServingError:
    return invalid(
        f"JSON Value: {value_text(value)} Type: {type_name(value)} is not of expected type: "
        f"{dtype_string(dtype)}"
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def convert_value(value: Any, dtype: int) -> Any:
    """One JSON leaf as a value of ``dtype`` (AddValueToTensor)."""
    if dtype in FLOAT_MAX:
        if not is_number(value):
            raise type_error(value, dtype)
        lossless = (
            abs(value) <= FLOAT_MAX_INT[dtype]
            if isinstance(value, int)
            else not math.isfinite(value) or abs(value) <= FLOAT_MAX[dtype]
        )
        if not lossless:
            raise invalid(
                f"Cannot convert JSON value: {value_text(value)} to {dtype_string(dtype)} "
                "without loss of precision."
            )
        return value
    if dtype in SMALL_INTS:
        if not is_integer(value, *INT32_RANGE):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_INT64:
        if not is_integer(value, *INT64_RANGE):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_UINT32:
        if not is_integer(value, 0, 2**32 - 1):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_UINT64:
        if not is_integer(value, 0, 2**64 - 1):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_BOOL:
        if not isinstance(value, bool):
            raise type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise type_error(value, dtype)
        return value.encode("utf-8", "surrogatepass")
    raise ServingError(
        grpc.StatusCode.UNIMPLEMENTED,
        f"Conversion of JSON Value: {value_text(value)} to type: {dtype_string(dtype)}",
    )


def dense_shape(value: Any) -> list[int]:
    """The shape implied by following the first element of each nested list."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def fill_values(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    """Appends ``value``'s leaves to ``out`` checking it is dense with ``shape``
    (FillTensorProto)."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid(
                f"JSON Value: {value_text(value)} found at incorrect level: {level + 1} in the "
                f"JSON DOM. Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != types_pb2.DT_STRING:
                raise type_error(value, dtype)
            out.append(decode_base64_object(value))
        else:
            out.append(convert_value(value, dtype))
        return
    if level >= rank:
        raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected "
            f"size: {shape[level]}"
        )
    for item in value:
        fill_values(item, level + 1, shape, dtype, out)


def to_array(values: list, shape: list[int], dtype: int) -> np.ndarray:
    numpy_dtype = (
        object if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype
    )
    return np.array(values, dtype=numpy_dtype).reshape(shape)


def tensor_from_json(value: Any, dtype: int) -> tuple[list[int], list]:
    shape = dense_shape(value)
    values: list = []
    fill_values(value, 0, shape, dtype, values)
    return shape, values


def status_text(error: ServingError) -> str:
    """Status::ToString(): the code's name, then the message."""
    return f"{error.code.name}: {error.message}"


def rows_to_arrays(instances: list, input_dtypes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Row format: each instance is one batch element (FillTensorMapFromInstancesList)."""
    first = instances[0]
    if not isinstance(first, dict) and len(input_dtypes) > 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )

    def is_element_object(value: Any) -> bool:
        return isinstance(value, dict) and not is_base64_object(value)

    objects = is_element_object(first)
    input_names = sorted(input_dtypes)
    values: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def add_item(item: Any, name: str) -> None:
        if name not in input_dtypes:
            raise invalid(f"JSON object: does not have named input: {name}")
        shape, leaves = tensor_from_json(item, input_dtypes[name])
        if name not in sizes:
            sizes[name], shapes[name] = len(leaves), shape
        elif sizes[name] != len(leaves):
            raise invalid(f"Expecting tensor size: {sizes[name]} but got: {len(leaves)}")
        elif shapes[name] != shape:
            raise invalid(
                f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                f"[{','.join(map(str, shape))}]"
            )
        values.setdefault(name, []).extend(leaves)

    for index, element in enumerate(instances):
        if objects:
            if not is_element_object(element):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for name, item in element.items():
                try:
                    add_item(item, name)
                except ServingError as error:
                    raise invalid(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {status_text(error)}"
                    ) from error
            if sorted(element) != input_names:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{value_text(element)} keys must be equal to: {','.join(input_names)}"
                )
        else:
            if is_element_object(element):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                add_item(element, input_names[0])
            except ServingError as error:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. Error: "
                    f"{status_text(error)}"
                ) from error
    return {
        name: to_array(values[name], [len(instances), *shapes[name]], input_dtypes[name])
        for name in values
    }


def columns_to_arrays(inputs: Any, input_dtypes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Columnar format: one value per input (FillTensorMapFromInputsMap)."""
    if not isinstance(inputs, dict) or is_base64_object(inputs):
        if len(input_dtypes) > 1:
            raise invalid(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        (name,) = input_dtypes
        shape, leaves = tensor_from_json(inputs, input_dtypes[name])
        return {name: to_array(leaves, shape, input_dtypes[name])}
    arrays = {}
    for name in sorted(input_dtypes):
        if name not in inputs:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        shape, leaves = tensor_from_json(inputs[name], input_dtypes[name])
        arrays[name] = to_array(leaves, shape, input_dtypes[name])
    return arrays


def request_tensors(
    body: PredictBody, input_dtypes: Mapping[str, int]
) -> dict[str, tensor_pb2.TensorProto]:
    """The body's tensors for a signature whose inputs have ``input_dtypes`` (DataType enums)."""
    if not input_dtypes:
        raise invalid(f"Failed to get input map for signature: {body.signature_name or 'DEFAULT'}")
    convert = rows_to_arrays if body.row_format else columns_to_arrays
    arrays = convert(body.payload, input_dtypes)
    tensors = {}
    for name, array in arrays.items():
        tensor = tf.make_tensor_proto(array, dtype=tf.dtypes.as_dtype(input_dtypes[name]))
        tensors[name] = tensor
    return tensors


# Response writing: rapidjson's output, byte for byte where clients can see it.

ESCAPES = {
    ord('"'): b'\\"',
    ord("\\"): b"\\\\",
    8: b"\\b",
    9: b"\\t",
    10: b"\\n",
    12: b"\\f",
    13: b"\\r",
}
ESCAPE_TABLE = {
    code: ESCAPES.get(code, f"\\u{code:04X}".encode()) for code in [*range(0x20), 0x22, 0x5C]
}


NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')
# Each byte's JSON text, NUL-padded to 6 bytes; no text contains NUL (0x00 itself is escaped).
ESCAPED_BYTES = np.zeros((256, 6), dtype=np.uint8)
for _code in range(256):
    _text = ESCAPE_TABLE.get(_code, bytes([_code]))
    ESCAPED_BYTES[_code, : len(_text)] = np.frombuffer(_text, dtype=np.uint8)
LONG_STRING = 256  # bytes: from here on binary strings (PNGs) are escaped with numpy


def json_string(raw: bytes) -> bytes:
    """A byte string as rapidjson writes it: quotes, backslashes and control characters
    escaped, every other byte (UTF-8 or not) as is."""
    if len(raw) < LONG_STRING:
        return b'"' + NEEDS_ESCAPE.sub(lambda match: ESCAPE_TABLE[match.group()[0]], raw) + b'"'
    padded = ESCAPED_BYTES[np.frombuffer(raw, dtype=np.uint8)].ravel()
    return b'"' + padded[padded != 0].tobytes() + b'"'


def decimal_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = repr(value)
    return text if ("." in text or "e" in text) else text + ".0"


def leaf_writer(array: np.ndarray, as_bytes: bool):
    """A function writing one element of ``array`` as JSON bytes."""
    kind = array.dtype.kind
    if kind in "OSU":
        if as_bytes:
            return lambda value: b'{"b64":"' + base64.b64encode(bytes(value)) + b'"}'
        return lambda value: json_string(value if isinstance(value, bytes) else str(value).encode())
    if kind == "b":
        return lambda value: b"true" if value else b"false"
    if kind == "f":
        # The shortest text that reads back as the same float32/float64 (no noise digits).
        return lambda value: decimal_text(float(str(value))).encode()
    return lambda value: str(int(value)).encode()


def tensor_json(array: np.ndarray, as_bytes: bool, skip_batch_index: int | None = None) -> bytes:
    """``array`` (or its row ``skip_batch_index``) as nested JSON lists (AddTensorValues)."""
    write = leaf_writer(array, as_bytes)
    if skip_batch_index is not None:
        array = array[skip_batch_index, ...]  # a 0-d array, even of objects
    if array.ndim == 0:
        return write(array[()])
    if array.dtype.kind in "iub" and not as_bytes:
        # orjson writes numpy's integers and booleans in C: 16k pixels in about 0.2 ms
        return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)

    def nested(part: np.ndarray) -> bytes:
        if part.ndim == 1:
            return b"[" + b",".join(write(value) for value in part) + b"]"
        return b"[" + b",".join(nested(sub) for sub in part) + b"]"

    return nested(array)


def response_json(row_format: bool, outputs: Mapping[str, np.ndarray]) -> bytes:
    """``{"predictions": ...}`` (rows) or ``{"outputs": ...}`` (columnar); one output omits
    its name (MakeJsonFromTensors)."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    keyed = len(names) > 1
    as_bytes = {
        name: name.endswith(BYTES_SUFFIX) and outputs[name].dtype.kind in "OSU" for name in names
    }
    if not row_format:
        if not keyed:
            return b'{"outputs":' + tensor_json(outputs[names[0]], as_bytes[names[0]]) + b"}"
        parts = [
            json_string(name.encode()) + b":" + tensor_json(outputs[name], as_bytes[name])
            for name in names
        ]
        return b'{"outputs":{' + b",".join(parts) + b"}}"
    batch = None
    for name in names:
        if outputs[name].ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        size = outputs[name].shape[0]
        if batch is not None and size != batch:
            raise invalid(
                f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}"
            )
        batch = size
    rows = []
    for index in range(batch or 0):
        if keyed:
            parts = [
                json_string(name.encode())
                + b":"
                + tensor_json(outputs[name], as_bytes[name], index)
                for name in names
            ]
            rows.append(b"{" + b",".join(parts) + b"}")
        else:
            rows.append(tensor_json(outputs[names[0]], as_bytes[names[0]], index))
    return b'{"predictions":[' + b",".join(rows) + b"]}"


def error_json(message: str) -> bytes:
    return json.dumps({ERROR_KEY: message}).encode()
