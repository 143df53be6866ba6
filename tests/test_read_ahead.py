"""Reading files ahead on threads: order, skipped files and the read-ahead bound."""

from __future__ import annotations

import threading

from artgan.components.image_example_gen import images, read_ahead


def test_contents_come_back_in_order_with_skipped_files_in_place(tmp_path):
    paths = []
    for index in range(37):  # not a multiple of the chunk size
        path = tmp_path / f"{index:02d}.bin"
        path.write_bytes(bytes([index]) * (index + 1))
        paths.append(str(path))
    paths.insert(5, str(tmp_path / "missing.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    paths.insert(20, str(tmp_path / "empty.png"))

    results = list(read_ahead.read_ahead(paths))

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


def test_reads_stay_a_bounded_window_ahead_of_the_consumer():
    started = []
    lock = threading.Lock()

    def read(path: str) -> bytes:
        with lock:
            started.append(path)
        return path.encode()

    paths = [f"file{index}" for index in range(1000)]
    consumed = 0
    for path, content in read_ahead.read_ahead(paths, read):
        assert content == path.encode()
        consumed += 1
        with lock:
            ahead = len(started) - consumed
        assert ahead <= read_ahead.WINDOW_FILES + read_ahead.CHUNK_FILES
    assert consumed == len(paths)


def test_large_files_are_read_fewer_at_a_time(tmp_path, monkeypatch):
    # 100 KB files against a 400 KB window: once a size is known (the first THREADS files are
    # read one per thread), four files ahead at most.
    monkeypatch.setattr(read_ahead, "WINDOW_BYTES", 400_000)
    monkeypatch.setattr(read_ahead, "_largest_recent_file", 0)
    paths = []
    for index in range(40):
        path = tmp_path / f"{index:02d}.bin"
        path.write_bytes(bytes([index]) * 100_000)
        paths.append(str(path))
    started = []
    lock = threading.Lock()

    def read(path: str) -> bytes:
        with lock:
            started.append(path)
        return images.read_file(path)

    most_ahead = 0
    for consumed, (path, content) in enumerate(read_ahead.read_ahead(paths, read), start=1):
        assert content == bytes([int(path[-6:-4])]) * 100_000
        with lock:
            if consumed > read_ahead.THREADS:
                most_ahead = max(most_ahead, len(started) - consumed)
    assert read_ahead.window_files() == 4
    assert most_ahead <= 4
