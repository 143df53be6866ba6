"""TFX's standard Trainer, training as a TFJob: ``tfjob_trainer_options`` gives the arguments.

Only the executor changes (``custom_executor_spec``), so the component keeps TFX's Trainer type,
inputs, outputs and MLMD records; the TFJob's settings travel in ``custom_config["tfjob"]``.
"""

from __future__ import annotations

import dataclasses

from tfx.dsl.components.base import executor_spec

from artgan.components.tfjob_trainer.executor import Executor
from artgan.components.tfjob_trainer.settings import CUSTOM_CONFIG_KEY, TFJobSettings

EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)


def tfjob_trainer_options(settings: TFJobSettings, custom_config: dict) -> dict:
    """Keyword arguments for ``tfx.components.Trainer`` that make it train as a TFJob."""
    settings.validate()
    return {
        "custom_executor_spec": EXECUTOR_SPEC,
        "custom_config": {**custom_config, CUSTOM_CONFIG_KEY: dataclasses.asdict(settings)},
    }
