"""The training flags `artgan run` and `artgan kubeflow compile` share, and the config they make."""

from __future__ import annotations

import argparse
import dataclasses

from artgan.config import JIT_COMPILE_MODES, TrainConfig

DEFAULTS = TrainConfig()


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-steps", type=int, default=DEFAULTS.train_steps)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="start training from the latest blessed model's training state (default: scratch)",
    )
    parser.add_argument(
        "--jit-compile",
        choices=JIT_COMPILE_MODES,
        default=DEFAULTS.jit_compile,
        help="XLA for the train step; auto: on with GPUs (%(default)s)",
    )
    parser.add_argument(
        "--tpu-address",
        default=DEFAULTS.tpu_address,
        help="train on this TPU: a Cloud TPU name, grpc://host:port or 'local' (default: none)",
    )


def train_from_args(args: argparse.Namespace) -> TrainConfig:
    return dataclasses.replace(
        DEFAULTS,
        train_steps=args.train_steps,
        batch_size=args.batch_size,
        warm_start=args.warm_start,
        jit_compile=args.jit_compile,
        tpu_address=args.tpu_address,
    )
