"""Reading files ahead on threads: order, skipped files and the read-ahead bound."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from artgan.components.image_example_gen import images, read_ahead


@pytest.fixture
def pool():
    with concurrent.futures.ThreadPoolExecutor(read_ahead.THREADS) as threads:
        yield threads


def test_contents_come_back_in_order_with_skipped_files_in_place(tmp_path, pool):
    paths = []
    for index in range(37):  # not a multiple of the chunk size
        path = tmp_path / f"{index:02d}.bin"
        path.write_bytes(bytes([index]) * (index + 1))
        paths.append(str(path))
    paths.insert(5, str(tmp_path / "missing.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    paths.insert(20, str(tmp_path / "empty.png"))

    results = list(read_ahead.read_ahead(paths, pool))

    assert [path for path, _ in results] == paths
    for path, content in results:
        if path.endswith("missing.png"):
            assert isinstance(content, images.SkippedFile) and content.reason == images.MISSING
        elif path.endswith("empty.png"):
            assert isinstance(content, images.SkippedFile)
            assert content.reason == images.EMPTY_FILE
        else:
            index = int(path[-6:-4])
            assert content == bytes([index]) * (index + 1)


def test_reads_stay_a_bounded_window_ahead_of_the_consumer(pool):
    started = []
    lock = threading.Lock()

    def read(path: str) -> bytes:
        with lock:
            started.append(path)
        return path.encode()

    paths = [f"file{index}" for index in range(1000)]
    consumed = 0
    for path, content in read_ahead.read_ahead(paths, pool, read):
        assert content == path.encode()
        consumed += 1
        with lock:
            ahead = len(started) - consumed
        assert ahead <= read_ahead.WINDOW_FILES
    assert consumed == len(paths)
