"""Reading a task's files on threads ahead of the decoding, in order.

Reads wait on the disk (or object storage) with the GIL released, so a few threads keep the
decoding busy when the files are not in the page cache. Files go in chunks per thread call (a
call costs more than reading a small cached file), at most ``WINDOW_FILES`` ahead, and fewer
when the files are large: about ``WINDOW_BYTES`` judged by the largest file of the last chunk
read, so that a task of large photos never sits in memory at once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator

from artgan.components.image_example_gen import images

CHUNK_FILES = 16  # files per thread call, at most
WINDOW_FILES = 128  # files read ahead of the one being decoded, at most ...
WINDOW_BYTES = 128 * 2**20  # ... and about this many bytes (but two files at least)
THREADS = 8

# The largest file of the chunk consumed last (0: none yet), kept across calls: each task of
# a folder starts with the window its files call for.
_largest_recent_file = 0

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
    ahead = 0  # files submitted and not yet handed on
    remaining = iter(paths)
    while True:
        window = window_files()
        # The window spread over the threads: small files in chunks, large ones one by one.
        chunk = list(itertools.islice(remaining, max(1, min(CHUNK_FILES, window // THREADS))))
        if not chunk:
            break
        pending.append((chunk, pool.submit(_read_chunk, read, chunk)))
        ahead += len(chunk)
        while ahead >= window:
            ahead -= len(pending[0][0])
            yield from _finished(pending.popleft())
    while pending:
        yield from _finished(pending.popleft())


def window_files() -> int:
    """How many files may be read ahead now: WINDOW_FILES, fewer (at least two) for large
    files, and one per thread until a file's size is known."""
    if not _largest_recent_file:
        return THREADS
    return max(2, min(WINDOW_FILES, WINDOW_BYTES // _largest_recent_file))


def _finished(entry) -> Iterator[tuple[str, bytes | images.SkippedFile]]:
    global _largest_recent_file
    chunk, future = entry
    contents = future.result()
    sizes = [len(content) for content in contents if isinstance(content, bytes)]
    _largest_recent_file = max(sizes, default=_largest_recent_file)
    yield from zip(chunk, contents, strict=True)
