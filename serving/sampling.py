"""Serve a model base path on a free loopback port and sample it over gRPC (``--sample-seeds``)."""

from __future__ import annotations

from collections.abc import Sequence

from artgan.errors import ArtganError
from artgan.serving.client import GeneratorClient, grid_labels
from artgan.serving.pictures import write_generated
from artgan.serving.repository import pending_version_folders, ready_versions
from artgan.serving.seeds import parse_seeds
from artgan.serving.server import start_server


def sample_served_model(
    model_base_path: str,
    model_name: str,
    seeds: Sequence[int] | str,
    out_dir: str,
    timeout_s: float = 120,
) -> dict:
    """Serves ``model_base_path`` on a free loopback port, generates ``seeds`` over gRPC and
    writes them to ``out_dir``; returns the written paths plus the served ``version``.

    A class-conditional model is asked for ``grid_labels``: every class in order.
    """
    seed_list = parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    if not ready_versions(model_base_path) and not pending_version_folders(model_base_path):
        raise ArtganError(
            f"no model version under {model_base_path}: the Pusher only pushes blessed models"
        )
    handle = start_server(model_base_path, model_name=model_name, port=0)
    try:
        with GeneratorClient(handle.host, handle.port, timeout_s=timeout_s) as client:
            version = client.wait_until_available(model_name, timeout_s)
            labels = grid_labels(model_base_path, version, seed_list)
            result = client.generate(model_name, seed_list, version=version, labels=labels)
        return {**write_generated(result, out_dir), "version": result.version}
    finally:
        handle.stop()
