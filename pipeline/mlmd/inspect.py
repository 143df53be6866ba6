"""What the store says about pipeline runs, trained models and single artifacts.

Plain dataclasses come back (``dataclasses.asdict`` gives their JSON form); formatting them is
the CLI's job. Values a running pipeline has not written yet are ``None``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from artgan.pipeline.mlmd.reader import (
    Execution,
    MetadataReader,
    custom,
    properties,
    timestamp,
)

UNFINISHED = ("NEW", "RUNNING")


@dataclasses.dataclass(frozen=True)
class ComponentRun:
    component: str
    execution_id: int
    state: str  # NEW, RUNNING, COMPLETE, CACHED, FAILED, CANCELED
    started: str  # ISO 8601 UTC
    duration_s: float | None  # None while the component is still running


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    run_id: str
    context_id: int
    started: str
    state: str  # RUNNING if any component is, else FAILED / CANCELED if any is, else COMPLETE
    duration_s: float | None
    components: list[ComponentRun]


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    model_id: int
    run_id: str
    created: str
    uri: str
    blessing_id: int | None  # the latest evaluation of this model; None: not evaluated (yet)
    blessed: bool | None
    fid: float | None
    inception_score: float | None
    kid: float | None
    pushed_version: str | None  # TF Serving version folder, None when never pushed
    pushed_destination: str | None
    serving_check: bool | None = None  # the latest ServingCheck verdict; None: not checked
    serving_check_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class LinkedExecution:
    execution_id: int
    component: str
    key: str  # the output or input name, e.g. "model" or "model_blessing"
    state: str


@dataclasses.dataclass(frozen=True)
class ArtifactDetails:
    artifact_id: int
    type: str
    uri: str
    state: str
    created: str
    updated: str
    runs: list[str]
    properties: dict[str, Any]
    produced_by: LinkedExecution | None
    consumed_by: list[LinkedExecution]


def list_runs(reader: MetadataReader) -> list[PipelineRun]:
    """Every pipeline run, oldest first, with the state and duration of each component."""
    runs = []
    for context in reader.run_contexts():
        executions = sorted(reader.store.get_executions_by_context(context.id), key=lambda e: e.id)
        components = [_component_run(reader, execution) for execution in executions]
        finished = [e.last_update_time_since_epoch for e in executions]
        state = _run_state([component.state for component in components])
        duration = (
            (max(finished) - context.create_time_since_epoch) / 1000
            if finished and state not in UNFINISHED
            else None
        )
        runs.append(
            PipelineRun(
                run_id=context.name,
                context_id=context.id,
                started=timestamp(context.create_time_since_epoch),
                state=state,
                duration_s=duration,
                components=components,
            )
        )
    return runs


def _component_run(reader: MetadataReader, execution: Execution) -> ComponentRun:
    state = Execution.State.Name(execution.last_known_state)
    duration = None
    if state not in UNFINISHED:
        elapsed = execution.last_update_time_since_epoch - execution.create_time_since_epoch
        duration = elapsed / 1000
    return ComponentRun(
        component=reader.component(execution),
        execution_id=execution.id,
        state=state,
        started=timestamp(execution.create_time_since_epoch),
        duration_s=duration,
    )


def _run_state(states: list[str]) -> str:
    if not states or any(state in UNFINISHED for state in states):
        return "RUNNING"
    for verdict in ("FAILED", "CANCELED"):
        if verdict in states:
            return verdict
    return "COMPLETE"


def list_models(reader: MetadataReader) -> list[ModelRecord]:
    """Every trained model, oldest first: its scores, blessing and pushed version."""
    run_of = _run_of_artifacts(reader)
    blessing_of = _latest_by_model(reader, "ModelBlessing")
    check_of = _latest_by_model(reader, "InfraBlessing")
    push_of = _pushes_by_model(reader)
    records = []
    for model in reader.artifacts_of_type("Model"):
        blessing = blessing_of.get(model.id)
        check = check_of.get(model.id)
        push = push_of.get(model.id)
        records.append(
            ModelRecord(
                model_id=model.id,
                run_id=run_of.get(model.id, ""),
                created=timestamp(model.create_time_since_epoch),
                uri=model.uri,
                blessing_id=blessing.id if blessing else None,
                blessed=None if blessing is None else custom(blessing, "blessed", 0) == 1,
                fid=_float(blessing, "fid"),
                inception_score=_float(blessing, "inception_score"),
                kid=_float(blessing, "kid"),
                pushed_version=str(custom(push, "pushed_version")) if push else None,
                pushed_destination=str(custom(push, "pushed_destination")) if push else None,
                serving_check=None if check is None else custom(check, "blessed", 0) == 1,
                serving_check_reason=None if check is None else custom(check, "reason"),
            )
        )
    return records


def _latest_by_model(reader: MetadataReader, type_name: str) -> dict[int, Any]:
    """Model id -> the latest blessing of ``type_name`` naming it in ``current_model_id``."""
    latest = {}
    for blessing in reader.artifacts_of_type(type_name):  # oldest first: latest wins
        model_id = custom(blessing, "current_model_id")
        if model_id is not None:
            latest[int(model_id)] = blessing
    return latest


def _float(artifact, key: str) -> float | None:
    value = custom(artifact, key) if artifact is not None else None
    return None if value is None else float(value)


def _run_of_artifacts(reader: MetadataReader) -> dict[int, str]:
    """Artifact id -> the run that produced it (the first run it is attributed to)."""
    run_of: dict[int, str] = {}
    for context in reader.run_contexts():
        for artifact in reader.store.get_artifacts_by_context(context.id):
            run_of.setdefault(artifact.id, context.name)
    return run_of


def _pushes_by_model(reader: MetadataReader) -> dict[int, Any]:
    """Model id -> its latest PushedModel that really pushed (``pushed`` == 1)."""
    pushes = [p for p in reader.artifacts_of_type("PushedModel") if custom(p, "pushed", 0) == 1]
    push_of = {}
    for push in pushes:
        producer = reader.producer(push.id)
        if producer is None:
            continue
        for key, artifact_id in reader.inputs(producer[0]):
            if key == "model":
                push_of[artifact_id] = push
    return push_of


def show_artifact(reader: MetadataReader, artifact_id: int) -> ArtifactDetails | None:
    """Every property of one artifact, its URI, and the executions that wrote and read it."""
    artifact = reader.artifact(artifact_id)
    if artifact is None:
        return None
    producer = reader.producer(artifact_id)
    run_ids = {context.id for context in reader.run_contexts()}
    contexts = reader.store.get_contexts_by_artifact(artifact_id)
    runs = [context.name for context in contexts if context.id in run_ids]
    return ArtifactDetails(
        artifact_id=artifact.id,
        type=reader.artifact_type(artifact),
        uri=artifact.uri,
        state=artifact.State.Name(artifact.state),
        created=timestamp(artifact.create_time_since_epoch),
        updated=timestamp(artifact.last_update_time_since_epoch),
        runs=runs,
        properties=properties(artifact),
        produced_by=_linked(reader, *producer) if producer else None,
        consumed_by=[_linked(reader, *consumer) for consumer in reader.consumers(artifact_id)],
    )


def _linked(reader: MetadataReader, execution_id: int, key: str) -> LinkedExecution:
    execution = reader.execution(execution_id)
    return LinkedExecution(
        execution_id=execution_id,
        component=reader.component(execution),
        key=key,
        state=Execution.State.Name(execution.last_known_state),
    )
