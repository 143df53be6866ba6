"""The layers point one way: each folder imports only the layers below it (read from the AST)."""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOTTOM = (
    "artgan.errors",
    "artgan.config",
    "artgan.contract",
    "artgan.alpha",
    "artgan.grid",
    "artgan.datasets",
)
# folder -> the artgan packages its modules may import (everything else of artgan is above it)
ALLOWED = {
    "artgan/errors.py": (),
    "artgan/config.py": ("artgan.errors",),
    "artgan/alpha.py": (),
    "artgan/grid.py": ("artgan.errors", "artgan.alpha"),
    "artgan/datasets.py": ("artgan.errors",),
    "artgan/emoji_dataset.py": ("artgan.errors",),
    "artgan/contract": ("artgan.errors", "artgan.config", "artgan.contract"),
    "models": BOTTOM + ("artgan.models",),
    "serving": BOTTOM + ("artgan.serving",),
    "components": BOTTOM + ("artgan.models", "artgan.components"),
    "pipeline": BOTTOM + ("artgan.models", "artgan.components", "artgan.pipeline"),
    "kubeflow": BOTTOM + ("artgan.components", "artgan.pipeline", "artgan.kubeflow"),
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


def _private(parts: list[str]) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in parts)


def test_no_private_tfx_or_beam_name_is_used():
    """Neither imported (``from tfx... import _x``) nor reached (``beam.io._Sink``)."""
    private = []
    for folder in ("artgan", "models", "serving", "components", "pipeline", "kubeflow"):
        for path in _python_files(folder):
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            where = os.path.relpath(path, REPO)
            aliases = set()  # local names bound to tfx / apache_beam modules or objects
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    module = getattr(node, "module", None) or ""
                    for alias in node.names:
                        full = f"{module}.{alias.name}" if module else alias.name
                        if full.startswith(("tfx", "apache_beam")):
                            aliases.add((alias.asname or alias.name).split(".")[0])
                            if _private(full.split(".")):
                                private.append(f"{where}:{node.lineno} imports {full}")
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute):
                    chain, root = [node.attr], node.value
                    while isinstance(root, ast.Attribute):
                        chain.append(root.attr)
                        root = root.value
                    if isinstance(root, ast.Name) and root.id in aliases and _private(chain):
                        private.append(
                            f"{where}:{node.lineno} uses {root.id}.{'.'.join(chain[::-1])}"
                        )
    assert not private, "\n".join(private)
