"""Shared test setup."""

from __future__ import annotations

import logging
import os

import pytest

import artgan  # noqa: F401  (first: its TensorFlow CPU settings, artgan/__init__.py)


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    """`artgan.cli.main` configures logging globally; keep that from leaking between tests."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    root = logging.getLogger()
    filters = {handler: list(handler.filters) for handler in root.handlers}
    yield
    for handler, saved in filters.items():
        handler.filters[:] = saved


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> str:
    """60 real 8x8 digits in three class folders (tiny_pipeline.write_tiny_digits)."""
    from tiny_pipeline import write_tiny_digits

    return write_tiny_digits(tmp_path_factory.mktemp("tiny_digits"))


@pytest.fixture(scope="session")
def blessed_tiny_home(tmp_path_factory, tiny_digits) -> str:
    """An artgan home after one blessed and pushed tiny run, made once per test session:
    tests that only read its ML Metadata, reports and served versions share it (read-only)."""
    from tiny_pipeline import tiny_config

    from artgan.pipeline.local_runner import run_locally

    home = str(tmp_path_factory.mktemp("blessed_tiny") / "home")
    assert run_locally(tiny_config(home, tiny_digits, fid_threshold=1e9)).pushed
    return home
