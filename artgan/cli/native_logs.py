"""Keeps TensorFlow's harmless C++ start-up lines out of a command's output (unless ``-v``).

On a CPU machine TensorFlow prints, at import and before its logging is initialised (so
``TF_CPP_MIN_LOG_LEVEL`` cannot silence them), lines that read like failures: ``failed call to
cuInit``, ``Could not find cuda drivers``, oneDNN notices, grappler's ``remapper failed``. The
``artgan`` executable routes file descriptor 2 (what native code writes to) through a filter
that drops exactly those lines and passes every other line through; Python's own ``sys.stderr``
(logging, the progress bar) keeps writing to the terminal directly. Library calls of
``artgan.cli.main`` (the tests) are left alone.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

HARMLESS_NATIVE_LINES = re.compile(
    rb"All log messages before absl::InitializeLog\(\) is called"
    rb"|oneDNN custom operations are on"
    rb"|Could not find cuda drivers on your machine"
    rb"|failed call to cuInit"
    rb"|remapper failed: INVALID_ARGUMENT: Mutation::Apply error"
    rb"|rebuild TensorFlow with the appropriate compiler flags"
    rb"|This TensorFlow binary is optimized to use available CPU instructions"
    rb"|Unable to register cu(FFT|DNN|BLAS) factory"
)


def filter_native_stderr() -> None:
    """From now until exit, lines written to fd 2 that match ``HARMLESS_NATIVE_LINES`` go."""
    sys.stderr.flush()
    terminal = os.dup(2)
    sys.stderr = open(  # noqa: SIM115 (lives as long as the process)
        os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="backslashreplace"
    )
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, terminal), daemon=True)
    pump.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last write end: the pump reads to EOF
        pump.join(timeout=5)

    atexit.register(restore)


def _pump(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb") as source:
        with os.fdopen(terminal, "wb", buffering=0, closefd=False) as sink:
            for line in iter(source.readline, b""):
                if not HARMLESS_NATIVE_LINES.search(line):
                    sink.write(line)
