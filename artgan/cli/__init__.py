"""The ``artgan`` command line: a thin layer over functions the tests call directly."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from artgan import bench
from artgan.cli import gallery, generate, kubeflow, mlmd, native_logs, run, serve
from artgan.cli.common import verbose_parent
from artgan.emoji_dataset import CLASS_LEVELS, export_emoji
from artgan.errors import ArtganError


def _add_data(commands, parents) -> None:
    data = commands.add_parser(
        "data", parents=parents, help="export the embedded datasets as image folders"
    )
    datasets = data.add_subparsers(dest="dataset", required=True)
    digits = datasets.add_parser("digits", help="scikit-learn's 1,797 8x8 handwritten digits")
    digits.add_argument("--out", required=True, help="output folder")
    fashion = datasets.add_parser(
        "fashion-mnist",
        help="Fashion-MNIST's 70,000 28x28 images (Debian package dataset-fashion-mnist)",
    )
    fashion.add_argument("--out", required=True, help="output folder")
    emoji = datasets.add_parser(
        "emoji",
        help="an emoji-datasource npm package's base emoji: 64x64 RGBA PNGs by (sub)category",
    )
    emoji.add_argument("--out", required=True, help="output folder")
    emoji.add_argument(
        "--package",
        default="",
        metavar="PATH",
        help="the unpacked package folder or its .tgz (default: fetch it with npm pack)",
    )
    emoji.add_argument("--set", dest="emoji_set", default="google", help="%(default)s")
    emoji.add_argument(
        "--classes",
        choices=CLASS_LEVELS,
        default="category",
        help="one folder per category (9) or subcategory (98 for google: heart, "
        "animal-mammal, food-fruit, ...); default %(default)s",
    )


def _bench(args) -> None:
    print(f"wrote {bench.run(args)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artgan",
        description="Turn a folder of images into a served GAN: train, evaluate, push, serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything")
    parents = [verbose_parent()]
    commands = parser.add_subparsers(dest="command", required=True)
    run.add_parser(commands, parents)
    serve.add_parser(commands, parents)
    gallery.add_parser(commands, parents)
    generate.add_parser(commands, parents)
    _add_data(commands, parents)
    bench.add_parser(commands, parents)
    kubeflow.add_parser(commands, parents)
    mlmd.add_parser(commands, parents)
    return parser


def _data(args) -> None:
    from artgan import datasets

    if args.dataset == "emoji":
        counts = export_emoji(args.out, args.package, args.emoji_set, args.classes)
        print(
            f"wrote {sum(counts.values())} {args.emoji_set} emoji in {len(counts)} {args.classes} "
            f"folders to {os.path.abspath(args.out)}"
        )
        for folder, count in counts.items():
            print(f"  {folder}: {count}")
        return
    if args.dataset == "fashion-mnist":
        count = datasets.export_fashion_mnist(args.out)
        print(f"wrote {count} Fashion-MNIST images to {os.path.abspath(args.out)}")
        return
    count = datasets.export_digits(args.out)
    print(f"wrote {count} digit images to {os.path.abspath(args.out)}")


COMMANDS = {
    "run": run.run,
    "serve": serve.serve,
    "gallery": gallery.run,
    "generate": generate.generate,
    "data": _data,
    "bench": _bench,
    "kubeflow": kubeflow.run,
    "mlmd": mlmd.run,
}


# Known-harmless log lines of the pinned stack (see ../shared/notes/dependencies.md).
HARMLESS_LOG_LINES = (
    "ArtifactQuery.property_predicate is not supported",
    "Missing pipeline option (runner)",
    # TFX's Transform records no payload_format on the examples it writes; they are tf.Examples.
    "does not have payload_format custom property. Falling back to FORMAT_TF_EXAMPLE",
    # The serving check loads models with TF Serving's session loader on purpose.
    "load (from tensorflow.python.saved_model.loader_impl) is deprecated",
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
    # TensorFlow's C++ start-up lines on a CPU machine (cuInit, oneDNN, grappler's remapper)
    # read like failures and are not: hidden unless -v. Real errors still raise in Python.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
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


def console_main() -> int:
    """The ``artgan`` executable (and ``python -m artgan``): ``main`` with TensorFlow's
    harmless C++ start-up lines filtered out unless ``-v`` is given."""
    if not {"-v", "--verbose"} & set(sys.argv[1:]):
        native_logs.filter_native_stderr()
    return main()
