"""Kubeflow Pipelines: compiling the pipeline (compiler.py), submitting it (submit.py), the
component image (Dockerfile) and serving manifests (k8s/)."""
