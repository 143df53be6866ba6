"""Comparing a YAML document with a stored golden file, or rewriting it on purpose.

``ARTGAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/...`` writes the actual document (after
``header``) instead of comparing; review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os

import pytest
import yaml

UPDATE_GOLDEN = os.environ.get("ARTGAN_UPDATE_GOLDEN") == "1"


def assert_matches_golden(actual: dict, path: str, header: str, what: str) -> None:
    """Fails with a diff when ``actual`` differs from the YAML at ``path``."""
    if UPDATE_GOLDEN:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(header)
            yaml.safe_dump(actual, f, sort_keys=True)
    with open(path) as f:
        golden = yaml.safe_load(f)
    if actual != golden:
        diff = difflib.unified_diff(
            yaml.safe_dump(golden, sort_keys=True).splitlines(),
            yaml.safe_dump(actual, sort_keys=True).splitlines(),
            "golden",
            "actual",
            lineterm="",
        )
        pytest.fail(
            f"{what} differs from {os.path.relpath(path)}; if intended, regenerate it with "
            "ARTGAN_UPDATE_GOLDEN=1 and review the diff\n" + "\n".join(list(diff)[:80])
        )
