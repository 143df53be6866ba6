"""One model's versions on disk, as TF Serving's manager sees them: policy, loads, unloads.

A model base path holds integer-named version folders. A folder counts once its
``saved_model.pb`` exists (TFX's Pusher copies it last). The model's version policy (latest N,
all, specific) says which of them are aspired. Transitions follow TF Serving's
AvailabilityPreservingPolicy: a new version is loaded (with the session loader, see
``bundle.py``) and warmed up before an old one is unloaded, and an old one is unloaded only
once an aspired version is available. A version that fails to load is END with its error and is
not tried again while its folder stays on disk; the versions already available keep serving.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from artgan.contract import SAVED_MODEL_FILE
from artgan.contract.bundle import SavedModelBundle
from artgan.contract.warmup import replay_warmup
from artgan.serving.metrics import ServerMetrics
from artgan.serving.model_config import ModelConfig, aspired_versions

log = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State
UNLOAD_DRAIN_SECONDS = 30.0  # an unloaded version's in-flight requests get this long to finish


def version_folder_name(entry: str) -> str:
    return entry.rstrip("/")  # tf.io.gfile lists object-store folders with a trailing slash


def ready_versions(base_path: str) -> list[int]:
    """Integer-named version folders under ``base_path`` holding a saved_model.pb, ascending."""
    if not tf.io.gfile.isdir(base_path):
        return []
    versions = []
    for entry in tf.io.gfile.listdir(base_path):
        name = version_folder_name(entry)
        if not name.isdigit():
            continue
        if tf.io.gfile.exists(os.path.join(base_path, name, SAVED_MODEL_FILE)):
            versions.append(int(name))
    return sorted(versions)


def pending_version_folders(base_path: str) -> list[str]:
    """Integer-named folders still being written (no saved_model.pb yet)."""
    if not tf.io.gfile.isdir(base_path):
        return []
    ready = {str(version) for version in ready_versions(base_path)}
    names = (version_folder_name(entry) for entry in tf.io.gfile.listdir(base_path))
    return sorted(name for name in names if name.isdigit() and name not in ready)


class LoadedVersion:
    """One loaded and warmed-up SavedModel version. A request holds it between ``try_acquire``
    and ``release``; ``close`` waits for those before closing the session."""

    def __init__(self, version: int, path: str, bundle: SavedModelBundle):
        self.version = version
        self.path = path
        self.bundle = bundle  # the session TF Serving's loader would build
        self._in_flight = 0
        self._closing = False
        self._idle = threading.Condition()

    def try_acquire(self) -> bool:
        """Marks one more request in flight; False once the version is being closed."""
        with self._idle:
            if self._closing:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def close(self, drain_seconds: float = UNLOAD_DRAIN_SECONDS) -> None:
        """Closes the session once in-flight requests are done (or after ``drain_seconds``)."""
        with self._idle:
            self._closing = True
            self._idle.wait_for(lambda: self._in_flight == 0, drain_seconds)
        self.bundle.close()


def load_version(base_path: str, version: int, max_batch_size: int) -> LoadedVersion:
    """Loads ``<base_path>/<version>`` with the session loader and replays its warmup file."""
    path = os.path.join(base_path, str(version))
    bundle = SavedModelBundle(path)
    try:
        replayed = replay_warmup(bundle, max_batch_size)
    except Exception:
        bundle.close()
        raise
    if replayed:
        log.info("version %d: replayed %d warmup requests", version, replayed)
    return LoadedVersion(version, path, bundle)


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: int  # ModelVersionStatus.State
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


def load_error_code(error: Exception) -> grpc.StatusCode:
    """The status a failed load reports: a TF error's own code, else UNKNOWN."""
    if isinstance(error, tf.errors.OpError):
        for code in grpc.StatusCode:
            if code.value[0] == error.error_code:
                return code
    return grpc.StatusCode.UNKNOWN


