"""Data set exports: the embedded digits and Fashion-MNIST."""

import gzip
import os
import struct

import numpy as np
import pytest
from PIL import Image

from artgan import datasets
from artgan.errors import ArtganError


def test_export_digits_writes_every_digit_in_class_folders(tmp_path):
    out_dir = str(tmp_path / "digits")
    assert datasets.export_digits(out_dir) == datasets.NUM_DIGITS == 1797
    assert sorted(os.listdir(out_dir)) == [str(label) for label in range(10)]
    files = [f for label in os.listdir(out_dir) for f in os.listdir(os.path.join(out_dir, label))]
    assert len(files) == 1797 and all(f.endswith(".png") for f in files)

    pixels, labels = datasets.digit_pixels()
    index = 42
    with Image.open(os.path.join(out_dir, str(labels[index]), f"digit_{index:05d}.png")) as image:
        assert image.mode == "L" and image.size == (8, 8)
        stored = np.asarray(image)
    from sklearn.datasets import load_digits

    expected = np.round(load_digits().images[index] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(stored, expected)
    assert stored.max() == 255


def test_ensure_digits_exports_only_when_incomplete(tmp_path):
    out_dir = str(tmp_path / "digits")
    assert datasets.ensure_digits(out_dir) == out_dir
    marker = os.path.join(out_dir, "0", "digit_00000.png")
    before = os.stat(marker).st_mtime_ns
    datasets.ensure_digits(out_dir)
    assert os.stat(marker).st_mtime_ns == before  # complete: nothing rewritten

    os.remove(marker)
    datasets.ensure_digits(out_dir)
    assert os.path.exists(marker)


def write_idx(path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">II", magic, len(array))
    if array.ndim == 3:
        header += struct.pack(">II", *array.shape[1:])
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_fashion_mnist(folder, train_labels=(0, 9, 9), test_labels=(3,)) -> dict:
    """IDX files shaped like the Debian package's, with images whose pixels encode (split, i)."""
    os.makedirs(folder)
    images = {}
    for split, stem, labels in (("train", "train", train_labels), ("test", "t10k", test_labels)):
        pixels = np.stack(
            [
                np.full((28, 28), 10 * i + (100 if split == "test" else 0))
                for i in range(len(labels))
            ]
        )
        write_idx(os.path.join(folder, f"{stem}-images-idx3-ubyte.gz"), 2051, pixels)
        write_idx(os.path.join(folder, f"{stem}-labels-idx1-ubyte.gz"), 2049, np.array(labels))
        images[split] = (pixels, labels)
    return images


def test_export_fashion_mnist_writes_pngs_in_label_ordered_class_folders(tmp_path):
    source = fake_fashion_mnist(str(tmp_path / "source"))
    out_dir = str(tmp_path / "fashion")
    assert datasets.export_fashion_mnist(out_dir, source_dir=str(tmp_path / "source")) == 4
    assert sorted(os.listdir(out_dir)) == list(datasets.FASHION_MNIST_CLASSES)
    assert sorted(os.listdir(os.path.join(out_dir, "9_ankle_boot"))) == [
        "train_00001.png",
        "train_00002.png",
    ]
    for split, (pixels, labels) in source.items():
        for index, label in enumerate(labels):
            name = f"{split}_{index:05d}.png"
            with Image.open(
                os.path.join(out_dir, datasets.FASHION_MNIST_CLASSES[label], name)
            ) as im:
                assert im.mode == "L" and im.size == (28, 28)
                np.testing.assert_array_equal(np.asarray(im), pixels[index])


def test_export_fashion_mnist_names_the_debian_package_when_missing(tmp_path):
    with pytest.raises(ArtganError, match="dataset-fashion-mnist"):
        datasets.export_fashion_mnist(str(tmp_path / "out"), source_dir=str(tmp_path / "none"))


def test_export_fashion_mnist_rejects_mismatched_files(tmp_path):
    fake_fashion_mnist(str(tmp_path / "source"), train_labels=(0, 1))
    labels = os.path.join(tmp_path, "source", "train-labels-idx1-ubyte.gz")
    write_idx(labels, 2049, np.array([0, 1, 2]))  # three labels for two images
    with pytest.raises(ArtganError, match="train-images.*2 images.*3"):
        datasets.export_fashion_mnist(str(tmp_path / "out"), source_dir=str(tmp_path / "source"))


@pytest.mark.skipif(
    not os.path.isdir(datasets.FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed"
)
def test_installed_fashion_mnist_holds_70000_labelled_images():
    counts = {}
    for stem in datasets.FASHION_MNIST_SPLITS.values():
        path = os.path.join(datasets.FASHION_MNIST_DIR, f"{stem}-labels-idx1-ubyte.gz")
        counts[stem] = np.bincount(datasets.read_idx_labels(path), minlength=10).tolist()
    assert counts == {"train": [6000] * 10, "t10k": [1000] * 10}
