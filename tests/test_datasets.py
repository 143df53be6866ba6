"""The embedded digits export."""

import os

import numpy as np
from PIL import Image

from artgan import datasets


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
