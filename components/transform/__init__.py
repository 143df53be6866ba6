"""TFX's Transform, writing its transformed examples in batches (see ``executor``)."""

from artgan.components.transform.component import Transform

__all__ = ["Transform"]
