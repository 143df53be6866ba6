"""Batches of records -> GZIP TFRecord shards (image_example_gen.tfrecord_batches), read back
with TensorFlow's own reader."""

from __future__ import annotations

import glob
import gzip

import apache_beam as beam
import tensorflow as tf

from artgan.components.image_example_gen import tfrecord_batches

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
GZIP_FASTEST_LEVEL = 4  # the XFL byte of a gzip header (RFC 1952) written at level 1


def _records(count: int, size: int) -> list[bytes]:
    return [f"{index:05d}".encode() * (size // 5) for index in range(count)]


def _batches(records: list[bytes], size: int) -> list[tuple[bytes, ...]]:
    return [tuple(records[start : start + size]) for start in range(0, len(records), size)]


def _write(batches: list[tuple[bytes, ...]], prefix: str, **limits) -> list[str]:
    with beam.Pipeline(argv=BEAM_ARGS) as pipeline:
        _ = (
            pipeline
            | beam.Create(batches, reshuffle=False)
            | tfrecord_batches.WriteTFRecordBatches(prefix, **limits)
        )
    return sorted(glob.glob(prefix + "-*-of-*.gz"))


def _read(shard: str) -> list[bytes]:
    return [r.numpy() for r in tf.data.TFRecordDataset(shard, compression_type="GZIP")]


def test_records_read_back_in_order_from_a_standard_gzip_stream(tmp_path):
    records = _records(300, 400)
    shards = _write(_batches(records, 7), str(tmp_path / "data"))
    assert len(shards) == 1
    assert _read(shards[0]) == records
    with gzip.open(shards[0]) as f:  # a standard gzip stream: length, CRCs and data per record
        assert len(f.read()) == sum(len(r) + 16 for r in records)
    with open(shards[0], "rb") as f:
        assert f.read(10)[8] == GZIP_FASTEST_LEVEL


def test_a_shard_ends_after_the_batch_that_reaches_the_byte_limit(tmp_path):
    records = _records(40, 1000)
    shards = _write(_batches(records, 4), str(tmp_path / "data"), max_bytes_per_shard=10_000)
    per_shard = [_read(shard) for shard in shards]
    assert sorted(r for shard in per_shard for r in shard) == records
    # 4,064 framed bytes per batch: the third batch reaches 10,000, so 12 records per shard.
    assert sorted(len(shard) for shard in per_shard) == [4, 12, 12, 12]


def test_the_record_limit_counts_records_not_batches(tmp_path):
    records = _records(40, 10)
    shards = _write(_batches(records, 3), str(tmp_path / "data"), max_records_per_shard=5)
    per_shard = [_read(shard) for shard in shards]
    assert sorted(r for shard in per_shard for r in shard) == records
    # The second batch of 3 reaches 5: 6 records per shard, 4 in the last.
    assert sorted(len(shard) for shard in per_shard) == [4, 6, 6, 6, 6, 6, 6]
