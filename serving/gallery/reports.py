"""What the gallery asks of an evaluation report source (the CLI passes one built over an
artgan home's ML Metadata; serving never imports the pipeline)."""

from __future__ import annotations

from typing import Any, Protocol


class ReportSource(Protocol):
    """Each pushed version's evaluation summary and report, None when it has none."""

    def summary(self, model_name: str, version: int) -> dict[str, Any] | None:
        """JSON-able facts: metrics, gates, training settings, lineage, has_report."""

    def report_html(self, model_name: str, version: int) -> bytes | None:
        """The evaluation report page (evaluation.html) as written by the evaluator."""
