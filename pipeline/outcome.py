"""What a pipeline run decided, read back from ML Metadata (blessing, serving check, push)."""

from __future__ import annotations

import dataclasses
import math

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from artgan.models.metrics.feature_network import metric_names

PIPELINE_RUN_CONTEXT = "pipeline_run"


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    run_id: str
    blessed: bool
    fid: float
    kid: float
    inception_score: float
    feature_network: str  # names the numbers: plain FID/KID/IS only for inception_2015
    blessing_uri: str
    model_uri: str
    model_run_uri: str  # training samples and train_config.json
    pushed: bool
    pushed_version: str  # TF Serving version folder name, "" when nothing was pushed
    pushed_destination: str
    serving_check_passed: bool | None = None  # None: the run had no serving check
    serving_check_reason: str = ""

    def summary(self) -> str:
        verdict = "BLESSED" if self.blessed else "NOT blessed"
        pushed = (
            f"pushed as version {self.pushed_version} to {self.pushed_destination}"
            if self.pushed
            else "not pushed"
        )
        if self.serving_check_passed is False:
            pushed = f"serving check FAILED ({self.serving_check_reason}); {pushed}"
        names = metric_names(self.feature_network)
        scores = ", ".join(
            f"{names[key]} {getattr(self, key):.3f}"
            for key in ("fid", "kid", "inception_score")
            if math.isfinite(getattr(self, key))  # no class scores: no CS
        )
        return f"model {verdict} ({scores}); {pushed}"


def _custom(artifact: metadata_store_pb2.Artifact, key: str, default=None):
    if key not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def latest_run_outcome(
    connection_config: metadata_store_pb2.ConnectionConfig,
) -> RunOutcome | None:
    """The blessing and push of the most recent pipeline run in the store, if any."""
    store = metadata_store.MetadataStore(connection_config)
    runs = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    if not runs:
        return None
    run = max(runs, key=lambda context: context.id)
    artifacts = store.get_artifacts_by_context(run.id)
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    by_type: dict[str, metadata_store_pb2.Artifact] = {}
    for artifact in artifacts:
        if artifact.state == metadata_store_pb2.Artifact.LIVE:
            by_type[type_names[artifact.type_id]] = artifact  # latest of each type wins
    blessing = by_type.get("ModelBlessing")
    model = by_type.get("Model")
    model_run = by_type.get("ModelRun")
    push = by_type.get("PushedModel")
    serving_check = by_type.get("InfraBlessing")
    if blessing is None:
        return None
    return RunOutcome(
        run_id=run.name,
        blessed=_custom(blessing, "blessed", 0) == 1,
        fid=float(_custom(blessing, "fid", math.nan)),
        kid=float(_custom(blessing, "kid", math.nan)),
        inception_score=float(_custom(blessing, "inception_score", math.nan)),
        feature_network=str(_custom(blessing, "feature_network", "")),
        blessing_uri=blessing.uri,
        model_uri=model.uri if model else "",
        model_run_uri=model_run.uri if model_run else "",
        pushed=push is not None and _custom(push, "pushed", 0) == 1,
        pushed_version=str(_custom(push, "pushed_version", "")) if push else "",
        pushed_destination=str(_custom(push, "pushed_destination", "")) if push else "",
        serving_check_passed=(
            None if serving_check is None else _custom(serving_check, "blessed", 0) == 1
        ),
        serving_check_reason=str(_custom(serving_check, "reason", "")) if serving_check else "",
    )
