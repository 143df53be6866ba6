"""Transform: TFX's own component (spec, parameters, outputs) with artgan's executor."""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from artgan.components.transform import executor


class Transform(tfx.components.Transform):
    """TFX's Transform; its transformed examples are written in batches, at a lighter gzip
    level, into shards of bounded size (``executor.Executor``). Everything else is TFX's."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
