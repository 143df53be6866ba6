"""`artgan bench`: each benchmark runs from the CLI and writes its JSON result."""

from __future__ import annotations

import json

import pytest

from artgan.cli import main


def test_bench_train_writes_throughput_of_both_loops(tmp_path):
    out = tmp_path / "train.json"
    argv = ["bench", "train", "--batch-size", "4", "--steps", "1", "--rounds", "1"]
    assert main([*argv, "--warmup-steps", "1", "--out", str(out)]) == 0

    record = json.loads(out.read_text())
    assert record["benchmark"] == "train"
    result = record["result"]
    assert set(result["images_per_second"]) == {"tutorial", "artgan"}
    assert all(value > 0 for value in result["images_per_second"].values())
    assert result["artgan_vs_tutorial"] > 0


def test_bench_lists_benchmarks_without_importing_them(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    assert "train" in capsys.readouterr().out
