"""What an image folder holds, read from a sample of its files: sizes, colour, transparency.

``data.resolution`` and ``data.channels`` set to ``auto`` are chosen from this profile before
the pipeline is built (``pipeline/data_settings.py``). Files that cannot be read are left out
here; ImageExampleGen reports them when it ingests the folder.
"""

from __future__ import annotations

import dataclasses
import io
import statistics

import numpy as np
from PIL import Image, ImageOps

from artgan.components.image_example_gen import images, listing

MAX_PROFILED_FILES = 400  # spread evenly over the sorted listing
# An image counts as transparent when at least this share of its pixels is not fully opaque.
MIN_TRANSPARENT_PIXEL_SHARE = 0.01
# Pixels looked at per image (larger ones are reduced first): enough to tell gray and alpha.
PROFILE_SIDE = 128


@dataclasses.dataclass(frozen=True)
class ImageProfile:
    num_files: int  # image files in the folder
    num_profiled: int  # of those, read and decoded here
    median_height: float
    median_width: float
    gray_share: float  # images whose colour channels are all equal
    transparent_share: float  # images with transparent pixels

    @property
    def median_shorter_side(self) -> float:
        return min(self.median_height, self.median_width)


@dataclasses.dataclass(frozen=True)
class _OneImage:
    height: int
    width: int
    gray: bool
    transparent: bool


def _look_at(data: bytes, max_pixels: int) -> _OneImage:
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise images.SkippedFile(images.TOO_MANY_PIXELS, f"{width}x{height}")
        image = ImageOps.exif_transpose(image)
        upright_width, upright_height = image.size
        image.thumbnail((PROFILE_SIDE, PROFILE_SIDE))
        pixels = np.asarray(images.normalized_pixels(image))
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    colour = pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., :1]
    gray = colour.shape[-1] == 1 or bool(
        np.array_equal(colour[..., 0], colour[..., 1])
        and np.array_equal(colour[..., 0], colour[..., 2])
    )
    transparent = False
    if pixels.shape[-1] in (2, 4):
        transparent = float(np.mean(pixels[..., -1] < 255)) >= MIN_TRANSPARENT_PIXEL_SHARE
    return _OneImage(upright_height, upright_width, gray, transparent)


def evenly_spaced(items: list, count: int) -> list:
    """At most ``count`` items spread over ``items``, first and last included."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(index * step)] for index in range(count)]


def profile_folder(
    input_base: str, max_pixels: int, max_files: int = MAX_PROFILED_FILES
) -> ImageProfile | None:
    """The profile of the images under ``input_base`` (local or object storage); None when
    there are no readable images."""
    paths = listing.list_image_files(input_base)
    seen = []
    for path in evenly_spaced(paths, max_files):
        try:
            seen.append(_look_at(images.read_file(listing.join(input_base, path)), max_pixels))
        except Exception:  # unreadable or damaged: ImageExampleGen reports it
            continue
    if not seen:
        return None
    return ImageProfile(
        num_files=len(paths),
        num_profiled=len(seen),
        median_height=statistics.median(one.height for one in seen),
        median_width=statistics.median(one.width for one in seen),
        gray_share=sum(one.gray for one in seen) / len(seen),
        transparent_share=sum(one.transparent for one in seen) / len(seen),
    )
