"""artgan: a TFX pipeline that turns a folder of images into a served GAN.

Importing artgan before TensorFlow turns on TensorFlow's oneDNN CPU kernels where TensorFlow
leaves them off (CPUs without AVX512 VNNI/BF16 or AMX, e.g. AVX2-only EPYCs): the default 64x64
RGBA training step runs about twice as fast there (`artgan bench train --only step`: 91
against 47 images/s, README). ``TF_ENABLE_ONEDNN_OPTS`` set by the user (0 turns them off) wins;
child processes (Beam workers) inherit the setting. TensorFlow reads it when it loads.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
