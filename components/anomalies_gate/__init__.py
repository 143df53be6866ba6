"""A TFX component that reports ExampleValidator's anomalies and, if configured, stops the run."""

from artgan.components.anomalies_gate.component import AnomaliesGate, anomaly_lines, check_anomalies

__all__ = ["AnomaliesGate", "anomaly_lines", "check_anomalies"]
