"""Training progress for people: steps/s, images/s, losses and ETA, as a bar and log lines."""

from __future__ import annotations

import logging
import math
import sys
import time

from tqdm import tqdm

from artgan.errors import ArtganError

log = logging.getLogger(__name__)


class TrainingProgress:
    """A tqdm bar on terminals plus a log line per report; stops on non-finite losses."""

    def __init__(
        self, total_steps: int, batch_size: int, first_step: int = 0, budget_minutes: float = 0
    ):
        self.total_steps = total_steps
        self.batch_size = batch_size
        self.first_step = first_step
        self.start = time.monotonic()
        self.deadline = self.start + budget_minutes * 60 if budget_minutes else None
        self.bar = tqdm(
            total=total_steps,
            initial=first_step,
            unit="step",
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
        )

    def advance(self) -> None:
        self.bar.update(1)

    def report(self, step: int, d_loss: float, g_loss: float) -> None:
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            self.close()
            raise ArtganError(
                f"training diverged at step {step}: d_loss={d_loss}, g_loss={g_loss}; "
                "lower the learning rates or check the input images"
            )
        steps_per_s = (step - self.first_step) / max(time.monotonic() - self.start, 1e-9)
        eta = (self.total_steps - step) / max(steps_per_s, 1e-9)
        budget = {}
        if self.deadline is not None:
            eta = min(eta, self.seconds_left())
            budget["time_left"] = f"{self.seconds_left() / 60:.1f}min"
        self.bar.set_postfix(
            d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}", **budget, refresh=False
        )
        log.info(
            "step %d/%d  %.1f steps/s  %.0f images/s  d_loss %.4f  g_loss %.4f  ETA %.0fs",
            step,
            self.total_steps,
            steps_per_s,
            steps_per_s * self.batch_size,
            d_loss,
            g_loss,
            eta,
        )

    def fraction_done(self, step: int) -> float:
        """How much of training is done after ``step``: of the steps, or of the time budget
        when that is the larger share."""
        by_steps = step / self.total_steps
        if self.deadline is None:
            return by_steps
        budget = self.deadline - self.start
        return max(by_steps, min((time.monotonic() - self.start) / budget, 1.0))

    def out_of_time(self) -> bool:
        """Whether the time budget (``budget_minutes``) is spent."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def close(self) -> None:
        self.bar.close()
