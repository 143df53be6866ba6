"""Lineage in ML Metadata: where a served model came from, and what was made from some data.

Upstream walks from an artifact to the execution that wrote it, then to that execution's
inputs, and so on (PushedModel <- Pusher <- ModelBlessing and Model <- Trainer <- TransformGraph
<- Transform <- Examples <- ImageExampleGen, whose ``input_base`` is the image folder).
Downstream walks from an artifact to the executions that read it and what they wrote. The
evaluator's ``baseline_model`` and ``history`` (earlier blessings, for its report's plot)
inputs are not followed either way: they link a run to earlier runs' whole history, which is
the earlier models' lineage, not this one's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from artgan.errors import ArtganError
from artgan.pipeline.mlmd.reader import Artifact, MetadataReader, custom

NOT_FOLLOWED_INPUTS = ("baseline_model", "history")
INPUT_FOLDER_PROPERTY = "input_base"  # ImageExampleGen's execution property
# The properties worth seeing in a lineage listing (``show`` lists them all).
KEY_FACTS = (
    "pushed_version",
    "blessed",
    "fid",
    "inception_score",
    "kid",
    "num_examples",
    "num_skipped",
)


@dataclasses.dataclass(frozen=True)
class LineageStep:
    depth: int  # links from the starting artifact
    artifact_id: int
    type: str
    uri: str
    output_key: str  # the name its producer wrote it under, e.g. "transform_graph"
    component: str  # the producer's node id, "" when unknown
    execution_id: int | None
    facts: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class InputFolder:
    examples_id: int
    input_base: str  # the image folder ImageExampleGen read
    image_files: int | None  # image files found there (examples + skipped)
    num_examples: int | None
    num_skipped: int | None


@dataclasses.dataclass(frozen=True)
class Lineage:
    start_id: int
    direction: str  # "upstream" or "downstream"
    steps: list[LineageStep]
    input_folders: list[InputFolder]


def pushed_model_id(reader: MetadataReader, version: str) -> int:
    """The PushedModel artifact that pushed serving version ``version``."""
    pushes = [
        push for push in _pushes(reader) if str(custom(push, "pushed_version", "")) == str(version)
    ]
    if not pushes:
        known = ", ".join(str(custom(p, "pushed_version")) for p in _pushes(reader)) or "none"
        raise ArtganError(f"no model was pushed as version {version!r} (pushed versions: {known})")
    if len(pushes) > 1:
        ids = ", ".join(str(p.id) for p in pushes)
        raise ArtganError(
            f"version {version!r} was pushed more than once (PushedModel artifacts {ids}): "
            "pick one with `artgan mlmd lineage --artifact ID`"
        )
    return pushes[0].id


def latest_pushed_model_id(reader: MetadataReader) -> int:
    """The most recent PushedModel that really pushed a version."""
    pushes = _pushes(reader)
    if not pushes:
        raise ArtganError("no model has been pushed yet: nothing is serving")
    return max(pushes, key=lambda push: (push.create_time_since_epoch, push.id)).id


def _pushes(reader: MetadataReader) -> list[Artifact]:
    return [p for p in reader.artifacts_of_type("PushedModel") if custom(p, "pushed", 0) == 1]


def upstream(reader: MetadataReader, artifact_id: int) -> Lineage:
    """The artifact and everything it was made from, nearest first."""

    def parents(current: int) -> list[int]:
        producer = reader.producer(current)
        if producer is None:
            return []
        return [
            artifact
            for key, artifact in reader.inputs(producer[0])
            if key not in NOT_FOLLOWED_INPUTS
        ]

    return _walk(reader, artifact_id, "upstream", parents)


def downstream(reader: MetadataReader, artifact_id: int) -> Lineage:
    """The artifact and everything made from it, nearest first."""

    def children(current: int) -> list[int]:
        found = []
        for execution_id, key in reader.consumers(current):
            if key not in NOT_FOLLOWED_INPUTS:
                found.extend(artifact for _, artifact in reader.outputs(execution_id))
        return found

    return _walk(reader, artifact_id, "downstream", children)


def _walk(reader: MetadataReader, start_id: int, direction: str, neighbours) -> Lineage:
    """Breadth-first over artifacts, each listed once at its shortest distance."""
    if reader.artifact(start_id) is None:
        raise ArtganError(f"no artifact with id {start_id} in the store")
    depth_of = {start_id: 0}
    order = [start_id]
    for current in order:  # grows while we walk
        for neighbour in neighbours(current):
            if neighbour not in depth_of:
                depth_of[neighbour] = depth_of[current] + 1
                order.append(neighbour)
    artifacts = {a.id: a for a in reader.store.get_artifacts_by_id(order)}
    steps = [_step(reader, artifacts[i], depth_of[i]) for i in order if i in artifacts]
    folders = [folder for step in steps if (folder := _input_folder(reader, step, artifacts))]
    return Lineage(start_id, direction, steps, folders)


def _step(reader: MetadataReader, artifact: Artifact, depth: int) -> LineageStep:
    producer = reader.producer(artifact.id)
    execution = reader.execution(producer[0]) if producer else None
    facts = {key: custom(artifact, key) for key in KEY_FACTS if custom(artifact, key) is not None}
    return LineageStep(
        depth=depth,
        artifact_id=artifact.id,
        type=reader.artifact_type(artifact),
        uri=artifact.uri,
        output_key=producer[1] if producer else "",
        component=reader.component(execution) if execution else "",
        execution_id=execution.id if execution else None,
        facts=facts,
    )


def _input_folder(
    reader: MetadataReader, step: LineageStep, artifacts: dict[int, Artifact]
) -> InputFolder | None:
    if step.execution_id is None:
        return None
    input_base = custom(reader.execution(step.execution_id), INPUT_FOLDER_PROPERTY)
    if input_base is None:
        return None
    examples = artifacts[step.artifact_id]
    num_examples = custom(examples, "num_examples")
    num_skipped = custom(examples, "num_skipped")
    image_files = None if num_examples is None else num_examples + (num_skipped or 0)
    return InputFolder(
        examples_id=examples.id,
        input_base=str(input_base),
        image_files=image_files,
        num_examples=num_examples,
        num_skipped=num_skipped,
    )
