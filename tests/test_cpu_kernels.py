"""Importing artgan turns on TensorFlow's oneDNN CPU kernels unless the user said otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

ONEDNN_ON = "oneDNN custom operations are on"  # TensorFlow's own start-up line


def _tensorflow_startup_lines(**env: str) -> str:
    """stderr of a fresh Python that imports artgan, then TensorFlow, under ``env``."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="0", **env)
    result = subprocess.run(
        [sys.executable, "-c", "import artgan, tensorflow"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stderr


def test_importing_artgan_first_turns_on_onednn_kernels():
    assert ONEDNN_ON in _tensorflow_startup_lines()


def test_the_users_setting_wins():
    assert ONEDNN_ON not in _tensorflow_startup_lines(TF_ENABLE_ONEDNN_OPTS="0")
