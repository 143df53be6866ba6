"""Reading ML Metadata records: names, properties, times and the events that link them.

Everything here tolerates records a running pipeline has not finished (missing properties,
executions without outputs) and stores written by Kubeflow (``tfx.``-prefixed type names,
``system.PipelineRun`` contexts).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

Artifact = metadata_store_pb2.Artifact
Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event

RUN_CONTEXT_TYPES = ("pipeline_run", "system.PipelineRun")  # local TFX, Kubeflow
NODE_CONTEXT_TYPE = "node"
OUTPUT_EVENTS = (Event.OUTPUT, Event.DECLARED_OUTPUT, Event.INTERNAL_OUTPUT)
INPUT_EVENTS = (Event.INPUT, Event.DECLARED_INPUT, Event.INTERNAL_INPUT)


def property_value(value: metadata_store_pb2.Value) -> Any:
    """A property as plain JSON data; TFX's JSON-valued properties are decoded."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "struct_value":
        data = json_format.MessageToDict(value.struct_value)
        if set(data) == {"__value__"}:  # how TFX stores JSON-valued properties
            try:
                return json.loads(data["__value__"])
            except (TypeError, ValueError):
                return data["__value__"]
        return data
    if kind == "proto_value":
        try:
            return json_format.MessageToDict(value.proto_value)
        except (TypeError, KeyError):
            return {"@type": value.proto_value.type_url}
    return getattr(value, kind)


def properties(record: Artifact | Execution) -> dict[str, Any]:
    """Typed and custom properties of a record, together, sorted by name."""
    merged = {key: property_value(value) for key, value in record.custom_properties.items()}
    merged.update({key: property_value(value) for key, value in record.properties.items()})
    return dict(sorted(merged.items()))


def custom(record: Artifact | Execution, key: str, default: Any = None) -> Any:
    """One property (custom or typed), or ``default`` when it is not (yet) set."""
    for source in (record.custom_properties, record.properties):
        if key in source:
            value = property_value(source[key])
            return default if value is None else value
    return default


def timestamp(milliseconds: int) -> str:
    """MLMD's milliseconds since the epoch as ISO 8601 UTC (empty when unset)."""
    if not milliseconds:
        return ""
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def event_key(event: Event) -> str:
    """The input or output name an event records (e.g. ``model_blessing``)."""
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


class MetadataReader:
    """Read-only queries over one store, with type names and events cached per instance."""

    def __init__(self, store: metadata_store.MetadataStore):
        self.store = store
        self._artifact_types = {t.id: _short(t.name) for t in store.get_artifact_types()}
        self._execution_types = {t.id: t.name for t in store.get_execution_types()}
        self._events_by_artifact: dict[int, list[Event]] = {}
        self._events_by_execution: dict[int, list[Event]] = {}
        self._executions: dict[int, Execution] = {}
        self._components: dict[int, str] | None = None

    def artifact_type(self, artifact: Artifact) -> str:
        if artifact.type_id not in self._artifact_types:  # registered after we started
            self._artifact_types.update(
                {t.id: _short(t.name) for t in self.store.get_artifact_types()}
            )
        return self._artifact_types.get(artifact.type_id, artifact.type or "")

    def artifacts_of_type(self, type_name: str) -> list[Artifact]:
        """Artifacts of a type (``Model`` also finds Kubeflow's ``tfx.Model``), oldest first."""
        found: list[Artifact] = []
        for name in (type_name, f"tfx.{type_name}"):
            found.extend(self.store.get_artifacts_by_type(name))
        return sorted(found, key=lambda artifact: artifact.id)

    def artifact(self, artifact_id: int) -> Artifact | None:
        found = self.store.get_artifacts_by_id([artifact_id])
        return found[0] if found else None

    def execution(self, execution_id: int) -> Execution:
        if execution_id not in self._executions:
            for execution in self.store.get_executions_by_id([execution_id]):
                self._executions[execution.id] = execution
        return self._executions[execution_id]

    def run_contexts(self) -> list[metadata_store_pb2.Context]:
        runs: list[metadata_store_pb2.Context] = []
        for type_name in RUN_CONTEXT_TYPES:
            runs.extend(self.store.get_contexts_by_type(type_name))
        return sorted(runs, key=lambda context: context.id)

    def component(self, execution: Execution) -> str:
        """The pipeline node an execution ran: its node id (e.g. ``Trainer``)."""
        if self._components is None:
            self._components = {}
            for node in self.store.get_contexts_by_type(NODE_CONTEXT_TYPE):
                node_id = node.name.rsplit(".", 1)[-1]  # "<pipeline>.<node id>"
                for ran in self.store.get_executions_by_context(node.id):
                    self._components[ran.id] = node_id
        if execution.id in self._components:
            return self._components[execution.id]
        for key in ("task_name", "display_name"):  # Kubeflow's own records
            if custom(execution, key):
                return str(custom(execution, key))
        return self._execution_types.get(execution.type_id, execution.type).rsplit(".", 1)[-1]

    def events_of_artifacts(self, artifact_ids: Iterable[int]) -> dict[int, list[Event]]:
        return self._events(
            list(artifact_ids),
            self._events_by_artifact,
            self.store.get_events_by_artifact_ids,
            lambda event: event.artifact_id,
        )

    def events_of_executions(self, execution_ids: Iterable[int]) -> dict[int, list[Event]]:
        return self._events(
            list(execution_ids),
            self._events_by_execution,
            self.store.get_events_by_execution_ids,
            lambda event: event.execution_id,
        )

    def producer(self, artifact_id: int) -> tuple[int, str] | None:
        """(execution id, output key) of the execution that first wrote the artifact."""
        outputs = [
            event
            for event in self.events_of_artifacts([artifact_id])[artifact_id]
            if event.type in OUTPUT_EVENTS
        ]
        if not outputs:
            return None
        first = min(outputs, key=lambda event: event.execution_id)
        return first.execution_id, event_key(first)

    def consumers(self, artifact_id: int) -> list[tuple[int, str]]:
        """(execution id, input key) of every execution that read the artifact."""
        events = self.events_of_artifacts([artifact_id])[artifact_id]
        return sorted(
            (event.execution_id, event_key(event)) for event in events if event.type in INPUT_EVENTS
        )

    def inputs(self, execution_id: int) -> list[tuple[str, int]]:
        """(input key, artifact id) of everything an execution read."""
        return self._linked(execution_id, INPUT_EVENTS)

    def outputs(self, execution_id: int) -> list[tuple[str, int]]:
        """(output key, artifact id) of everything an execution wrote."""
        return self._linked(execution_id, OUTPUT_EVENTS)

    def _linked(self, execution_id: int, kinds: tuple[int, ...]) -> list[tuple[str, int]]:
        events = self.events_of_executions([execution_id])[execution_id]
        return sorted(
            (event_key(event), event.artifact_id) for event in events if event.type in kinds
        )

    @staticmethod
    def _events(
        ids: list[int],
        cache: dict[int, list[Event]],
        query: Callable[[list[int]], list[Event]],
        owner: Callable[[Event], int],
    ) -> dict[int, list[Event]]:
        missing = sorted({i for i in ids if i not in cache})
        if missing:
            for i in missing:
                cache[i] = []
            for event in query(missing):
                cache[owner(event)].append(event)
        return {i: cache[i] for i in ids}


def _short(type_name: str) -> str:
    return type_name.removeprefix("tfx.")
