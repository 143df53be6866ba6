"""What every ``artgan`` subcommand shares: ``-v`` and how to name the ``artgan`` executable."""

from __future__ import annotations

import argparse
import os
import shutil
import sys


def verbose_parent() -> argparse.ArgumentParser:
    """``-v`` accepted after any subcommand too; not given there, the top-level value stays."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log everything"
    )
    return parent


def artgan_command() -> str:
    """How a user can type this ``artgan``: ``artgan`` when it is the one on PATH, else its path
    (``.venv/bin/artgan`` after ``make install``), else ``python -m artgan``."""
    script = os.path.join(os.path.dirname(sys.executable), "artgan")
    on_path = shutil.which("artgan")
    if on_path and os.path.realpath(on_path) == os.path.realpath(script):
        return "artgan"
    if os.path.isfile(script):
        relative = os.path.relpath(script)
        return relative if not relative.startswith("..") else script
    return f"{sys.executable} -m artgan"
