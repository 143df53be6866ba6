"""TFX's own Transform, under the name the pipeline imported while Transform had an executor
of artgan's. Kept only until pipeline.py uses ``tfx.components.Transform`` directly; then
this folder goes."""

from tfx.components import Transform

__all__ = ["Transform"]
