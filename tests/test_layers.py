"""The layers point one way: each folder imports only the layers below it (read from the AST)."""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOTTOM = ("artgan.errors", "artgan.config", "artgan.contract", "artgan.grid", "artgan.datasets")
# folder -> the artgan packages its modules may import (everything else of artgan is above it)
ALLOWED = {
    "artgan/errors.py": (),
    "artgan/config.py": ("artgan.errors",),
    "artgan/grid.py": ("artgan.errors",),
    "artgan/datasets.py": ("artgan.errors",),
    "artgan/contract": ("artgan.errors", "artgan.config", "artgan.contract"),
    "models": BOTTOM + ("artgan.models",),
    "serving": BOTTOM + ("artgan.serving",),
    "components": BOTTOM + ("artgan.models", "artgan.components"),
    "pipeline": BOTTOM + ("artgan.models", "artgan.components", "artgan.pipeline"),
    "kubeflow": BOTTOM + ("artgan.pipeline", "artgan.kubeflow"),
}


def _python_files(path: str) -> list[str]:
    full = os.path.join(REPO, path)
    if full.endswith(".py"):
        return [full]
    return [
        os.path.join(root, name)
        for root, _, names in os.walk(full)
        for name in names
        if name.endswith(".py")
    ]


def _imports(path: str) -> list[tuple[int, str, bool]]:
    """(line, imported module, whether the import sits inside a function)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    nested = {id(child) for fn in functions for child in ast.walk(fn)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, name, id(node) in nested) for name in names]
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_no_import_points_up(folder):
    wrong = [
        f"{os.path.relpath(path, REPO)}:{line} imports {name}"
        for path in _python_files(folder)
        for line, name, _ in _imports(path)
        if name.startswith("artgan.") and not name.startswith(ALLOWED[folder])
    ]
    assert not wrong, "\n".join(wrong)


def test_below_the_cli_no_import_hides_in_a_function():
    # A cycle dodged by an import inside a function is still a cycle. The CLI (and the
    # benchmarks) import their commands lazily so that `artgan --help` stays fast.
    lazy = [
        f"{os.path.relpath(path, REPO)}:{line} imports {name} inside a function"
        for folder in (
            "artgan/config.py",
            "artgan/contract",
            "models",
            "serving",
            "components",
            "pipeline",
        )
        for path in _python_files(folder)
        for line, name, in_function in _imports(path)
        if in_function and name.startswith("artgan.")
    ]
    assert not lazy, "\n".join(lazy)


def test_no_private_tfx_or_beam_name_is_used():
    private = []
    for folder in ("artgan", "models", "serving", "components", "pipeline", "kubeflow"):
        for path in _python_files(folder):
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module + "." + alias.name for alias in node.names]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.startswith(("tfx", "apache_beam")) and any(
                        part.startswith("_") and not part.startswith("__")
                        for part in name.split(".")
                    ):
                        private.append(f"{os.path.relpath(path, REPO)}:{node.lineno} {name}")
    assert not private, "\n".join(private)
