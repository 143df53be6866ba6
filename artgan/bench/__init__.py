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
}


def add_parser(commands) -> None:
    bench = commands.add_parser("bench", help="run a benchmark; results are written as JSON")
    names = bench.add_subparsers(dest="benchmark", required=True)
    for name, module_path in sorted(BENCHMARKS.items()):
        module = importlib.import_module(module_path)
        parser = names.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        parser.add_argument(
            "--out", default=os.path.join("bench_results", f"{name}.json"), help="%(default)s"
        )
        module.add_arguments(parser)


def run(args: argparse.Namespace) -> str:
    """Runs the chosen benchmark and writes its result (plus the machine) to ``args.out``."""
    module = importlib.import_module(BENCHMARKS[args.benchmark])
    started = time.time()
    result = module.run(args)
    record = {
        "benchmark": args.benchmark,
        "started_unix": started,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "result": result,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    return args.out
