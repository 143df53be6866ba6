"""Output tensors as TF Serving writes them into a PredictResponse.

By default TF Serving fills the typed value fields (``Tensor::AsProtoField``: ``int_val`` for
uint8 images, ``string_val`` for PNGs, ...); with ``--enable_serialization_as_tensor_content``
numeric tensors go as raw ``tensor_content`` bytes instead (smaller and faster; strings stay in
``string_val``). ``tf.make_ndarray`` reads both.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# DataType -> the TensorProto field AsProtoField writes its values to.
VALUE_FIELDS = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
}


def output_tensor(array: np.ndarray, as_tensor_content: bool = False) -> tensor_pb2.TensorProto:
    """``array`` as the TensorProto TF Serving would answer with."""
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
        proto.string_val.extend(
            value if isinstance(value, bytes) else str(value).encode() for value in array.ravel()
        )
    else:
        dtype = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
        proto = tensor_pb2.TensorProto(dtype=dtype)
        field = VALUE_FIELDS.get(dtype)
        if as_tensor_content or field is None:
            proto.tensor_content = np.ascontiguousarray(array).tobytes()
        else:
            getattr(proto, field).extend(array.ravel().tolist())
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto
