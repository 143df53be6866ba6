"""TF Serving's REST API on the embedded server, over real HTTP on loopback, against
api_rest.md's documented routes, bodies and errors."""

from __future__ import annotations

import base64
import http.client
import json
import time

import numpy as np
import pytest
from serving_fixtures import (
    AVAILABLE,
    LATENT_DIM,
    MAX_BATCH,
    MODEL,
    POLL_SECONDS,
    RESOLUTION,
    export_slow_model,
    export_versions,
    images_and_pngs,
    open_stubs,
    predict_request,
    push,
    wait_for_state,
)

from artgan.config import DataConfig, ServerConfig, TrainConfig
from artgan.models.export import export_generator
from artgan.models.networks import build_networks
from artgan.serving.server import start_server

CONDITIONAL = "conditional"
NUM_CLASSES = 3


def call(rest, method: str, path: str, body=None, headers=None):
    """(HTTP status, headers, body bytes); ``body`` may be bytes or a JSON-able value."""
    connection = http.client.HTTPConnection(rest.host, rest.port, timeout=30)
    try:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def loads(payload: bytes):
    """JSON as a lenient client reads it: TF Serving writes a non-``_bytes`` DT_STRING output's
    raw bytes into the JSON string, which is not valid UTF-8."""
    return json.loads(payload.decode("utf-8", "replace"))


def call_json(rest, method, path, body=None):
    status, _, payload = call(rest, method, path, body)
    return status, loads(payload)


@pytest.fixture(scope="module")
def model_config(tmp_path_factory):
    """Two models: the tiny generator (versions 1 and 2, both served, label "stable" on 1) and a
    class-conditional one (two inputs per signature)."""
    root = tmp_path_factory.mktemp("rest")
    exported = export_versions(root / "exports", (1, 2))
    for version, path in exported.items():
        push(path, root / MODEL, version)
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(
        train, DataConfig(resolution=RESOLUTION, channels=1), num_classes=NUM_CLASSES
    )
    export_generator(generator, LATENT_DIM, str(root / CONDITIONAL / "1"), num_classes=NUM_CLASSES)
    config = root / "models.config"
    config.write_text(
        f"""model_config_list {{
  config {{
    name: "{MODEL}" base_path: "{root / MODEL}" model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
  }}
  config {{ name: "{CONDITIONAL}" base_path: "{root / CONDITIONAL}" }}
}}
"""
    )
    return str(config)


@pytest.fixture(scope="module")
def server(model_config):
    config = ServerConfig(
        model_config_file=model_config,
        file_system_poll_wait_seconds=POLL_SECONDS,
        # As in TF Serving, a first config may only label versions not loaded yet with this.
        allow_version_labels_for_unavailable_models=True,
    )
    with start_server(
        "", max_batch_size=MAX_BATCH, port=0, server=config, rest_port=0, poll_seconds=POLL_SECONDS
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def rest(server):
    return server.rest


@pytest.fixture(scope="module")
def stubs(server):
    opened = open_stubs(server.address)
    for version in (1, 2):
        wait_for_state(opened, version, AVAILABLE)
    wait_for_state(opened, 1, AVAILABLE, model=CONDITIONAL)
    yield opened
    opened.channel.close()


def b64_png(prediction) -> bytes:
    return base64.b64decode(prediction["png_bytes"]["b64"])


# --- status and metadata -------------------------------------------------------------------


def test_model_status_lists_versions_as_tf_serving_prints_them(rest, stubs):
    status, body = call_json(rest, "GET", f"/v1/models/{MODEL}")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": version,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for version in ("2", "1")
        ]
    }
    assert call_json(rest, "GET", f"/v1/models/{MODEL}/versions/1")[1] == {
        "model_version_status": [body["model_version_status"][1]]
    }
    # GetModelStatus ignores a label (get_model_status_impl.cc): every version, as without one.
    assert call_json(rest, "GET", f"/v1/models/{MODEL}/labels/stable")[1] == body


