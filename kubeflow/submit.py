"""Submits a compiled pipeline package to a Kubeflow Pipelines endpoint with ``kfp.Client``.

TFX's own ``tfx run create --engine kubeflow`` handler is broken since TFX 1.16, so this talks
to the KFP API directly.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

from artgan.errors import ArtganError


@dataclasses.dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    run_url: str  # the run's page in the KFP UI


def submit_package(
    host: str,
    package: str,
    run_name: str | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
) -> SubmittedRun:
    """Starts one run of ``package`` (a compiled PipelineSpec) on the KFP API at ``host``."""
    import kfp
    import kfp_server_api
    import urllib3

    if not os.path.isfile(package):
        raise ArtganError(
            f"pipeline package {package!r} does not exist: run `artgan kubeflow compile` first"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP >= 2.0"
            client = kfp.Client(host=host, namespace=namespace)
            result = client.create_run_from_pipeline_package(
                package, arguments={}, run_name=run_name, experiment_name=experiment
            )
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ArtganError(
            f"cannot reach Kubeflow Pipelines at {host!r} ({_reason(error)}): check the URL, "
            "e.g. http://localhost:8080 after "
            "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`"
        ) from error
    except kfp_server_api.exceptions.ApiException as error:
        raise ArtganError(
            f"Kubeflow Pipelines at {host!r} refused the run of {package!r}: "
            f"HTTP {error.status} {error.reason}: {(error.body or '').strip()[:500]}"
        ) from error
    return SubmittedRun(result.run_id, f"{host.rstrip('/')}/#/runs/details/{result.run_id}")


def _reason(error: Exception) -> str:
    """The last clause of urllib3's nested message, e.g. "[Errno 111] Connection refused"."""
    reason = getattr(error, "reason", None) or error
    return str(reason).rsplit(": ", 1)[-1].strip("')\"")
