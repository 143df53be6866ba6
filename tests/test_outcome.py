"""The one-line run summary (pipeline/outcome.py)."""

from __future__ import annotations

import math

from artgan.pipeline.outcome import RunOutcome


def outcome(network: str, inception_score: float) -> RunOutcome:
    return RunOutcome(
        run_id="run",
        blessed=True,
        fid=8.558,
        kid=0.64,
        inception_score=inception_score,
        feature_network=network,
        blessing_uri="b",
        model_uri="m",
        model_run_uri="r",
        pushed=True,
        pushed_version="7",
        pushed_destination="/serving/artgan/7",
    )


def test_summary_names_the_numbers_after_the_feature_network():
    line = outcome("domain_classifier", 7.25).summary()
    assert line.startswith("model BLESSED (FD (domain_classifier) 8.558")
    assert "CS (domain_classifier) 7.250" in line
    assert line.endswith("pushed as version 7 to /serving/artgan/7")


def test_a_network_without_class_scores_shows_no_class_score():
    line = outcome("contrastive", math.nan).summary()
    assert "KD (contrastive) 0.640" in line
    assert "CS" not in line and "nan" not in line
