"""``artgan run``: the whole pipeline locally, every config field a flag."""

from __future__ import annotations

import dataclasses
import os

from artgan.cli.common import artgan_command
from artgan.cli.config_flags import add_section_flags, section_from_args
from artgan.config import PipelineConfig

DEFAULTS = PipelineConfig()
SERVING_FLAGS_SKIPPED = ("host", "port")  # `artgan serve`'s, not a run's
DEFAULT_SAMPLE_SEEDS = "0-15"


def add_config_flags(parser, top_level_skip: tuple[str, ...] = ()) -> None:
    """The flags of every section a pipeline run reads (shared with ``kubeflow compile``)."""
    add_section_flags(
        parser,
        "pipeline",
        DEFAULTS,
        "pipeline (PipelineConfig)",
        skip=top_level_skip,
    )
    add_section_flags(parser, "data", DEFAULTS.data, "data (DataConfig)")
    add_section_flags(parser, "train", DEFAULTS.train, "training (TrainConfig)")
    add_section_flags(
        parser, "eval", DEFAULTS.eval, "evaluation (EvalConfig; gates take X or none)"
    )
    add_section_flags(
        parser, "serving", DEFAULTS.serving, "serving (ServingConfig)", skip=SERVING_FLAGS_SKIPPED
    )


def config_from_args(args, defaults: PipelineConfig = DEFAULTS) -> PipelineConfig:
    """The PipelineConfig the parsed flags describe (sections without flags keep defaults)."""
    top = section_from_args(args, "pipeline", defaults)
    return dataclasses.replace(
        top,
        data=section_from_args(args, "data", defaults.data),
        train=section_from_args(args, "train", defaults.train),
        eval=section_from_args(args, "eval", defaults.eval),
        serving=section_from_args(args, "serving", defaults.serving),
        kubeflow=section_from_args(args, "kubeflow", defaults.kubeflow),
    )


def add_parser(commands, parents) -> None:
    run = commands.add_parser(
        "run",
        parents=parents,
        help="run the pipeline locally (BeamDagRunner, MLMD in <home>/metadata.sqlite)",
        description="Ingest images, train a GAN, evaluate it, and push it if it is good enough. "
        "Every field of artgan/config.py is a flag below.",
    )
    add_config_flags(run)
    after = run.add_argument_group("this run")
    after.add_argument(
        "--enable-cache", action="store_true", help="reuse outputs of unchanged components"
    )
    after.add_argument(
        "--sample-seeds",
        metavar="SEEDS",
        help="after the run, serve the latest pushed model and generate these seeds (e.g. 0-15)",
    )


def run(args) -> None:
    from artgan.pipeline.local_runner import resolve_paths, run_locally

    config = resolve_paths(config_from_args(args))
    outcome = run_locally(config, enable_cache=args.enable_cache)
    print(f"\nRun {outcome.run_id}: {outcome.summary()}")
    print(f"  pipeline outputs: {config.pipeline_root}")
    print(f"  ML Metadata:      {config.metadata_path}")
    print(f"  training samples: {os.path.join(outcome.model_run_uri, 'samples')}")
    print(f"  evaluation:       {outcome.blessing_uri}/evaluation.html (and metrics.json)")
    print(f"  served models:    {config.serving_model_dir}")
    seeds_text = args.sample_seeds or DEFAULT_SAMPLE_SEEDS
    if args.sample_seeds:
        sample_after_run(config, args.sample_seeds, outcome.pushed_version)
    print_next_commands(config, seeds_text, sampled=bool(args.sample_seeds))


def sample_after_run(config: PipelineConfig, seeds_text: str, pushed_version: str) -> None:
    from artgan.serving.sampling import sample_served_model

    if not os.path.isdir(config.serving_model_dir) or not os.listdir(config.serving_model_dir):
        print(f"\nNo model has been pushed to {config.serving_model_dir} yet; nothing to sample.")
        return
    out_dir = os.path.join(config.home, "samples")
    written = sample_served_model(
        config.serving_model_dir, config.serving.model_name, seeds_text, out_dir
    )
    print(f"\nServed version {written['version']} over gRPC; images: {written['grid']}")
    if str(written["version"]) != pushed_version:
        print(
            f"  (this run pushed nothing, so that is version {written['version']}, "
            "pushed by an earlier run)"
            if not pushed_version
            else f"  (this run pushed version {pushed_version}; a newer one is served)"
        )


def print_next_commands(config: PipelineConfig, seeds_text: str, sampled: bool = True) -> None:
    from artgan.serving.client import grid_labels
    from artgan.serving.repository import ready_versions
    from artgan.serving.seeds import format_int_ranges, parse_seeds

    base = config.serving_model_dir
    versions = ready_versions(base)
    if not versions:
        return
    artgan = artgan_command()
    name = config.serving.model_name
    same = " (the same images as samples/grid.png)" if sampled else ""
    print(f"\nServe and sample again{same}:")
    print(f"  {artgan} serve --model-base-path {base} --model-name {name}")
    generate = f"  {artgan} generate --model-name {name} --seeds {seeds_text}"
    labels = grid_labels(base, versions[-1], parse_seeds(seeds_text))
    if labels is not None:
        generate += f" --labels {format_int_ranges(labels)}"
    print(f"{generate} --out generated")
    print("Or look at it in the browser (seeds, truncation, walks, the evaluation report):")
    print(
        f"  {artgan} serve --model-base-path {base} --model-name {name} --rest-port 8501 "
        f"--gallery --home {config.home}   # then open http://127.0.0.1:8501/"
    )