def test_metadata_is_the_signature_def_map(rest, stubs):
    status, body = call_json(rest, "GET", f"/v1/models/{MODEL}/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    seeds = default["inputs"]["seeds"]
    assert seeds["dtype"] == "DT_INT64"
    assert seeds["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert set(default["outputs"]) == {"images", "png", "png_bytes"}
    assert call_json(rest, "GET", f"/v1/models/{MODEL}/metadata")[1]["model_spec"]["version"] == "2"


# --- predict -------------------------------------------------------------------------------


def test_row_format_predictions_match_grpc(rest, stubs):
    status, headers, payload = call(
        rest, "POST", f"/v1/models/{MODEL}:predict", {"instances": [3, 4]}
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    predictions = loads(payload)["predictions"]
    images, pngs = images_and_pngs(stubs.prediction.Predict(predict_request([3, 4]), timeout=30))
    assert len(predictions) == 2
    for prediction, image, png in zip(predictions, images, pngs, strict=True):
        assert set(prediction) == {"images", "png", "png_bytes"}
        assert np.array_equal(np.array(prediction["images"], np.uint8), image)
        assert b64_png(prediction) == png
    # The PNG under a name without "_bytes" is written raw, byte for byte, as TF Serving does.
    assert pngs[0][:4] in payload


def test_the_pngs_signature_answers_only_base64_pngs(rest, stubs):
    body = {"signature_name": "pngs", "instances": [3, 4]}
    status, answer = call_json(rest, "POST", f"/v1/models/{MODEL}:predict", body)
    assert status == 200
    _, pngs = images_and_pngs(stubs.prediction.Predict(predict_request([3, 4]), timeout=30))
    # One output, so each prediction is the value itself, unnamed (MakeJsonFromTensors).
    assert [base64.b64decode(png["b64"]) for png in answer["predictions"]] == pngs


def test_columnar_format_answers_outputs_by_name(rest, stubs):
    status, body = call_json(
        rest, "POST", f"/v1/models/{MODEL}/versions/1:predict", {"inputs": [3, 4]}
    )
    assert status == 200
    outputs = body["outputs"]
    assert np.array(outputs["images"]).shape == (2, RESOLUTION, RESOLUTION, 1)
    request = predict_request([3, 4])
    request.model_spec.version.value = 1
    images, pngs = images_and_pngs(stubs.prediction.Predict(request, timeout=30))
    assert np.array_equal(np.array(outputs["images"], np.uint8), images)
    assert [base64.b64decode(png["b64"]) for png in outputs["png_bytes"]] == pngs


def test_versions_and_labels_choose_the_version(rest, stubs):
    def pngs(path):
        status, body = call_json(rest, "POST", path, {"instances": [7]})
        assert status == 200, body
        return b64_png(body["predictions"][0])

    first = pngs(f"/v1/models/{MODEL}/versions/1:predict")
    assert pngs(f"/v1/models/{MODEL}/labels/stable:predict") == first
    assert pngs(f"/v1/MODELS/{MODEL}/Labels/stable:PREDICT") == first  # TF Serving's (?i)
    assert pngs(f"/v1/models/{MODEL}:predict") == pngs(f"/v1/models/{MODEL}/versions/2:predict")
    assert pngs(f"/v1/models/{MODEL}:predict") != first


def test_several_inputs_take_objects_per_instance_or_per_input(rest, stubs):
    path = f"/v1/models/{CONDITIONAL}:predict"
    rows = {
        "signature_name": "with_labels",
        "instances": [{"seeds": 1, "labels": 0}, {"seeds": 1, "labels": 2}],
    }
    status, body = call_json(rest, "POST", path, rows)
    assert status == 200, body
    first, second = body["predictions"]
    assert first["images"] != second["images"]
    columns = {"signature_name": "with_labels", "inputs": {"seeds": [1, 1], "labels": [0, 2]}}
    status, body = call_json(rest, "POST", path, columns)
    assert status == 200
    assert body["outputs"]["images"] == [first["images"], second["images"]]
    latents = {
        "signature_name": "from_latents",
        "instances": [[0.5] * LATENT_DIM, [-0.25] * LATENT_DIM],
    }
    status, body = call_json(rest, "POST", path, latents)
    assert status == 200 and len(body["predictions"]) == 2


# --- errors --------------------------------------------------------------------------------

PREDICT = f"/v1/models/{MODEL}:predict"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", PREDICT, b"", 400, "JSON Parse error: The document is empty"),
        ("POST", PREDICT, b"{not json", 400, "JSON Parse error: "),
        ("POST", PREDICT, [1, 2], 400, "Is not object"),
        ("POST", PREDICT, {"instances": [1], "inputs": [1]}, 400, "expecting only one of"),
        (
            "POST",
            PREDICT,
            {"signature_name": "serving_default"},
            400,
            "Missing 'inputs' or 'instances' key",
        ),
        ("POST", PREDICT, {"instances": []}, 400, "No values in 'instances' array"),
        ("POST", PREDICT, {"instances": 3}, 400, "to be an list/array"),
        (
            "POST",
            PREDICT,
            {"signature_name": 7, "instances": [1]},
            400,
            "'signature_name' key must be a string",
        ),
        ("POST", PREDICT, {"instances": [1.0]}, 400, "Type: Number is not of expected type: int64"),
        (
            "POST",
            PREDICT,
            {"instances": ["one"]},
            400,
            "Type: String is not of expected type: int64",
        ),
        ("POST", PREDICT, {"instances": [[1], 2]}, 400, "Expecting shape [1] but got: []"),
        ("POST", PREDICT, {"inputs": [[1, 2], [3]]}, 400, "Encountered list at unexpected size: 1"),
        (
            "POST",
            PREDICT,
            {"instances": [{"seeds": 1, "extra": 2}]},
            400,
            "does not have named input: extra",
        ),
        (
            "POST",
            PREDICT,
            {"inputs": {"latents": [1]}},
            400,
            "Missing named input: seeds in 'inputs' object.",
        ),
        (
            "POST",
            PREDICT,
            {"signature_name": "nope", "instances": [1]},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        ("POST", PREDICT, {"instances": list(range(MAX_BATCH + 1))}, 429, "max_batch_size"),
        (
            "POST",
            "/v1/models/nope:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "POST",
            f"/v1/models/{MODEL}/versions/9:predict",
            {"instances": [1]},
            404,
            f"Specific({MODEL}, 9)",
        ),
        (
            "POST",
            f"/v1/models/{MODEL}/labels/canary:predict",
            {"instances": [1]},
            400,
            "Unrecognized servable version label: canary",
        ),
        (
            "POST",
            f"/v1/models/{MODEL}:classify",
            {"examples": [{}]},
            501,
            "classify is not supported",
        ),
        (
            "POST",
            f"/v1/models/{MODEL}:explain",
            {"instances": [1]},
            400,
            f"Malformed request: POST /v1/models/{MODEL}:explain",
        ),
        ("GET", PREDICT, None, 400, f"Malformed request: GET {PREDICT}"),
        ("PUT", f"/v1/models/{MODEL}", b"{}", 400, f"Malformed request: PUT /v1/models/{MODEL}"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("GET", f"/v1/models/{MODEL}/versions/9", None, 404, "9"),
        ("GET", "/v1/foo", None, 400, "Malformed request: GET /v1/foo"),
        ("GET", f"/v1/models/{MODEL}/versions/{2**64}", None, 400, "Failed to convert version"),
    ],
)
def test_bad_requests_get_tf_serving_status_and_message(
    rest, stubs, method, path, body, status, message
):
    got_status, got = call_json(rest, method, path, body)
    assert got_status == status, got
    assert set(got) == {"error"} and message in got["error"], got
    assert call_json(rest, "POST", PREDICT, {"instances": [1]})[0] == 200  # still serving


def test_paths_outside_the_api_are_not_found(rest):
    status, _, payload = call(rest, "GET", "/index.html")
    assert (status, payload) == (404, b"")


def test_a_bad_content_length_is_refused(rest, stubs):
    status, _, payload = call(rest, "POST", PREDICT, b"{}", {"Content-Length": "-5"})
    assert status == 400 and "Content-Length" in loads(payload)["error"]
    assert call_json(rest, "POST", PREDICT, {"instances": [1]})[0] == 200


def test_no_cors_headers_unless_asked(rest):
    _, headers, _ = call(rest, "GET", f"/v1/models/{MODEL}")
    assert "Access-Control-Allow-Origin" not in headers
    status, _, _ = call(rest, "OPTIONS", PREDICT)
    assert status == 400  # TF Serving without --rest_api_enable_cors_support: Malformed request


def test_cors_preflight_and_headers_when_enabled(model_config):
    config = ServerConfig(
        model_config_file=model_config,
        rest_api_enable_cors=True,
        allow_version_labels_for_unavailable_models=True,
    )
    with start_server("", port=0, server=config, rest_port=0) as handle:
        status, headers, _ = call(
            handle.rest,
            "OPTIONS",
            PREDICT,
            headers={"Origin": "http://gallery", "Access-Control-Request-Method": "POST"},
        )
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert headers["Access-Control-Allow-Headers"] == "Content-Type"
        _, headers, _ = call(handle.rest, "POST", PREDICT, {"instances": [1]})
        assert headers["Access-Control-Allow-Origin"] == "*"


def test_rest_timeout_is_deadline_exceeded(tmp_path):
    export_slow_model(str(tmp_path / "slow" / "1"))
    config = ServerConfig(rest_api_timeout_ms=200)
    with start_server(str(tmp_path / "slow"), "slow", port=0, server=config, rest_port=0) as handle:
        started = time.monotonic()
        status, body = call_json(handle.rest, "POST", "/v1/models/slow:predict", {"instances": [1]})
        assert status == 504 and "200 ms deadline" in body["error"], body
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("field", ["rest_port", "rest_api_num_threads", "rest_api_timeout_ms"])
def test_negative_rest_settings_name_the_field(field, tmp_path):
    from artgan.errors import ArtganError

    with pytest.raises(ArtganError, match=f"server.{field}"):
        start_server(str(tmp_path), port=0, server=ServerConfig(**{field: -1}))
