"""TF Serving's model config: the text-format ModelServerConfig file, checked by its rules.

``--model-config-file`` holds ``model_config_list { config { name base_path model_platform
model_version_policy version_labels } }``; without it the server serves one model from
``--model-name`` and ``--model-base-path``, as tensorflow_model_server does.
"""

from __future__ import annotations

import grpc
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from artgan.contract.requests import ServingError

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
PLATFORM = "tensorflow"


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    """The config tensorflow_model_server builds from --model_name and --model_base_path."""
    config = ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = PLATFORM
    return config


def parse_config_text(text: str, source: str) -> ModelServerConfig:
    """A text-format ModelServerConfig; INVALID_ARGUMENT naming ``source`` if it does not parse."""
    config = ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT, f"{source} is not a ModelServerConfig: {error}"
        ) from error
    return config


def read_config_file(path: str) -> ModelServerConfig:
    """The ModelServerConfig in ``path`` (local or a tf.io.gfile URI), checked."""
    try:
        with tf.io.gfile.GFile(path) as file:
            text = file.read()
    except (tf.errors.OpError, OSError) as error:
        raise ServingError(
            grpc.StatusCode.NOT_FOUND, f"cannot read model config file {path}: {error}"
        ) from error
    config = parse_config_text(text, f"model config file {path}")
    check_config(config)
    return config


def is_relative(uri: str) -> bool:
    """TF Serving's UriIsRelativePath: no scheme, no host and not an absolute path."""
    return "://" not in uri and not uri.startswith("/")


def check_config(config: ModelServerConfig) -> None:
    """INVALID_ARGUMENT for what ServerCore refuses: no model_config_list, a name listed twice,
    a relative base path, a platform other than tensorflow."""
    if config.WhichOneof("config") != "model_config_list":
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "ServerModelConfig type not supported: only model_config_list is",
        )
    names: set[str] = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "a model config has no name")
        if model.name in names:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Illegal to list model {model.name} multiple times in config list",
            )
        names.add(model.name)
        if is_relative(model.base_path):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expected model {model.name} to have an absolute path or URI; got "
                f"base_path()={model.base_path}",
            )
        if model.model_platform not in ("", PLATFORM):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Model {model.name} requests unsupported platform {model.model_platform}",
            )


def aspired_versions(model: ModelConfig, on_disk: list[int]) -> list[int]:
    """The versions ``model``'s version policy wants served, of those on disk (ascending):
    the latest N (default and at least 1), all, or the specific ones listed."""
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return sorted(on_disk)
    if choice == "specific":
        return sorted(set(on_disk) & set(policy.specific.versions))
    count = policy.latest.num_versions if choice == "latest" else 1
    return sorted(on_disk)[-max(count, 1) :] if on_disk else []
