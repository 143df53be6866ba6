"""Shared test setup."""

from __future__ import annotations

import logging
import os

import pytest


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    """`artgan.cli.main` configures logging globally; keep that from leaking between tests."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    root = logging.getLogger()
    filters = {handler: list(handler.filters) for handler in root.handlers}
    yield
    for handler, saved in filters.items():
        handler.filters[:] = saved
