"""`artgan data emoji`: an emoji-datasource package (folder or npm's .tgz) -> category folders."""

from __future__ import annotations

import io
import json
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from artgan import cli
from artgan.emoji_dataset import category_folder, export_emoji
from artgan.errors import ArtganError

ENTRIES = [
    {"image": "1f600.png", "category": "Smileys & Emotion", "has_img_google": True},
    {"image": "1f436.png", "category": "Animals & Nature", "has_img_google": True},
    {"image": "1f1eb-1f1f7.png", "category": "Flags", "has_img_google": True},
    # Left out: a skin tone (Component), one Google has no image for, one whose file is gone.
    {"image": "1f3fb.png", "category": "Component", "has_img_google": True},
    {"image": "1fae8.png", "category": "Smileys & Emotion", "has_img_google": False},
    {"image": "1f9a4.png", "category": "Animals & Nature", "has_img_google": True},
]
ON_DISK = ("1f600.png", "1f436.png", "1f1eb-1f1f7.png", "1f3fb.png")


def rgba_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    pixels[:8, :, 3] = 0  # a transparent band, as emoji have
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def package(tmp_path) -> str:
    """An unpacked emoji-datasource-google, as `tar xzf` of npm's .tgz leaves it."""
    root = tmp_path / "package"
    images = root / "img" / "google" / "64"
    images.mkdir(parents=True)
    (root / "emoji.json").write_text(json.dumps(ENTRIES))
    for seed, name in enumerate(ON_DISK):
        (images / name).write_bytes(rgba_png(seed))
    return str(root)


def packed(folder: str, path: str) -> str:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname="package")
    return path


def test_base_emoji_land_in_category_folders_with_their_own_bytes(package, tmp_path):
    out = tmp_path / "emoji"
    counts = export_emoji(str(out), package)
    assert counts == {"animals_and_nature": 1, "flags": 1, "smileys_and_emotion": 1}
    written = out / "smileys_and_emotion" / "1f600.png"
    assert (
        written.read_bytes()
        == (tmp_path / "package" / "img" / "google" / "64" / "1f600.png").read_bytes()
    )
    with Image.open(written) as image:
        assert (image.mode, image.size) == ("RGBA", (64, 64))
    assert not list(out.rglob("*.partial"))


def test_npm_tarball_gives_the_same_folders(package, tmp_path):
    tarball = packed(package, str(tmp_path / "emoji-datasource-google-1.0.0.tgz"))
    export_emoji(str(tmp_path / "from_folder"), package)
    export_emoji(str(tmp_path / "from_tgz"), tarball)
    for folder in ("from_folder", "from_tgz"):
        files = sorted(p.relative_to(tmp_path / folder) for p in (tmp_path / folder).rglob("*.png"))
        assert [str(f) for f in files] == [
            os.path.join("animals_and_nature", "1f436.png"),
            os.path.join("flags", "1f1eb-1f1f7.png"),
            os.path.join("smileys_and_emotion", "1f600.png"),
        ]


def test_cli_exports_and_lists_the_categories(package, tmp_path, capsys):
    assert cli.main(["data", "emoji", "--out", str(tmp_path / "out"), "--package", package]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 google emoji in 3 category folders" in out
    assert "flags: 1" in out


def test_a_missing_package_names_it(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    code = cli.main(["data", "emoji", "--out", str(tmp_path / "out"), "--package", missing])
    err = capsys.readouterr().err
    assert code == 2 and missing in err and "Traceback" not in err


def test_a_folder_without_emoji_json_is_named(tmp_path):
    (tmp_path / "not_a_package").mkdir()
    with pytest.raises(ArtganError, match="has no emoji.json"):
        export_emoji(str(tmp_path / "out"), str(tmp_path / "not_a_package"))


def test_without_npm_on_path_it_says_how_to_pass_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no npm
    with pytest.raises(ArtganError, match="npm is not on PATH.*--package"):
        export_emoji(str(tmp_path / "out"))


def test_an_unknown_set_is_refused():
    with pytest.raises(ArtganError, match="google"):
        export_emoji("unused", "unused", emoji_set="noto")


def test_category_folders_are_plain_names():
    assert category_folder("Smileys & Emotion") == "smileys_and_emotion"
    assert category_folder("Travel & Places") == "travel_and_places"


def test_subcategory_classes_give_one_folder_per_subcategory(package, tmp_path, capsys):
    entries = json.loads((tmp_path / "package" / "emoji.json").read_text())
    entries[0]["subcategory"] = "face-smiling"
    entries[1]["subcategory"] = "animal-mammal"  # the flag has none: '<category>-other'
    (tmp_path / "package" / "emoji.json").write_text(json.dumps(entries))
    out = tmp_path / "out"
    args = ["data", "emoji", "--out", str(out), "--package", package, "--classes", "subcategory"]
    assert cli.main(args) == 0
    assert "in 3 subcategory folders" in capsys.readouterr().out
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == [
        os.path.join("animals_and_nature-animal_mammal", "1f436.png"),
        os.path.join("flags-other", "1f1eb-1f1f7.png"),
        os.path.join("smileys_and_emotion-face_smiling", "1f600.png"),
    ]


def test_an_unknown_class_level_is_refused(package, tmp_path):
    with pytest.raises(ArtganError, match="category, subcategory"):
        export_emoji(str(tmp_path / "out"), package, classes="emoji")
