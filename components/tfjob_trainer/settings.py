"""What the Trainer's TFJob is made of: read from the Trainer's ``custom_config["tfjob"]``."""

from __future__ import annotations

import dataclasses

from artgan.errors import ArtganError

CUSTOM_CONFIG_KEY = "tfjob"  # the Trainer's custom_config entry; the replicas never see it


@dataclasses.dataclass(frozen=True)
class TFJobSettings:
    """A Trainer step that trains as a TFJob of ``workers`` tasks: one Chief, the rest Workers."""

    workers: int
    image: str  # the project's image: the replicas run the same run_fn as a one-pod Trainer
    gpus: int = 0  # per task
    gpu_resource: str = "nvidia.com/gpu"
    service_account: str = ""  # empty: the Trainer step's own (so the same storage access)
    namespace: str = ""  # empty: the Trainer step's own
    name_prefix: str = "artgan"  # the TFJob is <prefix>-train-<hash of the model's URI>
    poll_seconds: float = 15.0  # how often the step reads the TFJob's status

    def validate(self) -> None:
        if self.workers < 2:
            raise ArtganError(
                f"a TFJob Trainer needs at least 2 training tasks (a Chief and a Worker), got "
                f"{self.workers}; with 1 the Trainer trains in its own pod"
            )
        if not self.image:
            raise ArtganError("the TFJob's image is empty: name the image built from kubeflow/")
        if self.gpus < 0:
            raise ArtganError(f"TFJob gpus per task must be >= 0, got {self.gpus}")
        if self.poll_seconds <= 0:
            raise ArtganError(f"TFJob poll_seconds must be > 0, got {self.poll_seconds}")

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> TFJobSettings:
        entry = custom_config.get(CUSTOM_CONFIG_KEY)
        if not isinstance(entry, dict):
            raise ArtganError(
                f"the Trainer's custom_config has no {CUSTOM_CONFIG_KEY!r} entry: compile with "
                "artgan kubeflow compile --trainer-workers N"
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ArtganError(f"custom_config[{CUSTOM_CONFIG_KEY!r}] has unknown keys {unknown}")
        settings = cls(**entry)
        settings.validate()
        return settings
