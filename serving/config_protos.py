"""TF Serving's config messages that ``tensorflow-serving-api`` does not ship: BatchingParameters
(servables/tensorflow/session_bundle_config.proto), SSLConfig (config/ssl_config.proto) and
MonitoringConfig (config/monitoring_config.proto), built from their field lists so that the very
text files tensorflow_model_server reads parse here with protobuf's own text format.
"""

from __future__ import annotations

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from artgan.errors import ArtganError

PACKAGE = "tensorflow.serving"
FieldProto = descriptor_pb2.FieldDescriptorProto
INT64_VALUE = ".google.protobuf.Int64Value"
STRING_VALUE = ".google.protobuf.StringValue"

# message -> [(field, number, type, label, message type name)]
MESSAGES = {
    "BatchingParameters": [
        ("max_batch_size", 1, FieldProto.TYPE_MESSAGE, FieldProto.LABEL_OPTIONAL, INT64_VALUE),
        (
            "batch_timeout_micros",
            2,
            FieldProto.TYPE_MESSAGE,
            FieldProto.LABEL_OPTIONAL,
            INT64_VALUE,
        ),
        (
            "max_enqueued_batches",
            3,
            FieldProto.TYPE_MESSAGE,
            FieldProto.LABEL_OPTIONAL,
            INT64_VALUE,
        ),
        ("num_batch_threads", 4, FieldProto.TYPE_MESSAGE, FieldProto.LABEL_OPTIONAL, INT64_VALUE),
        ("thread_pool_name", 5, FieldProto.TYPE_MESSAGE, FieldProto.LABEL_OPTIONAL, STRING_VALUE),
        ("allowed_batch_sizes", 6, FieldProto.TYPE_INT64, FieldProto.LABEL_REPEATED, None),
        ("pad_variable_length_inputs", 7, FieldProto.TYPE_BOOL, FieldProto.LABEL_OPTIONAL, None),
    ],
    "SSLConfig": [
        ("server_key", 1, FieldProto.TYPE_STRING, FieldProto.LABEL_OPTIONAL, None),
        ("server_cert", 2, FieldProto.TYPE_STRING, FieldProto.LABEL_OPTIONAL, None),
        ("custom_ca", 3, FieldProto.TYPE_STRING, FieldProto.LABEL_OPTIONAL, None),
        ("client_verify", 4, FieldProto.TYPE_BOOL, FieldProto.LABEL_OPTIONAL, None),
    ],
    "PrometheusConfig": [
        ("enable", 1, FieldProto.TYPE_BOOL, FieldProto.LABEL_OPTIONAL, None),
        ("path", 2, FieldProto.TYPE_STRING, FieldProto.LABEL_OPTIONAL, None),
    ],
    "MonitoringConfig": [
        (
            "prometheus_config",
            1,
            FieldProto.TYPE_MESSAGE,
            FieldProto.LABEL_OPTIONAL,
            f".{PACKAGE}.PrometheusConfig",
        ),
    ],
}


def _build_classes() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="artgan/tf_serving_config.proto",
        package=PACKAGE,
        syntax="proto3",
        dependency=[wrappers.name],
    )
    for name, fields in MESSAGES.items():
        message = file_proto.message_type.add(name=name)
        for field, number, kind, label, type_name in fields:
            entry = message.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                entry.type_name = type_name
    pool.Add(file_proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in MESSAGES
    }


_CLASSES = _build_classes()
BatchingParameters = _CLASSES["BatchingParameters"]
SSLConfig = _CLASSES["SSLConfig"]
MonitoringConfig = _CLASSES["MonitoringConfig"]


def read_text_proto(path: str, message_class: type, flag: str):
    """A text-format message from ``path``; ArtganError naming the flag and file otherwise."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as error:
        raise ArtganError(f"{flag} {path}: cannot read it: {error.strerror}") from error
    message = message_class()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ArtganError(
            f"{flag} {path} is not a text-format {message_class.DESCRIPTOR.name}: {error}"
        ) from error
    return message
