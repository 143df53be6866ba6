"""The ``tf.distribute`` strategy and XLA setting a training run uses, chosen from the hardware.

TPUStrategy (mixed_bfloat16) when ``train.tpu_address`` is set; MirroredStrategy (mixed_float16)
when GPUs are visible; else the default strategy on CPU. XLA (``train.jit_compile``) compiles
each replica's step; ``auto`` turns it on with GPUs, where it fuses the many small ops of a GAN
step, and leaves it off on CPU, where it made the default 64x64 step three times slower
(``artgan bench train --only step``). TPU programs are always XLA-compiled. On CPU the step
stays float32: mixed_bfloat16 made the default step only 5-8% faster, even with AMX.
"""

from __future__ import annotations

import logging
import socket
import urllib.parse

import keras
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.errors import ArtganError

log = logging.getLogger(__name__)

TPU_CONNECT_TIMEOUT_S = 10.0  # TensorFlow waits forever on an address nothing answers at


def hardware_strategy(train: TrainConfig) -> tf.distribute.Strategy:
    """The strategy for ``train``; sets the matching global mixed-precision policy."""
    if train.tpu_address:
        return tpu_strategy(train.tpu_address)
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def uses_xla(train: TrainConfig, strategy: tf.distribute.Strategy) -> bool:
    """Whether each replica's train step is compiled with XLA (``jit_compile=True``).

    False under TPUStrategy: the TPU compiles the whole step with XLA anyway.
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return False
    if train.jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return train.jit_compile == "on"


def tpu_strategy(address: str) -> tf.distribute.TPUStrategy:
    """Connects to the TPU at ``address`` (a Cloud TPU name, ``grpc://host:port`` or ``local``).

    Initialises the TPU system and sets the mixed_bfloat16 policy (TPUs compute in bfloat16).
    """

    def fail(reason: str) -> ArtganError:
        return ArtganError(
            f"train.tpu_address {address!r}: {reason}; give the name or grpc://host:port of a "
            "reachable TPU (or 'local' on a TPU VM), or leave it empty to train on GPUs/CPU"
        )

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        master = resolver.master()
    except Exception as error:  # the Cloud TPU lookup raises HTTP, OS and value errors alike
        raise fail(f"cannot be resolved ({error})") from error
    _check_reachable(master, fail)
    try:
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.OpError, ValueError, RuntimeError) as error:
        raise fail(f"no TPU could be initialised there ({error})") from error
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    strategy = tf.distribute.TPUStrategy(resolver)
    log.info("training on TPU %s with %d cores", address, strategy.num_replicas_in_sync)
    return strategy


def _check_reachable(master: str, fail) -> None:
    """Fails fast when a grpc://host:port TPU worker does not answer (TensorFlow would hang)."""
    if not master:  # a TPU attached to this machine ('local')
        return
    url = urllib.parse.urlparse(master if "://" in master else f"grpc://{master}")
    try:
        port = url.port
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise fail(f"{master!r} is not of the form grpc://host:port")
    try:
        socket.create_connection((url.hostname, port), timeout=TPU_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise fail(f"nothing answers at {url.hostname}:{port} ({error})") from error
