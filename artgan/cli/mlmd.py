"""``artgan mlmd runs|models|lineage|show``: what ML Metadata says ran, was made and is served.

Reads the local store (``--home`` or ``--sqlite``, opened read-only, fine while a pipeline is
writing it) or a MySQL / gRPC MLMD endpoint. Aligned tables by default, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

from artgan.config import PipelineConfig
from artgan.errors import ArtganError
from artgan.pipeline.mlmd import connection as mlmd_connection

DEFAULTS = PipelineConfig()


def add_parser(commands, parents) -> None:
    store = argparse.ArgumentParser(add_help=False, parents=parents)
    where = store.add_argument_group("which store (default: <home>/metadata.sqlite)")
    source = where.add_mutually_exclusive_group()
    source.add_argument("--home", help=f"an artgan home ({DEFAULTS.home})")
    source.add_argument("--sqlite", metavar="PATH", help="an MLMD SQLite file")
    source.add_argument("--mysql-host", help="an MLMD store in MySQL")
    source.add_argument("--grpc-host", help="an MLMD gRPC server (Kubeflow: metadata-grpc-service)")
    where.add_argument("--mysql-port", type=int, default=mlmd_connection.MYSQL_PORT)
    where.add_argument("--mysql-database", default=mlmd_connection.MYSQL_DATABASE)
    where.add_argument("--mysql-user", default="")
    where.add_argument("--mysql-password", default="")
    where.add_argument("--grpc-port", type=int, default=mlmd_connection.GRPC_PORT)
    store.add_argument("--json", action="store_true", help="print JSON instead of a table")

    mlmd = commands.add_parser(
        "mlmd", parents=parents, help="inspect ML Metadata: runs, models, lineage"
    )
    queries = mlmd.add_subparsers(dest="mlmd_command", required=True)
    queries.add_parser("runs", parents=[store], help="pipeline runs and their components")
    queries.add_parser(
        "models", parents=[store], help="trained models: scores, blessing, pushed version"
    )
    lineage = queries.add_parser(
        "lineage", parents=[store], help="where a served model came from, or what data made"
    )
    start = lineage.add_mutually_exclusive_group(required=True)
    start.add_argument("--version", help="a pushed serving version: back to the image folder")
    start.add_argument(
        "--latest-pushed", action="store_true", help="the most recently pushed version"
    )
    start.add_argument("--artifact", type=int, metavar="ID", help="back from any artifact")
    start.add_argument(
        "--from-artifact", type=int, metavar="ID", help="forward: everything made from it"
    )
    show = queries.add_parser("show", parents=[store], help="one artifact: URI and properties")
    show.add_argument("artifact_id", type=int, metavar="ARTIFACT_ID")


def connection_from_args(args) -> mlmd_connection.Connection:
    """The store the flags name: gRPC, MySQL, an SQLite file, or the home's store."""
    if args.grpc_host:
        return mlmd_connection.grpc_connection(args.grpc_host, args.grpc_port)
    if args.mysql_host:
        return mlmd_connection.mysql_connection(
            args.mysql_host,
            port=args.mysql_port,
            database=args.mysql_database,
            user=args.mysql_user,
            password=args.mysql_password,
        )
    if args.sqlite:
        return mlmd_connection.sqlite_connection(args.sqlite)
    home = args.home or DEFAULTS.home
    return mlmd_connection.sqlite_connection(PipelineConfig(home=home).metadata_path)


def query(args) -> Any:
    """Runs the query ``args`` name; returns dataclasses (or a list of them)."""
    from artgan.pipeline.mlmd import inspect as mlmd_inspect
    from artgan.pipeline.mlmd import lineage as mlmd_lineage
    from artgan.pipeline.mlmd.reader import MetadataReader

    connection = connection_from_args(args)
    with mlmd_connection.store_errors(connection):
        reader = MetadataReader(mlmd_connection.open_store(connection))
        command = args.mlmd_command
        if command == "runs":
            return mlmd_inspect.list_runs(reader)
        if command == "models":
            return mlmd_inspect.list_models(reader)
        if command == "show":
            details = mlmd_inspect.show_artifact(reader, args.artifact_id)
            if details is None:
                raise ArtganError(f"no artifact with id {args.artifact_id} in the store")
            return details
        if args.from_artifact is not None:
            return mlmd_lineage.downstream(reader, args.from_artifact)
        if args.artifact is not None:
            return mlmd_lineage.upstream(reader, args.artifact)
        if args.latest_pushed:
            return mlmd_lineage.upstream(reader, mlmd_lineage.latest_pushed_model_id(reader))
        return mlmd_lineage.upstream(reader, mlmd_lineage.pushed_model_id(reader, args.version))


