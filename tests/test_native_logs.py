"""The artgan executable keeps TensorFlow's harmless C++ start-up lines out unless -v."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

STARTUP_NOISE = ("oneDNN custom operations are on", "absl::InitializeLog")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate_from_nowhere(*extra: str) -> subprocess.CompletedProcess:
    """`python -m artgan generate` against a closed port: imports TensorFlow, then fails."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    command = [sys.executable, "-m", "artgan", *extra, "generate", "--port", str(free_port())]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_startup_lines_are_hidden_and_the_error_still_shows():
    result = generate_from_nowhere()
    assert result.returncode == 2
    assert "artgan generate: error:" in result.stderr  # written last, still comes through
    assert "UNAVAILABLE" in result.stderr
    for noise in STARTUP_NOISE:
        assert noise not in result.stderr


def test_verbose_shows_everything():
    result = generate_from_nowhere("-v")
    assert result.returncode == 2
    assert "artgan generate: error:" in result.stderr
    assert any(noise in result.stderr for noise in STARTUP_NOISE)


def test_known_harmless_python_log_lines_are_dropped_without_verbose():
    import logging

    from artgan import cli

    def record(name: str, level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    harmless = (
        "Examples artifact does not have payload_format custom property. "
        "Falling back to FORMAT_TF_EXAMPLE"
    )
    assert not cli._is_useful(record("absl", logging.WARNING, harmless))
    assert cli._is_useful(record("absl", logging.WARNING, "something else went wrong"))
    assert cli._is_useful(record("artgan.pipeline", logging.INFO, "running pipeline"))
    assert not cli._is_useful(record("tfx", logging.INFO, "a TFX detail"))
