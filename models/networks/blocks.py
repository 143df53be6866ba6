"""What every architecture shares: the discriminator's output layers and the block count."""

from __future__ import annotations

import math

LOGITS_LAYER = "logits"  # every discriminator's last layer: its input are the image features
# A discriminator's optional second output (``fastgan``): its reconstruction of the input,
# downsampled; the trainer adds its MSE on real images to D's loss.
RECONSTRUCTION_LAYER = "reconstruction"


def num_up_blocks(resolution: int) -> int:
    """How many 2x blocks take a 4x4 map to ``resolution`` (a power of two >= 8)."""
    return int(math.log2(resolution)) - 2
