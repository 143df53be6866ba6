"""The Beam arguments of a local run: checked before the first component, and what Beam's
worker processes need before they unpickle a component's functions.

Beam parses these arguments only inside each Beam component: a value it cannot parse exits
the run there with an argparse usage line, and a misspelled name is dropped with a warning
(``--direct_num_wokers=2`` would run on one worker). ``check_beam_args`` says so first.
"""

from __future__ import annotations

import contextlib
import io

from apache_beam.options.pipeline_options import PipelineOptions

from artgan.errors import ArtganError

# Beam's SDK worker processes (the DirectRunner's multi_processing mode, Flink, Spark, Dataflow)
# import this before any component's functions. TFDV 1.16 (see pyproject.toml) imports
# tfx_bsl.arrow.sql_util, which tfx-bsl 1.21 no longer has; `import tfx` puts a stand-in for
# it in place. Without it StatisticsGen fails in the workers with "cannot import name
# 'sql_util' from 'tfx_bsl.arrow'".
WORKER_BOOTSTRAP = "--beam_plugin=tfx"


def check_beam_args(beam_args: tuple[str, ...]) -> None:
    """Raises ArtganError for an argument Beam would reject mid-run or silently drop."""
    for arg in beam_args:
        if not arg.startswith("--"):
            raise ArtganError(
                f"Beam argument {arg!r} (--beam-arg) is not an option: write each as "
                "--beam-arg=--name=value, e.g. --beam-arg=--direct_num_workers=2"
            )
    options = PipelineOptions(list(beam_args))
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):
            known = options.get_all_options(drop_default=True)
            given = options.get_all_options(drop_default=True, retain_unknown_options=True)
    except SystemExit:  # argparse has written its usage and the reason
        reason = usage.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
        raise ArtganError(f"Beam refuses a --beam-arg: {reason}") from None
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(f"--{name}" for name in unknown)
        raise ArtganError(
            f"Beam knows no option {names} (--beam-arg) and would ignore it; check the "
            "spelling against apache_beam/options/pipeline_options.py"
        )


def with_worker_bootstrap(beam_args: tuple[str, ...]) -> tuple[str, ...]:
    """``beam_args`` with WORKER_BOOTSTRAP added, unless it is there already."""
    if WORKER_BOOTSTRAP in beam_args:
        return tuple(beam_args)
    return (*beam_args, WORKER_BOOTSTRAP)
