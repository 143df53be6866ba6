"""The ``artgan`` command line: a thin layer over functions the tests call directly."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys

from artgan import bench, cli_kubeflow, cli_mlmd, cli_train
from artgan.config import FIT_MODES, PipelineConfig, ServingConfig
from artgan.errors import ArtganError

DEFAULTS = PipelineConfig()
SERVING = ServingConfig()


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run the pipeline locally (BeamDagRunner, MLMD in <home>/metadata.sqlite)",
        description="Ingest images, train a GAN, evaluate it, and push it if it is good enough.",
    )
    run.add_argument("--data", help="image folder (default: the embedded scikit-learn digits)")
    run.add_argument("--home", default=DEFAULTS.home, help="where everything goes (%(default)s)")
    cli_train.add_train_arguments(run)
    run.add_argument("--resolution", type=int, default=DEFAULTS.data.resolution)
    run.add_argument("--channels", type=int, choices=(1, 3), default=DEFAULTS.data.channels)
    run.add_argument(
        "--fit",
        choices=FIT_MODES,
        default=DEFAULTS.data.fit,
        help="non-square images: centre-crop or pad with the background (%(default)s)",
    )
    run.add_argument(
        "--background",
        default=DEFAULTS.data.background,
        help="colour behind transparent pixels and padding, #rrggbb (%(default)s)",
    )
    run.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULTS.data.max_pixels,
        help="skip larger images before decoding them (%(default)s)",
    )
    run.add_argument(
        "--stop-on-anomalies",
        action="store_true",
        help="fail the run when ExampleValidator finds anomalies (default: report them)",
    )
    run.add_argument(
        "--transform-statistics",
        action="store_true",
        help="Transform also writes TFDV statistics before and after preprocessing (slower)",
    )
    _add_eval_arguments(run)
    run.add_argument("--model-name", default=SERVING.model_name)
    run.add_argument(
        "--enable-cache", action="store_true", help="reuse outputs of unchanged components"
    )
    run.add_argument(
        "--sample-seeds",
        help="after the run, serve the latest pushed model and generate these seeds (e.g. 0-15)",
    )


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off") else float(text)


# flag -> EvalConfig field; gates take a number or "none" (not checked).
EVAL_GATES = {
    "--fid-threshold": "fid_threshold",
    "--fid-max-over-floor": "fid_max_over_floor",
    "--kid-threshold": "kid_threshold",
    "--is-threshold": "is_threshold",
    "--fid-margin": "fid_margin",
    "--kid-margin": "kid_margin",
    "--is-margin": "is_margin",
}


def _add_eval_arguments(run) -> None:
    from artgan.config import FEATURE_NETWORKS

    evaluation = run.add_argument_group("evaluation (EvalConfig; see README, Evaluation)")
    evaluation.add_argument(
        "--feature-network", choices=FEATURE_NETWORKS, default=DEFAULTS.eval.feature_network
    )
    evaluation.add_argument(
        "--inception-graph",
        default=DEFAULTS.eval.inception_graph_path,
        metavar="PATH",
        help="classify_image_graph_def.pb of the 2015-12-05 Inception tarball",
    )
    evaluation.add_argument("--eval-samples", type=int, default=DEFAULTS.eval.num_samples)
    for flag, field in EVAL_GATES.items():
        evaluation.add_argument(
            flag,
            type=_optional_float,
            default=getattr(DEFAULTS.eval, field),
            metavar="X|none",
            help="%(default)s",
        )
    evaluation.add_argument(
        "--min-classifier-accuracy", type=float, default=DEFAULTS.eval.min_classifier_accuracy
    )


def _eval_from_args(args):
    return dataclasses.replace(
        DEFAULTS.eval,
        feature_network=args.feature_network,
        inception_graph_path=args.inception_graph,
        num_samples=args.eval_samples,
        min_classifier_accuracy=args.min_classifier_accuracy,
        **{field: getattr(args, flag[2:].replace("-", "_")) for flag, field in EVAL_GATES.items()},
    )


def _add_serve(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve pushed generators over TensorFlow Serving's gRPC API"
    )
    serve.add_argument(
        "--model-base-path",
        default=PipelineConfig().serving_model_dir,
        help="folder of integer version folders (%(default)s)",
    )
    serve.add_argument("--model-name", default=SERVING.model_name)
    serve.add_argument("--host", default=SERVING.host)
    serve.add_argument("--port", type=int, default=SERVING.port)
    serve.add_argument("--max-batch-size", type=int, default=SERVING.max_batch_size)


def _add_generate(commands) -> None:
    generate = commands.add_parser("generate", help="ask a model server for images by seed")
    generate.add_argument("--host", default=SERVING.host)
    generate.add_argument("--port", type=int, default=SERVING.port)
    generate.add_argument("--model-name", default=SERVING.model_name)
    generate.add_argument("--version", type=int, help="model version (default: latest)")
    generate.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 1,5,9-12")
    generate.add_argument(
        "--labels",
        help="class labels for a class-conditional model: one for all seeds or one per seed",
    )
    generate.add_argument("--out", default="generated", help="output folder (%(default)s)")


def _add_data(commands) -> None:
    data = commands.add_parser("data", help="export the embedded datasets as image folders")
    datasets = data.add_subparsers(dest="dataset", required=True)
    digits = datasets.add_parser("digits", help="scikit-learn's 1,797 8x8 handwritten digits")
    digits.add_argument("--out", required=True, help="output folder")
    fashion = datasets.add_parser(
        "fashion-mnist",
        help="Fashion-MNIST's 70,000 28x28 images (Debian package dataset-fashion-mnist)",
    )
    fashion.add_argument("--out", required=True, help="output folder")


def _bench(args) -> None:
    print(f"wrote {bench.run(args)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artgan",
        description="Turn a folder of images into a served GAN: train, evaluate, push, serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run(commands)
    _add_serve(commands)
    _add_generate(commands)
    _add_data(commands)
    bench.add_parser(commands)
    cli_kubeflow.add_parser(commands)
    cli_mlmd.add_parser(commands)
    return parser


def _config_from_args(args) -> PipelineConfig:
    return dataclasses.replace(
        DEFAULTS,
        home=args.home,
        data_dir=args.data or "",
        data=dataclasses.replace(
            DEFAULTS.data,
            resolution=args.resolution,
            channels=args.channels,
            fit=args.fit,
            background=args.background,
            max_pixels=args.max_pixels,
            stop_on_anomalies=args.stop_on_anomalies,
            transform_statistics=args.transform_statistics,
        ),
        train=cli_train.train_from_args(args),
        eval=_eval_from_args(args),
        serving=dataclasses.replace(SERVING, model_name=args.model_name),
    )


def _run(args) -> None:
    from artgan.pipeline.local_runner import resolve_paths, run_locally

    config = resolve_paths(_config_from_args(args))
    outcome = run_locally(config, enable_cache=args.enable_cache)
    print(f"\nRun {outcome.run_id}: {outcome.summary()}")
    print(f"  pipeline outputs: {config.pipeline_root}")
    print(f"  ML Metadata:      {config.metadata_path}")
    print(f"  training samples: {os.path.join(outcome.model_run_uri, 'samples')}")
    print(f"  evaluation:       {outcome.blessing_uri}/evaluation.html (and metrics.json)")
    print(f"  served models:    {config.serving_model_dir}")
    if args.sample_seeds:
        _sample_after_run(config, args.sample_seeds)
    name = config.serving.model_name
    print("\nServe and sample again:")
    print(f"  artgan serve --model-base-path {config.serving_model_dir} --model-name {name}")
    print(f"  artgan generate --model-name {name} --seeds 0-15 --out generated")


def _sample_after_run(config: PipelineConfig, seeds_text: str) -> None:
    from artgan.serving.client import parse_seeds
    from artgan.serving.sampling import sample_served_model

    if not os.path.isdir(config.serving_model_dir) or not os.listdir(config.serving_model_dir):
        print(f"\nNo model has been pushed to {config.serving_model_dir} yet; nothing to sample.")
        return
    out_dir = os.path.join(config.home, "samples")
    written = sample_served_model(
        config.serving_model_dir, config.serving.model_name, parse_seeds(seeds_text), out_dir
    )
    print(f"\nServed version {written['version']} over gRPC; images: {written['grid']}")


def _serve(args) -> None:
    from artgan.serving.server import serve_forever

    serve_forever(
        args.model_base_path,
        model_name=args.model_name,
        host=args.host,
        port=args.port,
        max_batch_size=args.max_batch_size,
    )


def _generate(args) -> None:
    from artgan.serving.client import GeneratorClient, parse_labels, parse_seeds, write_generated

    with GeneratorClient(args.host, args.port) as client:
        labels = parse_labels(args.labels) if args.labels else None
        seeds = parse_seeds(args.seeds)
        result = client.generate(args.model_name, seeds, version=args.version, labels=labels)
    written = write_generated(result, args.out)
    print(f"{len(result.seeds)} images from {args.model_name} version {result.version}")
    print(f"  grid: {written['grid']}")


def _data(args) -> None:
    from artgan import datasets

    if args.dataset == "fashion-mnist":
        count = datasets.export_fashion_mnist(args.out)
        print(f"wrote {count} Fashion-MNIST images to {os.path.abspath(args.out)}")
        return
    count = datasets.export_digits(args.out)
    print(f"wrote {count} digit images to {os.path.abspath(args.out)}")


COMMANDS = {
    "run": _run,
    "serve": _serve,
    "generate": _generate,
    "data": _data,
    "bench": _bench,
    "kubeflow": cli_kubeflow.run,
    "mlmd": cli_mlmd.run,
}


# Known-harmless log lines of the pinned stack (see ../shared/notes/dependencies.md).
HARMLESS_LOG_LINES = (
    "ArtifactQuery.property_predicate is not supported",
    "Missing pipeline option (runner)",
)
# TFX's own progress lines worth showing without --verbose.
TFX_PROGRESS = re.compile(r"^Component \S+ is (running|finished)")


def _is_useful(record: logging.LogRecord) -> bool:
    """Without --verbose: artgan's own INFO lines, TFX's per-component progress, and warnings.

    A user error (ArtganError) is printed once by ``main``, so log records carrying it as a
    traceback are dropped.
    """
    if record.exc_info and isinstance(record.exc_info[1], ArtganError):
        return False
    message = record.getMessage()
    if any(line in message for line in HARMLESS_LOG_LINES):
        return False
    if record.name.startswith("artgan") or record.levelno >= logging.WARNING:
        return True
    return bool(TFX_PROGRESS.match(message))


def _configure_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_is_useful)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        COMMANDS[args.command](args)
    except ArtganError as error:
        print(f"artgan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
