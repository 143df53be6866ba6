"""Benchmarks behind ``artgan bench NAME``: each writes its measurements as JSON.

A benchmark module defines ``add_arguments(parser)`` and ``run(args) -> dict``; register it in
``BENCHMARKS`` below (name -> module path, imported only when that benchmark runs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time

BENCHMARKS: dict[str, str] = {
    "train": "artgan.bench.train",
    "evaluate": "artgan.bench.evaluate",
    "ingest": "artgan.bench.ingest",
    "feature-networks": "artgan.bench.feature_networks",
    "serve": "artgan.bench.serve",
}


def add_parser(commands, parents=()) -> None:
    """``artgan bench NAME [options]``; a benchmark's module is imported only when it runs."""
    bench = commands.add_parser(
        "bench",
        parents=list(parents),
        help="run a benchmark; results are written as JSON",
        description=f"Benchmarks: {', '.join(sorted(BENCHMARKS))}. "
        "`artgan bench NAME --help` lists a benchmark's options.",
    )
    bench.add_argument("benchmark", choices=sorted(BENCHMARKS))
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options")


def _parse_options(name: str, options: list[str]):
    module = importlib.import_module(BENCHMARKS[name])
    parser = argparse.ArgumentParser(
        prog=f"artgan bench {name}", description=(module.__doc__ or "").strip()
    )
    parser.add_argument(
        "--out", default=os.path.join("bench_results", f"{name}.json"), help="%(default)s"
    )
    module.add_arguments(parser)
    return module, parser.parse_args(options)


def run(bench_args: argparse.Namespace) -> str:
    """Runs the chosen benchmark and writes its result (plus the machine) to its ``--out``."""
    module, args = _parse_options(bench_args.benchmark, bench_args.options)
    started = time.time()
    result = module.run(args)
    record = {
        "benchmark": bench_args.benchmark,
        "started_unix": started,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "result": result,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    return args.out
