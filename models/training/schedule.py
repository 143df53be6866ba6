"""Learning-rate ramp-down: both rates fall linearly to zero over the end of training."""

from __future__ import annotations


def learning_rate_scale(progress: float, ramp_down: float) -> float:
    """The factor on the configured learning rates when ``progress`` (0..1) of training is
    done: 1 until the last ``ramp_down`` share of it, then linearly down to 0 at the end.
    ``ramp_down`` 0 keeps the rates constant."""
    if ramp_down <= 0:
        return 1.0
    return min(1.0, max(0.0, (1.0 - progress) / ramp_down))
