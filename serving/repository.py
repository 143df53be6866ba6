"""Model versions on disk, as TF Serving sees them: discovery, loading and hot reload.

A model base path holds integer-named version folders. A folder counts once its
``saved_model.pb`` exists (TFX's Pusher copies it last). Like TF Serving's default policy, only
the highest version is served: a new one is loaded (with TF Serving's session loader, see
``bundle.py``) and warmed up from its warmup file first, then swapped in; a failed load or
warmup keeps the old one serving. Removing the served folder rolls back to the highest one left.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading

import tensorflow as tf

from artgan.contract import SAVED_MODEL_FILE
from artgan.contract.bundle import SavedModelBundle
from artgan.contract.warmup import replay_warmup

log = logging.getLogger(__name__)

MAX_LOAD_ATTEMPTS = 3  # a version that fails this often is skipped (and logged) from then on


@dataclasses.dataclass(frozen=True)
class LoadedVersion:
    """One loaded and warmed-up SavedModel version."""

    version: int
    path: str
    bundle: SavedModelBundle  # the session TF Serving's loader would build


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
    return LoadedVersion(version=version, path=path, bundle=bundle)


class ModelRepository:
    """Serves the latest loadable version of one model and polls for newer ones."""

    def __init__(self, model_name: str, base_path: str, poll_seconds: float, max_batch_size: int):
        self.model_name = model_name
        self.base_path = base_path
        self.poll_seconds = poll_seconds
        self.max_batch_size = max_batch_size  # warmup requests obey it too
        self._current: LoadedVersion | None = None
        self._failed_attempts: dict[int, int] = {}
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> LoadedVersion | None:
        """The version being served now (None until one has loaded)."""
        return self._current

    def poll_once(self) -> bool:
        """Loads the highest ready version if it is not the served one; True if it swapped."""
        with self._poll_lock:
            candidates = [
                version
                for version in ready_versions(self.base_path)
                if self._failed_attempts.get(version, 0) < MAX_LOAD_ATTEMPTS
            ]
            served = self._current
            if not candidates or (served is not None and candidates[-1] == served.version):
                return False
            return self._try_load(candidates[-1])

    def _try_load(self, version: int) -> bool:
        try:
            loaded = load_version(self.base_path, version, self.max_batch_size)
        except Exception as error:  # any failure keeps the old version serving
            attempts = self._failed_attempts.get(version, 0) + 1
            self._failed_attempts[version] = attempts
            served = self._current.version if self._current else "nothing"
            log.error(
                "model %s: loading version %d from %s failed (attempt %d of %d), still serving "
                "%s: %s",
                self.model_name,
                version,
                self.base_path,
                attempts,
                MAX_LOAD_ATTEMPTS,
                served,
                error,
            )
            return False
        previous = self._current
        self._current = loaded  # requests in flight keep their reference to the old version
        log.info(
            "model %s: serving version %d (was %s)",
            self.model_name,
            version,
            previous.version if previous else "none",
        )
        return True

    def start_polling(self) -> None:
        """Polls every ``poll_seconds`` on a daemon thread until ``stop_polling``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._poll_loop, name=f"artgan-poll-{self.model_name}", daemon=True
        )
        self._thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # e.g. a listing error: log and poll again
                log.exception("model %s: polling %s failed", self.model_name, self.base_path)

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
