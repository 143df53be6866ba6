"""The resolver strategy that hands the evaluator earlier runs' blessings, for its FD plot."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.common import resolver


class RecentBlessingsStrategy(resolver.ResolverStrategy):
    """Resolves each channel to its ``count`` most recent artifacts (possibly none).

    Unlike LatestArtifactStrategy it never fails for lack of artifacts, so a first run gets an
    empty history. Kubeflow V2 compiles only the standard strategies: leave it out there
    (``EvalConfig.history_runs = 0``).
    """

    def __init__(self, count: int = 20):
        self._count = count

    def resolve_artifacts(
        self, store, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        return {
            key: sorted(artifacts, key=lambda a: a.id)[-self._count :]
            for key, artifacts in input_dict.items()
        }
