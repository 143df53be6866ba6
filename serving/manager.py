"""The models a server serves, as TF Serving's ServerCore keeps them: config, labels, requests.

It holds one ``ModelRepository`` per configured model, polls their base paths, re-reads the
model config file when asked to, and turns a request's ModelSpec (name, version or label) into
the loaded version that answers it, with TF Serving's errors.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import grpc
from tensorflow_serving.apis import model_pb2

from artgan.contract.requests import ServingError
from artgan.serving.batching import BatchingOptions, BatchScheduler
from artgan.serving.metrics import ServerMetrics
from artgan.serving.model_config import ModelServerConfig, check_config, read_config_file
from artgan.serving.repository import (
    LoadedVersion,
    ModelRepository,
    State,
    VersionStatus,
    ready_versions,
)

log = logging.getLogger(__name__)


class ModelManager:
    """Serves the models of a ModelServerConfig; ``reload`` replaces it as TF Serving does."""

    def __init__(
        self,
        poll_seconds: float,
        max_batch_size: int,
        allow_labels_for_unavailable: bool = False,
        load_timeout_s: float = 600.0,
        batching: BatchingOptions | None = None,
    ):
        self.poll_seconds = poll_seconds
        self.max_batch_size = max_batch_size
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self.load_timeout_s = load_timeout_s
        # One scheduler joins concurrent Predict calls of every model (None: batching off).
        self.batcher = BatchScheduler(batching) if batching is not None else None
        self.metrics = ServerMetrics()
        self.config = ModelServerConfig()
        self._models: dict[str, ModelRepository] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def models(self) -> dict[str, ModelRepository]:
        return dict(self._models)

    def reload(self, config: ModelServerConfig, wait: bool = True) -> None:
        """Replaces the served models with ``config``'s (ServerCore::ReloadConfig): checks it,
        assigns its labels, unloads models no longer listed and, with ``wait``, blocks until
        each new model has an available version (or ``load_timeout_s`` has passed)."""
        check_config(config)
        with self._reload_lock:
            labels = self._checked_labels(config)
            models = dict(self._models)
            new_models = []
            for model in config.model_config_list.config:
                if model.name in models:
                    models[model.name].reconfigure(model)
                else:
                    models[model.name] = ModelRepository(model, self.max_batch_size, self.metrics)
                    new_models.append(model.name)
            listed = {model.name for model in config.model_config_list.config}
            removed = [models.pop(name) for name in list(models) if name not in listed]
            self._labels = labels
            self._models = models
            self.config = config
        for repository in removed:
            log.info("model %s left the config: unloading it", repository.model_name)
            repository.unload_all()
        for name in new_models if wait else []:
            self._wait_until_available(models[name])
        self.poll_once()

    def _checked_labels(self, config: ModelServerConfig) -> dict[str, dict[str, int]]:
        """Label -> version per model; FAILED_PRECONDITION for a label on a version that is
        not available (unless allowed, and the label is new or unchanged)."""
        labels: dict[str, dict[str, int]] = {}
        for model in config.model_config_list.config:
            repository = self._models.get(model.name)
            available = repository.available() if repository else {}
            for label, version in model.version_labels.items():
                existing = self._labels.get(model.name, {}).get(label, version)
                allowed = self.allow_labels_for_unavailable and existing == version
                if version not in available and not allowed:
                    raise ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of model "
                        f"{model.name}, which is not currently available for inference",
                    )
                labels.setdefault(model.name, {})[label] = version
        return labels

    def _wait_until_available(self, repository: ModelRepository) -> None:
        """Until a version loads or fails; at once when there is none on disk yet (the model
        then answers NOT_FOUND until one is pushed)."""
        deadline = time.monotonic() + self.load_timeout_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not repository.poll_once() and not ready_versions(repository.base_path):
                return
            if repository.available() or any(
                status.state == State.END for status in repository.statuses()
            ):
                return
            if self._stop.wait(min(self.poll_seconds, 0.2)):
                return

    def poll_once(self) -> None:
        """One look at every model's base path (loads and unloads as its policy says)."""
        for repository in self.models().values():
            try:
                repository.poll_once()
            except Exception:  # e.g. a listing error: log and poll again
                log.exception(
                    "model %s: polling %s failed", repository.model_name, repository.base_path
                )

    def start_polling(self, config_file: str = "", config_poll_seconds: float = 0) -> None:
        """Polls base paths every ``poll_seconds`` and, when given, re-reads ``config_file``
        every ``config_poll_seconds`` (a config that fails to read or apply is logged and the
        previous one kept), on daemon threads until ``stop``."""
        self._start(self._poll_loop, "artgan-poll")
        if config_file and config_poll_seconds > 0:
            self._start(
                lambda: self._config_loop(config_file, config_poll_seconds), "artgan-config"
            )

    def _start(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll_once()

    def _config_loop(self, path: str, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                config = read_config_file(path)
                if config != self.config:
                    log.info("model config file %s changed: reloading it", path)
                    self.reload(config)
            except ServingError as error:
                log.error("model config file %s: %s (keeping the previous config)", path, error)

    def stop(self) -> None:
        """Stops polling and batching, and unloads every model."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self.batcher is not None:
            self.batcher.stop()
        for repository in self.models().values():
            repository.unload_all()

    # Requests

    def resolve(self, model_spec: model_pb2.ModelSpec) -> LoadedVersion:
        """The available version a request's ModelSpec asks for (ServableRequestFromModelSpec):
        its version, its label's version, or the latest."""
        if not model_spec.name:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")
        choice = model_spec.WhichOneof("version_choice")
        version = model_spec.version.value if choice == "version" else None
        if choice == "version_label":
            version = self.label_version(model_spec.name, model_spec.version_label)
        repository = self._models.get(model_spec.name)
        loaded = None
        if repository is not None:
            loaded = repository.latest() if version is None else repository.available().get(version)
        if loaded is None:
            wanted = (
                f"Specific({model_spec.name}, {version})"
                if version is not None
                else f"Latest({model_spec.name})"
            )
            raise ServingError(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}"
            )
        return loaded

    @contextlib.contextmanager
    def use(self, model_spec: model_pb2.ModelSpec) -> Iterator[LoadedVersion]:
        """``resolve``, holding the version until the block ends (an unload waits for it)."""
        for _ in range(3):  # the version resolved may be closing: resolve again
            loaded = self.resolve(model_spec)
            if loaded.try_acquire():
                break
        else:
            raise ServingError(
                grpc.StatusCode.UNAVAILABLE, f"{model_spec.name}: every version is unloading"
            )
        try:
            yield loaded
        finally:
            loaded.release()

    def label_version(self, model_name: str, label: str) -> int:
        version = self._labels.get(model_name, {}).get(label)
        if version is None:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}"
            )
        return version

    def version_statuses(self, model_spec: model_pb2.ModelSpec) -> list[VersionStatus]:
        """GetModelStatus: one version's status, or every version's (a label is ignored, as
        TF Serving ignores it); NOT_FOUND when there is none."""
        repository = self._models.get(model_spec.name)
        statuses = repository.statuses() if repository else []
        if model_spec.WhichOneof("version_choice") == "version":
            wanted = model_spec.version.value
            statuses = [status for status in statuses if status.version == wanted]
            if not statuses:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Could not find version {wanted} of model {model_spec.name}",
                )
        elif not statuses:
            raise ServingError(
                grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {model_spec.name}"
            )
        return statuses