def run(args) -> None:
    result = query(args)
    if args.json:
        print(to_json(result))
    else:
        print(FORMATTERS[args.mlmd_command](result))


def to_json(result: Any) -> str:
    """JSON of query results; a non-finite score (NaN) becomes null, which JSON can carry."""
    if isinstance(result, list):
        data = [dataclasses.asdict(item) for item in result]
    else:
        data = dataclasses.asdict(result)
    return json.dumps(_finite(data), indent=2)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_finite(value) for value in data]
    return data


def table(headers: list[str], rows: list[list[Any]], indent: str = "") -> str:
    """Rows aligned under their headers; None shows as blank, floats to 4 significant digits."""
    cells = [headers] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(indent + line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:#.4g}"
    return str(value)


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f} s"


def format_runs(runs) -> str:
    if not runs:
        return "no pipeline runs in the store"
    blocks = []
    for run in runs:
        head = f"run {run.run_id}  {run.state}  started {run.started}"
        if run.duration_s is not None:
            head += f"  took {_seconds(run.duration_s)}"
        rows = [
            [c.component, c.execution_id, c.state, c.started, _seconds(c.duration_s)]
            for c in run.components
        ]
        headers = ["component", "execution", "state", "started", "duration"]
        blocks.append(head + "\n" + table(headers, rows, indent="  "))
    return "\n\n".join(blocks)


def format_models(models) -> str:
    if not models:
        return "no trained models in the store"
    rows = [
        [
            m.model_id,
            m.run_id,
            m.fid,
            m.inception_score,
            m.kid,
            m.blessed,
            m.serving_check,
            m.pushed_version,
            m.uri,
        ]
        for m in models
    ]
    headers = ["model", "run", "FID", "IS", "KID", "blessed", "serves", "pushed version", "uri"]
    failures = [
        f"model {m.model_id}: serving check failed: {m.serving_check_reason}"
        for m in models
        if m.serving_check is False
    ]
    return "\n".join([table(headers, rows), *failures])


def format_lineage(lineage) -> str:
    what = "everything it was made from" if lineage.direction == "upstream" else "all made from it"
    rows = [
        [
            "  " * step.depth + str(step.artifact_id),
            step.type,
            f"{step.component}.{step.output_key}" if step.component else "",
            " ".join(f"{key}={_cell(value)}" for key, value in step.facts.items()),
            step.uri,
        ]
        for step in lineage.steps
    ]
    lines = [
        f"artifact {lineage.start_id} and {what}, nearest first:",
        table(["artifact", "type", "written by", "facts", "uri"], rows, indent="  "),
    ]
    for folder in lineage.input_folders:
        counts = (
            f"{folder.image_files} image files: {folder.num_examples} examples, "
            f"{folder.num_skipped} skipped"
            if folder.image_files is not None
            else "file count not recorded yet"
        )
        lines.append(f"input folder: {folder.input_base} ({counts}; examples {folder.examples_id})")
    return "\n".join(lines)


def format_show(details) -> str:
    def linked(link) -> str:
        return f"{link.component}.{link.key} (execution {link.execution_id}, {link.state})"

    summary = [
        ["id", details.artifact_id],
        ["type", details.type],
        ["uri", details.uri],
        ["state", details.state],
        ["created", details.created],
        ["updated", details.updated],
        ["runs", ", ".join(details.runs)],
        ["written by", linked(details.produced_by) if details.produced_by else ""],
        ["read by", "; ".join(linked(link) for link in details.consumed_by)],
    ]
    props = [  # full precision here: this is the place to read exact values
        [key, json.dumps(value) if isinstance(value, dict | list) else str(value)]
        for key, value in details.properties.items()
    ]
    return table(["field", "value"], summary) + "\n\n" + table(["property", "value"], props)


FORMATTERS = {
    "runs": format_runs,
    "models": format_models,
    "lineage": format_lineage,
    "show": format_show,
}
