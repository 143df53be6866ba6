"""TF Serving's model config file: parsing, ServerCore's checks and the version policies."""

from __future__ import annotations

import grpc
import pytest

from artgan.contract.requests import ServingError
from artgan.serving.model_config import (
    aspired_versions,
    parse_config_text,
    read_config_file,
    single_model_config,
)

TWO_MODELS = """
model_config_list {
  config {
    name: "emoji"
    base_path: "/models/emoji"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 3 }
    version_labels { key: "canary" value: 4 }
  }
  config {
    name: "sprites"
    base_path: "gs://bucket/sprites"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 2 versions: 5 } }
  }
}
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "models.config"
    path.write_text(text)
    return str(path)


def test_a_config_file_lists_models_with_policies_and_labels(tmp_path):
    config = read_config_file(write(tmp_path, TWO_MODELS))
    emoji, sprites = config.model_config_list.config
    assert (emoji.name, emoji.base_path, sprites.base_path) == (
        "emoji",
        "/models/emoji",
        "gs://bucket/sprites",
    )
    assert dict(emoji.version_labels) == {"stable": 3, "canary": 4}
    assert aspired_versions(emoji, [1, 3, 4]) == [1, 3, 4]
    assert aspired_versions(sprites, [1, 2, 3, 4]) == [2]


@pytest.mark.parametrize(
    ("policy", "on_disk", "aspired"),
    [
        ("", [1, 7, 3], [7]),  # unset: the latest one
        ("model_version_policy { latest { num_versions: 2 } }", [1, 7, 3], [3, 7]),
        ("model_version_policy { latest { num_versions: 5 } }", [1, 7], [1, 7]),
        ("model_version_policy { latest {} }", [1, 7], [7]),  # at least one
        ("model_version_policy { all {} }", [2, 1], [1, 2]),
        ("model_version_policy { specific { versions: 9 } }", [1, 2], []),
        ("", [], []),
    ],
)
def test_version_policies_pick_the_versions_tf_serving_would(policy, on_disk, aspired):
    text = f'model_config_list {{ config {{ name: "m" base_path: "/m" {policy} }} }}'
    (model,) = parse_config_text(text, "test").model_config_list.config
    assert aspired_versions(model, on_disk) == aspired


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'model_config_list { config { name: "a" base_path: "/a" } '
            'config { name: "a" base_path: "/b" } }',
            "Illegal to list model a multiple times in config list",
        ),
        (
            'model_config_list { config { name: "a" base_path: "models/a" } }',
            "Expected model a to have an absolute path or URI; got base_path()=models/a",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "onnx" } }',
            "Model a requests unsupported platform onnx",
        ),
        ('model_config_list { config { base_path: "/a" } }', "a model config has no name"),
        ("", "only model_config_list"),
        ("model_config_list { config { name: 'a' bse_path: '/a' } }", "bse_path"),
        ("model_config_list {", "is not a ModelServerConfig"),
    ],
)
def test_bad_config_files_are_invalid_argument_naming_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ServingError) as caught:
        read_config_file(path)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.message


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ServingError, match="nope.config"):
        read_config_file(str(tmp_path / "nope.config"))


def test_one_model_from_name_and_base_path():
    (model,) = single_model_config("artgan", "/serving/artgan").model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (
        "artgan",
        "/serving/artgan",
        "tensorflow",
    )
    assert aspired_versions(model, [3, 9]) == [9]


def test_artgan_serve_names_a_bad_config_file_without_a_traceback(tmp_path, capsys):
    from artgan.cli import main

    path = write(tmp_path, 'model_config_list { config { name: "a" base_path: "rel" } }')
    assert main(["serve", "--model_config_file", path, "--port", "0"]) != 0
    err = capsys.readouterr().err
    assert "base_path()=rel" in err and "Traceback" not in err
