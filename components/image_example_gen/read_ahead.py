"""Reading a task's files on threads ahead of the decoding, in order.

Reads wait on the disk (or object storage) with the GIL released, so a few threads keep the
decoding busy when the files are not in the page cache. Files go in chunks per thread call (a
call costs more than reading a small cached file), at most ``WINDOW_FILES`` ahead of the file
handed on.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
from collections.abc import Callable, Iterable, Iterator

from artgan.components.image_example_gen import images

CHUNK_FILES = 16  # files per thread call
WINDOW_FILES = 128  # files read ahead of the one handed on, at most
THREADS = 8  # threads of the pool a caller passes in (ImageExampleGen's worker makes one)


def read_ahead(
    paths: Iterable[str],
    pool: concurrent.futures.Executor,
    read: Callable[[str], bytes] = images.read_file,
) -> Iterator[tuple[str, bytes | images.SkippedFile]]:
    """(path, its bytes or the SkippedFile ``read`` raised), in the order of ``paths``,
    read in chunks of CHUNK_FILES on ``pool``, at most WINDOW_FILES ahead."""
    pending: collections.deque = collections.deque()  # (chunk, its future)
    ahead = 0  # files submitted and not yet handed on
    remaining = iter(paths)
    while chunk := list(itertools.islice(remaining, CHUNK_FILES)):
        pending.append((chunk, pool.submit(_read_chunk, read, chunk)))
        ahead += len(chunk)
        while ahead >= WINDOW_FILES:
            ahead -= len(pending[0][0])
            yield from _finished(pending.popleft())
    while pending:
        yield from _finished(pending.popleft())


def _read_chunk(read: Callable[[str], bytes], paths: list[str]) -> list[bytes | images.SkippedFile]:
    contents = []
    for path in paths:
        try:
            contents.append(read(path))
        except images.SkippedFile as skipped:
            contents.append(skipped)
    return contents


def _finished(entry) -> Iterator[tuple[str, bytes | images.SkippedFile]]:
    chunk, future = entry
    yield from zip(chunk, future.result(), strict=True)
