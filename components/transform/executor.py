"""TFX's own Transform executor (see the package docstring: kept only until nothing imports
it from here)."""

from tfx.components.transform.executor import Executor

__all__ = ["Executor"]