class ModelRepository:
    """One model: its aspired versions loaded, the others unloaded, by TF Serving's policy."""

    def __init__(
        self, config: ModelConfig, max_batch_size: int, metrics: ServerMetrics | None = None
    ):
        self.config = config
        self.max_batch_size = max_batch_size  # warmup requests obey it too
        self.metrics = metrics or ServerMetrics()
        self._available: dict[int, LoadedVersion] = {}
        self._statuses: dict[int, VersionStatus] = {}
        self._failed: set[int] = set()  # END with an error: not retried while on disk
        self._lock = threading.Lock()  # one transition at a time

    @property
    def model_name(self) -> str:
        return self.config.name

    @property
    def base_path(self) -> str:
        return self.config.base_path

    def available(self) -> dict[int, LoadedVersion]:
        """The versions serving requests now, by version."""
        return dict(self._available)

    def latest(self) -> LoadedVersion | None:
        """The highest available version (what a request without a version gets)."""
        available = self._available
        return available[max(available)] if available else None

    def statuses(self) -> list[VersionStatus]:
        """Every version seen (END ones too), highest first, as GetModelStatus lists them."""
        return sorted(self._statuses.values(), key=lambda status: -status.version)

    def reconfigure(self, config: ModelConfig) -> None:
        """A new policy (from a config reload); applied by the next ``poll_once``."""
        self.config = config

    def poll_once(self) -> bool:
        """Loads and unloads versions until the policy is met; True if the available versions
        changed."""
        with self._lock:
            before = set(self._available)
            on_disk = ready_versions(self.base_path)
            self._failed &= set(on_disk)  # a failed version that left the disk may come back
            aspired = set(aspired_versions(self.config, on_disk))
            while (action := self._next_action(aspired)) is not None:
                verb, version = action
                if verb == "unload":
                    self._unload(version)
                else:
                    self._load(version)
            return set(self._available) != before

    def _next_action(self, aspired: set[int]) -> tuple[str, int] | None:
        """TF Serving's AvailabilityPreservingPolicy.GetNextAction."""
        unaspired_ready = sorted(set(self._available) - aspired)
        aspired_ready = aspired & set(self._available)
        if unaspired_ready and (not aspired or aspired_ready or len(unaspired_ready) > 1):
            return "unload", unaspired_ready[0]
        new = aspired - set(self._available) - self._failed
        return ("load", max(new)) if new else None

    def _load(self, version: int) -> None:
        self._statuses[version] = VersionStatus(version, State.LOADING)
        started = time.perf_counter()
        path = os.path.join(self.base_path, str(version))
        try:
            loaded = load_version(self.base_path, version, self.max_batch_size)
        except Exception as error:  # the versions already available keep serving
            self.metrics.record_load(path, False, time.perf_counter() - started)
            self._failed.add(version)
            self._statuses[version] = VersionStatus(
                version, State.END, load_error_code(error), str(error)
            )
            log.error(
                "model %s: loading version %d from %s failed, still serving %s: %s",
                self.model_name,
                version,
                self.base_path,
                sorted(self._available) or "nothing",
                error,
            )
            return
        self.metrics.record_load(path, True, time.perf_counter() - started)
        self._available = {**self._available, version: loaded}
        self._statuses[version] = VersionStatus(version, State.AVAILABLE)
        log.info("model %s: version %d is available", self.model_name, version)

    def _unload(self, version: int) -> None:
        loaded = self._available[version]
        self._available = {v: item for v, item in self._available.items() if v != version}
        self._statuses[version] = VersionStatus(version, State.UNLOADING)
        loaded.close()
        self._statuses[version] = VersionStatus(version, State.END)
        log.info("model %s: version %d unloaded", self.model_name, version)

    def unload_all(self) -> None:
        """Unloads every version (the model left the config, or the server stops)."""
        with self._lock:
            for version in sorted(self._available):
                self._unload(version)
