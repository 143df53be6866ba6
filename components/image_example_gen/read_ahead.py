"""Reading a task's files on threads ahead of the decoding, in order.

Reads wait on the disk (or object storage) with the GIL released, so a few threads keep the
decoding busy when the files are not in the page cache. Files go in small chunks per thread
call (a call costs more than reading a small cached file), at most ``WINDOW_FILES`` ahead so
that a task of large photos never sits in memory at once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Iterator

from artgan.components.image_example_gen import images

CHUNK_FILES = 8  # files per thread call
WINDOW_FILES = 64  # files read ahead of the one being decoded, at most
THREADS = 8

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(THREADS, "artgan-read")
        return _pool


def _read_chunk(read: Callable[[str], bytes], paths: list[str]) -> list[bytes | images.SkippedFile]:
    contents = []
    for path in paths:
        try:
            contents.append(read(path))
        except images.SkippedFile as skipped:
            contents.append(skipped)
    return contents


def read_ahead(
    paths: Iterable[str], read: Callable[[str], bytes] = images.read_file
) -> Iterator[tuple[str, bytes | images.SkippedFile]]:
    """(path, its bytes or the SkippedFile ``read`` raised), in the order of ``paths``."""
    pool = _shared_pool()
    pending: collections.deque = collections.deque()
    chunks = _chunks(paths, CHUNK_FILES)
    for chunk in chunks:
        pending.append((chunk, pool.submit(_read_chunk, read, chunk)))
        if len(pending) * CHUNK_FILES >= WINDOW_FILES:
            yield from _finished(pending.popleft())
    while pending:
        yield from _finished(pending.popleft())


def _finished(entry) -> Iterator[tuple[str, bytes | images.SkippedFile]]:
    chunk, future = entry
    yield from zip(chunk, future.result(), strict=True)


def _chunks(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for path in paths:
        chunk.append(path)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
