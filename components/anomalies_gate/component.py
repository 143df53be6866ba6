"""AnomaliesGate: logs every anomaly ExampleValidator found; fails the run when configured to.

The pipeline makes Transform wait for this gate, so with ``data.stop_on_anomalies`` nothing
trains on data that does not match its schema.
"""

# No `from __future__ import annotations`: @component reads the annotations as types.
import logging
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from artgan.errors import ArtganError

log = logging.getLogger(__name__)

ANOMALIES_FILE_NAME = "SchemaDiff.pb"  # what ExampleValidator writes per split
_LINES_IN_ERROR = 5


def anomaly_lines(anomalies: standard_artifacts.ExampleAnomalies) -> list[str]:
    """One line per anomaly: 'split: feature: short description (description)'."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ANOMALIES_FILE_NAME)
        if not fileio.exists(path):
            continue
        with fileio.open(path, "rb") as f:
            found = anomalies_pb2.Anomalies.FromString(f.read())
        infos = sorted(found.anomaly_info.items())
        if found.HasField("dataset_anomaly_info"):
            infos.append(("(dataset)", found.dataset_anomaly_info))
        for feature, info in infos:
            lines.append(f"{split}: {feature}: {info.short_description} ({info.description})")
    return lines


def check_anomalies(anomalies: standard_artifacts.ExampleAnomalies, stop: bool) -> list[str]:
    """Logs the anomalies as warnings; raises ArtganError when there are any and ``stop``."""
    lines = anomaly_lines(anomalies)
    for line in lines:
        log.warning("Data anomaly: %s", line)
    if lines and stop:
        shown = "; ".join(lines[:_LINES_IN_ERROR])
        raise ArtganError(
            f"ExampleValidator found {len(lines)} anomal{'y' if len(lines) == 1 else 'ies'} "
            f"in {anomalies.uri} ({shown}); fix the data or the schema, or run without "
            "data.stop_on_anomalies (--stop-on-anomalies) to only report them"
        )
    return lines


@component
def AnomaliesGate(  # noqa: N802 (a TFX component class name)
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    stop_on_anomalies: Parameter[int] = 0,
) -> None:
    """Reports ExampleValidator's anomalies; with stop_on_anomalies=1 they fail the run."""
    check_anomalies(anomalies, bool(stop_on_anomalies))
