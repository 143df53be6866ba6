"""TF Serving's Predict semantics on one loaded SavedModel: input checks, output filter, run.

Failures raise ``ServingError`` with the status code and message real TF Serving would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from artgan.contract import DEFAULT_SIGNATURE
from artgan.contract.bundle import SavedModelBundle


class ServingError(Exception):
    """A request failure carrying the gRPC status code to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def format_shape(dims: Iterable[int | None]) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in dims) + "]"


def dtype_name(proto: tensor_pb2.TensorProto) -> str:
    try:
        return tf.dtypes.as_dtype(proto.dtype).name
    except TypeError:
        return f"<dtype enum {proto.dtype}>"


def check_input(name: str, proto: tensor_pb2.TensorProto, spec: tf.TensorSpec) -> list[int]:
    """Checks one input's dtype and shape against the signature; returns its dimensions."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    expected_dims = spec.shape.as_list() if spec.shape.rank is not None else None
    matches = (
        not proto.tensor_shape.unknown_rank
        and dtype_name(proto) == spec.dtype.name
        and all(dim >= 0 for dim in dims)
        and (
            expected_dims is None
            or (
                len(dims) == len(expected_dims)
                and all(
                    want is None or want == got
                    for want, got in zip(expected_dims, dims, strict=True)
                )
            )
        )
    )
    if not matches:
        expected = "[...]" if expected_dims is None else format_shape(expected_dims)
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input '{name}' expects {spec.dtype.name} {expected}, "
            f"got {dtype_name(proto)} {format_shape(dims)}",
        )
    return dims


def check_batch_size(
    dims_by_input: Mapping[str, list[int]], specs: Mapping[str, tf.TensorSpec], max_batch: int
) -> None:
    """All batched inputs share one batch size N, with 1 <= N <= ``max_batch``."""
    sizes = {
        name: dims[0]
        for name, dims in dims_by_input.items()
        if specs[name].shape.rank and specs[name].shape[0] is None
    }
    if len(set(sizes.values())) > 1:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT, f"inputs have different batch sizes: {sizes}"
        )
    for name, size in sizes.items():
        if size == 0:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' is empty")
        if size > max_batch:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"input '{name}' has a batch of {size}, more than this server's "
                f"max_batch_size {max_batch}: split the request",
            )


def decode_inputs(
    inputs: Mapping[str, tensor_pb2.TensorProto],
    specs: Mapping[str, tf.TensorSpec],
    signature_name: str,
    max_batch: int,
) -> dict[str, np.ndarray]:
    """Validates the request's inputs against the signature and converts them to arrays."""
    missing = sorted(set(specs) - set(inputs))
    extra = sorted(set(inputs) - set(specs))
    if missing or extra:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"inputs do not match signature '{signature_name}' (expects {sorted(specs)}): "
            f"missing {missing}, unknown {extra}",
        )
    dims_by_input = {name: check_input(name, inputs[name], specs[name]) for name in specs}
    check_batch_size(dims_by_input, specs, max_batch)
    arrays = {}
    for name, spec in specs.items():
        try:
            array = tf.make_ndarray(inputs[name])
        except Exception as error:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' cannot be decoded: {error}"
            ) from error
        arrays[name] = np.asarray(array, dtype=spec.dtype.as_numpy_dtype)
    return arrays


def select_outputs(output_names: Sequence[str], output_filter: Iterable[str]) -> list[str]:
    """The output aliases to return: the filter (checked), or all of them."""
    names = sorted(output_names)
    chosen: list[str] = []
    for alias in output_filter:
        if alias not in names:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} "
                f"Outputs expected to be in the set {{{','.join(names)}}}.",
            )
        if alias in chosen:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {alias}"
            )
        chosen.append(alias)
    return chosen or names


def model_check_message(error: tf.errors.InvalidArgumentError) -> str:
    """The failed assertion's own line (e.g. "labels must be < 3 ..."), not the graph dump."""
    for line in error.message.splitlines():
        if "assertion failed:" in line:
            return line.split("assertion failed:", 1)[1].strip()
    return error.message.strip().splitlines()[0]


def run_signature(
    bundle: SavedModelBundle,
    signature_name: str,
    inputs: Mapping[str, tensor_pb2.TensorProto],
    output_filter: Iterable[str],
    max_batch_size: int,
    timeout_ms: int = 0,
    run: Callable[..., dict[str, np.ndarray]] | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Checks a Predict request's inputs and runs it: (effective signature name, outputs);
    DEADLINE_EXCEEDED after ``timeout_ms`` (0: no limit). ``run`` (default ``bundle.run``)
    takes (signature name, inputs, output names, timeout_ms), e.g. to batch requests."""
    signature_name = signature_name or DEFAULT_SIGNATURE
    if signature_name not in bundle.signature_defs:
        raise ServingError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f'Serving signature key "{signature_name}" not found.',
        )
    specs = bundle.input_specs(signature_name)
    arrays = decode_inputs(inputs, specs, signature_name, max_batch_size)
    output_names = select_outputs(
        list(bundle.signature_defs[signature_name].outputs), output_filter
    )
    try:
        run = run or bundle.run
        return signature_name, run(signature_name, arrays, output_names, timeout_ms)
    except ServingError:  # e.g. the batch scheduler's own limits
        raise
    except tf.errors.DeadlineExceededError as error:
        raise ServingError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"signature '{signature_name}' ran past the {timeout_ms} ms deadline",
        ) from error
    except tf.errors.InvalidArgumentError as error:  # the model's own input checks
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"signature '{signature_name}' rejected its inputs: {model_check_message(error)}",
        ) from error
    except Exception as error:
        raise ServingError(
            grpc.StatusCode.INTERNAL,
            f"signature '{signature_name}' of {bundle.path} failed: "
            f"{type(error).__name__}: {error}",
        ) from error
