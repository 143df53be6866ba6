"""Strategy and XLA selection (artgan.models.training.strategy); no TPU or GPU is needed."""

from __future__ import annotations

import dataclasses
import socket

import pytest
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.errors import ArtganError
from artgan.models.training.strategy import hardware_strategy, uses_xla

TRAIN = TrainConfig()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_without_a_tpu_address_the_strategy_follows_the_visible_devices():
    strategy = hardware_strategy(TRAIN)
    assert isinstance(strategy, tf.distribute.Strategy)
    assert not isinstance(strategy, tf.distribute.TPUStrategy)
    assert strategy.num_replicas_in_sync >= 1


def test_xla_auto_is_on_with_gpus_and_off_on_cpu():
    strategy = tf.distribute.get_strategy()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert uses_xla(TRAIN, strategy) is has_gpu
    assert uses_xla(dataclasses.replace(TRAIN, jit_compile="on"), strategy) is True
    assert uses_xla(dataclasses.replace(TRAIN, jit_compile="off"), strategy) is False


def test_an_unknown_xla_setting_is_rejected_by_validation():
    with pytest.raises(ArtganError, match="train.jit_compile must be one of auto, on, off"):
        dataclasses.replace(TRAIN, jit_compile="yes").validate()


@pytest.mark.parametrize(
    "address",
    [
        "grpc://no-such-tpu.invalid:8470",  # .invalid never resolves (RFC 6761)
        f"grpc://127.0.0.1:{closed_port()}",
        "grpc://10.0.0.1",  # no port
    ],
)
def test_an_unusable_tpu_address_names_the_field_and_the_address(address):
    with pytest.raises(ArtganError) as raised:
        hardware_strategy(dataclasses.replace(TRAIN, tpu_address=address))
    message = str(raised.value)
    assert "train.tpu_address" in message
    assert address in message
