"""ServingCheck: TFX's InfraValidator role for a generator, before the Pusher."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from artgan.components.serving_check.executor import Executor


class ServingCheckSpec(types.ComponentSpec):
    PARAMETERS = {"max_batch_size": ExecutionParameter(type=int)}
    INPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.InfraBlessing)}


class ServingCheck(base_component.BaseComponent):
    """Loads the exported generator as TF Serving does and calls every signature (``checks.py``).

    Writes an InfraBlessing, which the standard Pusher takes as ``infra_blessing``: custom
    properties ``blessed`` (1/0) and ``reason`` (the first failed check, or that all passed),
    ``INFRA_BLESSED`` or ``INFRA_NOT_BLESSED`` (as InfraValidator writes) and
    ``serving_check.json`` (every check, its detail and time). A model that fails is not an
    error of the run: it is simply never pushed.
    """

    SPEC_CLASS = ServingCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, max_batch_size: int):
        super().__init__(
            spec=ServingCheckSpec(
                model=model,
                max_batch_size=max_batch_size,
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            )
        )
