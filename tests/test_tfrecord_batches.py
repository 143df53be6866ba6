"""Batches of records -> GZIP TFRecord shards (artgan.components.tfrecord_batches), read back
with TensorFlow's own reader."""

from __future__ import annotations

import glob
import gzip

import apache_beam as beam
import tensorflow as tf

from artgan.components import tfrecord_batches

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _records(count: int, size: int) -> list[bytes]:
    return [f"{index:05d}".encode() * (size // 5) for index in range(count)]


def _write(batches: list[tuple[bytes, ...]], prefix: str, **limits) -> list[str]:
    with beam.Pipeline(argv=BEAM_ARGS) as pipeline:
        _ = (
            pipeline
            | beam.Create(batches, reshuffle=False)
            | tfrecord_batches.WriteTFRecordBatches(prefix, **limits)
        )
    return sorted(glob.glob(prefix + "-*.gz"))


def _read(shard: str) -> list[bytes]:
    return [r.numpy() for r in tf.data.TFRecordDataset(shard, compression_type="GZIP")]


def test_records_span_many_compressed_chunks_and_read_back_in_order(tmp_path, monkeypatch):
    # Chunks far smaller than a batch: every record crosses the compressing thread's hand-overs.
    monkeypatch.setattr(tfrecord_batches, "_CHUNK_BYTES", 1000)
    records = _records(300, 400)
    batches = [tuple(records[start : start + 7]) for start in range(0, len(records), 7)]
    shards = _write(batches, str(tmp_path / "data"))
    assert len(shards) == 1
    assert _read(shards[0]) == records
    with gzip.open(shards[0]) as f:  # a standard gzip stream
        assert len(f.read()) == sum(len(r) + 16 for r in records)


def test_a_shard_ends_after_the_batch_that_reaches_the_byte_limit(tmp_path):
    records = _records(40, 1000)
    batches = [tuple(records[start : start + 4]) for start in range(0, len(records), 4)]
    shards = _write(batches, str(tmp_path / "data"), max_bytes_per_shard=10_000)
    per_shard = [_read(shard) for shard in shards]
    assert sorted(r for shard in per_shard for r in shard) == records
    # 4,064 framed bytes per batch: the third batch reaches 10,000, so 12 records per shard.
    assert sorted(len(shard) for shard in per_shard) == [4, 12, 12, 12]
