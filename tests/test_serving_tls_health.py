"""gRPC over TLS (--ssl-config-file, TF Serving's SSLConfig) and the standard health service
(--enable-grpc-healthcheck-service), over real gRPC on loopback."""

from __future__ import annotations

import datetime

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_fixtures import POLL_SECONDS, one_version_base_path, predict_request
from tensorflow_serving.apis import prediction_service_pb2_grpc

from artgan.config import ServerConfig
from artgan.errors import ArtganError
from artgan.serving.server import start_server


def pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def certificate(subject: str, key, issuer_name: str, issuer_key, is_ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    """A test authority, a server certificate for localhost and a client certificate (PEM)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("artgan test CA", ca_key, "artgan test CA", ca_key, is_ca=True)
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("server", "client")}
    certs = {
        name: certificate(name, key, "artgan test CA", ca_key, is_ca=False)
        for name, key in keys.items()
    }

    def pem(cert):
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    return {
        "ca": pem(ca),
        **{f"{name}_key": pem_key(key) for name, key in keys.items()},
        **{f"{name}_cert": pem(cert) for name, cert in certs.items()},
    }


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    return one_version_base_path(tmp_path_factory.mktemp("tls"))


def ssl_config_file(tmp_path, pki, client_verify: bool) -> str:
    """SSLConfig text with the PEM contents inline, as TF Serving reads it."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\n", "\\n") + '"'

    lines = [
        f"server_key: {quoted(pki['server_key'])}",
        f"server_cert: {quoted(pki['server_cert'])}",
    ]
    if client_verify:
        lines += [f"custom_ca: {quoted(pki['ca'])}", "client_verify: true"]
    path = tmp_path / "ssl.config"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def secure_predict(port: int, pki, client_cert: bool) -> int:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].encode(),
        private_key=pki["client_key"].encode() if client_cert else None,
        certificate_chain=pki["client_cert"].encode() if client_cert else None,
    )
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request([1]), timeout=30, wait_for_ready=False)
        return response.model_spec.version.value


def insecure_predict(port: int) -> grpc.RpcError:
    with grpc.insecure_channel(f"localhost:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(predict_request([1]), timeout=10)
    return caught.value


def test_tls_serves_clients_that_trust_the_certificate(base_path, tmp_path, pki):
    config = ServerConfig(ssl_config_file=ssl_config_file(tmp_path, pki, client_verify=False))
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS, server=config) as server:
        assert secure_predict(server.port, pki, client_cert=False) == 1
        assert insecure_predict(server.port).code() == grpc.StatusCode.UNAVAILABLE


def test_client_verify_refuses_clients_without_a_certificate(base_path, tmp_path, pki):
    config = ServerConfig(ssl_config_file=ssl_config_file(tmp_path, pki, client_verify=True))
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS, server=config) as server:
        assert secure_predict(server.port, pki, client_cert=True) == 1
        with pytest.raises(grpc.RpcError) as caught:
            secure_predict(server.port, pki, client_cert=False)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('server_key: "x"', "server_key and server_cert"),
        ('server_key: "x" server_cert: "y" client_verify: true', "client_verify needs custom_ca"),
        ("server_key: x", "is not a text-format SSLConfig"),
        ('server_key: "x" server_cert: "y"', "a PEM key and its certificate"),
    ],
)
def test_a_bad_ssl_config_file_is_a_clean_error(base_path, tmp_path, text, message):
    path = tmp_path / "ssl.config"
    path.write_text(text)
    with pytest.raises(ArtganError, match=message) as caught:
        start_server(str(base_path), port=0, server=ServerConfig(ssl_config_file=str(path)))
    assert str(path) in str(caught.value)


def test_health_service_reports_serving_like_tf_serving(base_path):
    config = ServerConfig(enable_grpc_healthcheck_service=True)
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS, server=config) as server:
        with grpc.insecure_channel(server.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in ("", "ModelService", "PredictionService"):
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                assert response.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as caught:
                stub.Check(health_pb2.HealthCheckRequest(service="Nope"), timeout=10)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_no_health_service_unless_asked(base_path):
    with start_server(str(base_path), port=0, poll_seconds=POLL_SECONDS) as server:
        with grpc.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
