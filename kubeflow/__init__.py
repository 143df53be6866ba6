"""Kubeflow Pipelines runner, container and manifests (filled by a later issue)."""
