"""Local image data sets exported as PNG folders with one subfolder per class.

The embedded digits (scikit-learn's bundled 8x8 handwritten digits) and Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import glob
import gzip
import os
import struct

import numpy as np
from PIL import Image

from artgan.errors import ArtganError

NUM_DIGITS = 1797  # images in sklearn.datasets.load_digits()
_MAX_VALUE = 16  # load_digits pixel values run 0..16

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
# Folder names sort in label order, so ImageExampleGen's label ids are Fashion-MNIST's own.
FASHION_MNIST_CLASSES = (
    "0_tshirt_top",
    "1_trouser",
    "2_pullover",
    "3_dress",
    "4_coat",
    "5_sandal",
    "6_shirt",
    "7_sneaker",
    "8_bag",
    "9_ankle_boot",
)
FASHION_MNIST_SPLITS = {"train": "train", "test": "t10k"}  # file name stem of each split
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


def digit_pixels() -> tuple[np.ndarray, np.ndarray]:
    """The digits as uint8 images (N, 8, 8) scaled to 0..255, and their int labels (N,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / _MAX_VALUE)).astype(np.uint8)
    return pixels, digits.target.astype(np.int64)


def export_digits(out_dir: str) -> int:
    """Writes every digit as a grayscale PNG at out_dir/<label>/digit_<index>.png; returns count."""
    pixels, labels = digit_pixels()
    for label in range(10):
        os.makedirs(os.path.join(out_dir, str(label)), exist_ok=True)
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        _save_png(image, os.path.join(out_dir, str(label), f"digit_{index:05d}.png"))
    return len(pixels)


def _save_png(pixels: np.ndarray, path: str) -> None:
    partial_path = path + ".partial"
    Image.fromarray(pixels).save(partial_path, format="PNG")
    os.replace(partial_path, path)  # never leave a truncated PNG behind


def ensure_digits(out_dir: str) -> str:
    """Exports the digits unless out_dir already holds all of them; returns out_dir."""
    if len(glob.glob(os.path.join(out_dir, "*", "digit_*.png"))) != NUM_DIGITS:
        export_digits(out_dir)
    return out_dir


def export_fashion_mnist(out_dir: str, source_dir: str = FASHION_MNIST_DIR) -> int:
    """Writes every Fashion-MNIST image (train and test, 70,000) as a 28x28 grayscale PNG at
    out_dir/<class>/<split>_<index>.png, reading the IDX files one image at a time."""
    _require_fashion_mnist(source_dir)
    for name in FASHION_MNIST_CLASSES:
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    count = 0
    for split, stem in FASHION_MNIST_SPLITS.items():
        labels = read_idx_labels(os.path.join(source_dir, f"{stem}-labels-idx1-ubyte.gz"))
        images_path = os.path.join(source_dir, f"{stem}-images-idx3-ubyte.gz")
        for index, image in enumerate(_idx_images(images_path, len(labels))):
            name = FASHION_MNIST_CLASSES[labels[index]]
            _save_png(image, os.path.join(out_dir, name, f"{split}_{index:05d}.png"))
            count += 1
    return count


def fashion_mnist_pixels(source_dir: str = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 Fashion-MNIST images as uint8 (N, 28, 28) (train, then test) and labels (N,)."""
    _require_fashion_mnist(source_dir)
    images, labels = [], []
    for stem in FASHION_MNIST_SPLITS.values():
        split_labels = read_idx_labels(os.path.join(source_dir, f"{stem}-labels-idx1-ubyte.gz"))
        images_path = os.path.join(source_dir, f"{stem}-images-idx3-ubyte.gz")
        images.append(np.stack(list(_idx_images(images_path, len(split_labels)))))
        labels.append(split_labels.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _require_fashion_mnist(source_dir: str) -> None:
    if not os.path.isdir(source_dir):
        raise ArtganError(
            f"Fashion-MNIST is not installed: {source_dir} does not exist. Install Debian's "
            f"{FASHION_MNIST_PACKAGE} package (apt-get install {FASHION_MNIST_PACKAGE})"
        )


def _open_idx(path: str, magic: int) -> tuple[gzip.GzipFile, int]:
    """An IDX file opened past its magic number, and its item count."""
    if not os.path.isfile(path):
        raise ArtganError(f"{path} is missing: reinstall Debian's {FASHION_MNIST_PACKAGE} package")
    f = gzip.open(path, "rb")
    found, count = struct.unpack(">II", f.read(8))
    if found != magic:
        f.close()
        raise ArtganError(f"{path} is not an IDX file (magic {found}, expected {magic})")
    return f, count


def read_idx_labels(path: str) -> np.ndarray:
    """The uint8 labels of an IDX1 labels file (values 0..9 checked)."""
    f, count = _open_idx(path, _IDX_LABELS_MAGIC)
    with f:
        labels = np.frombuffer(f.read(count), dtype=np.uint8)
    if len(labels) != count or labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise ArtganError(f"{path} is damaged: expected {count} labels 0..9")
    return labels


def _idx_images(path: str, expected: int):
    """Yields uint8 [rows, cols] images; checks the count against the labels."""
    f, count = _open_idx(path, _IDX_IMAGES_MAGIC)
    with f:
        rows, cols = struct.unpack(">II", f.read(8))
        if count != expected:
            raise ArtganError(f"{path} holds {count} images but its labels file {expected} labels")
        for _ in range(count):
            data = f.read(rows * cols)
            if len(data) != rows * cols:
                raise ArtganError(f"{path} is truncated: fewer than {count} images")
            yield np.frombuffer(data, dtype=np.uint8).reshape(rows, cols)
