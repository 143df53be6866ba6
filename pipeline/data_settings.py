"""``data.resolution`` and ``data.channels`` set to ``auto``, chosen from the images (and
``train.augment=auto`` with them, from their number).

The choice is made once, before the pipeline is built, so every component (Transform, Trainer,
evaluation) and MLMD see the same numbers; an explicit setting is kept as it is.
"""

from __future__ import annotations

import dataclasses
import math

from artgan.components.image_example_gen.profile import ImageProfile, profile_folder
from artgan.config import AUTO, PipelineConfig
from artgan.errors import ArtganError

MIN_AUTO_RESOLUTION = 16  # smaller images (8x8 digits, say) are trained upscaled to this
MAX_AUTO_RESOLUTION = 256
MIN_TRANSPARENT_SHARE = 0.1  # channels=auto picks RGBA when this share of images is transparent


def auto_resolution(profile: ImageProfile, accelerator: bool, cpu_max: int) -> tuple[int, str]:
    """The resolution for ``profile`` and why."""
    side = profile.median_shorter_side
    fitting = 2 ** int(math.floor(math.log2(max(side, 1))))
    resolution = min(max(fitting, MIN_AUTO_RESOLUTION), MAX_AUTO_RESOLUTION)
    typical = f"{profile.median_width:g}x{profile.median_height:g}"
    why = f"typical image {typical}"
    if fitting < MIN_AUTO_RESOLUTION:
        why += f", upscaled to the smallest auto resolution {MIN_AUTO_RESOLUTION}"
    elif fitting > MAX_AUTO_RESOLUTION:
        why += f", capped at {MAX_AUTO_RESOLUTION}"
    if not accelerator and resolution > cpu_max:
        why += (
            f"; {resolution} capped at {cpu_max} because training runs on CPUs only "
            f"(--resolution {resolution} trains at {resolution} anyway; "
            "--cpu-max-resolution raises the cap)"
        )
        resolution = cpu_max
    return resolution, why


def auto_channels(profile: ImageProfile) -> tuple[int, str]:
    """The channel count for ``profile`` and why."""
    transparent = f"{profile.transparent_share:.0%} of images have transparent pixels"
    if profile.transparent_share >= MIN_TRANSPARENT_SHARE:
        return 4, f"RGBA: {transparent}"
    if profile.gray_share == 1.0:
        return 1, "grayscale: every image is gray"
    return 3, f"RGB: {1 - profile.gray_share:.0%} of images have colour, {transparent}"


def resolve_data_settings(
    config: PipelineConfig, data_dir: str, accelerator: bool
) -> tuple[PipelineConfig, list[str]]:
    """``config`` with auto data settings chosen from the images in ``data_dir``, and one line
    per setting saying what was chosen and why. With the data settings given, the images are
    not read and ``train.augment=auto`` is left to the Trainer, which counts its examples."""
    data = config.data
    if data.is_resolved:
        return config, []
    profile = profile_folder(data_dir, data.max_pixels)
    if profile is None:
        raise ArtganError(
            f"no readable image in {data_dir!r} to choose data.resolution and data.channels "
            "from (auto): point --data at a folder of images, or set --resolution and --channels"
        )
    sampled = f"from {profile.num_profiled} of {profile.num_files} images"
    changes: dict = {}
    lines = []
    if data.resolution == AUTO:
        changes["resolution"], why = auto_resolution(profile, accelerator, data.cpu_max_resolution)
        lines.append(f"data.resolution=auto: {changes['resolution']} ({why}; {sampled})")
    if data.channels == AUTO:
        changes["channels"], why = auto_channels(profile)
        lines.append(f"data.channels=auto: {changes['channels']} ({why}; {sampled})")
    training_images = round(profile.num_files * (100 - data.eval_percent) / 100)
    train, why = config.train.with_augment_for(training_images)
    lines += [why] if why else []
    data = dataclasses.replace(data, **changes)
    return dataclasses.replace(config, data=data, train=train), lines
