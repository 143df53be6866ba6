"""Emoji as an art data set: 64x64 RGBA PNGs in one folder per category (or subcategory).

From the npm package ``emoji-datasource-<set>`` (Google's is the benchmark data): its
``emoji.json`` names each emoji's image, category and subcategory. Base emoji only (skin-tone
variants are left out), and not the ``Component`` category (bare skin tones and hair styles). The
package is read from an unpacked folder or the ``.tgz`` that ``npm pack`` writes, or fetched with
``npm pack`` when npm is on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator

from artgan.errors import ArtganError

EMOJI_SETS = ("google", "apple", "twitter", "facebook")
# What one class folder holds: a category of emoji.json ("Smileys & Emotion": 9 folders for
# Google's set) or a subcategory ("smileys_and_emotion-heart": 98 folders), which a
# class-conditional GAN can learn shape by shape (README, "Finer classes").
CLASS_LEVELS = ("category", "subcategory")
IMAGE_SIZE = 64  # the package's img/<set>/64/ folder
LEFT_OUT_CATEGORIES = ("Component",)
NPM_TIMEOUT_S = 600
TAR_ROOT = "package/"  # npm pack puts every file under package/

Reader = Callable[[str], bytes | None]  # a package-relative path -> its bytes, None if absent


def npm_package(emoji_set: str) -> str:
    return f"emoji-datasource-{emoji_set}"


def category_folder(category: str) -> str:
    """'Smileys & Emotion' -> 'smileys_and_emotion'."""
    return re.sub(r"[^a-z0-9]+", "_", category.lower().replace("&", "and")).strip("_")


def class_folder(entry: dict, classes: str = "category") -> str:
    """An emoji.json entry's class folder: 'smileys_and_emotion', or with ``subcategory``
    'smileys_and_emotion-heart' (an entry without a subcategory: '<category>-other')."""
    folder = category_folder(entry["category"])
    if classes == "category":
        return folder
    subcategory = entry.get("subcategory")
    subfolder = category_folder(subcategory) if isinstance(subcategory, str) else ""
    return f"{folder}-{subfolder or 'other'}"


def export_emoji(
    out_dir: str, package: str = "", emoji_set: str = "google", classes: str = "category"
) -> dict[str, int]:
    """Writes every base emoji of ``emoji_set`` as out_dir/<class>/<code>.png (the package's
    own bytes), one class folder per category or subcategory (``classes``); returns the count
    per folder. ``package``: an unpacked package folder or its .tgz; empty: fetched with
    ``npm pack``."""
    if emoji_set not in EMOJI_SETS:
        raise ArtganError(f"emoji set must be one of {', '.join(EMOJI_SETS)}, got {emoji_set!r}")
    if classes not in CLASS_LEVELS:
        raise ArtganError(
            f"emoji classes must be one of {', '.join(CLASS_LEVELS)}, got {classes!r}"
        )
    with _package_reader(package, emoji_set) as (read, where):
        entries = _base_entries(read, where, emoji_set)
        counts: dict[str, int] = {}
        missing = []
        for entry in entries:
            relative = f"img/{emoji_set}/{IMAGE_SIZE}/{entry['image']}"
            png = read(relative)
            if png is None:
                missing.append(relative)
                continue
            folder = class_folder(entry, classes)
            os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
            _write_atomically(os.path.join(out_dir, folder, entry["image"]), png)
            counts[folder] = counts.get(folder, 0) + 1
    if not counts:
        raise ArtganError(
            f"{where} has no {IMAGE_SIZE}x{IMAGE_SIZE} {emoji_set} images (first missing: "
            f"{missing[0] if missing else 'none listed'}): is it {npm_package(emoji_set)}?"
        )
    return dict(sorted(counts.items()))


def _base_entries(read: Reader, where: str, emoji_set: str) -> list[dict]:
    text = read("emoji.json")
    if text is None:
        raise ArtganError(f"{where} has no emoji.json: it is not an emoji-datasource package")
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise ArtganError(f"{where}/emoji.json is not JSON: {error}") from error
    if not isinstance(entries, list):
        raise ArtganError(f"{where}/emoji.json is not a list of emoji")
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and entry.get(f"has_img_{emoji_set}")
        and isinstance(entry.get("image"), str)
        and os.path.basename(entry["image"]) == entry["image"]
        and isinstance(entry.get("category"), str)
        and entry["category"] not in LEFT_OUT_CATEGORIES
        and category_folder(entry["category"])
    ]


def _write_atomically(path: str, data: bytes) -> None:
    partial = path + ".partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


@contextlib.contextmanager
def _package_reader(package: str, emoji_set: str) -> Iterator[tuple[Reader, str]]:
    if not package:
        with tempfile.TemporaryDirectory(prefix="artgan-npm-") as work_dir:
            with _tar_reader(npm_pack(npm_package(emoji_set), work_dir)) as reader:
                yield reader
        return
    if os.path.isdir(package):
        yield _folder_reader(package), package
        return
    if os.path.isfile(package):
        with _tar_reader(package) as reader:
            yield reader
        return
    raise ArtganError(
        f"emoji package {package!r} does not exist: pass an unpacked {npm_package(emoji_set)} "
        f"folder or its .tgz (npm pack {npm_package(emoji_set)}), or leave --package out to "
        "fetch it with npm"
    )


def _folder_reader(root: str) -> Reader:
    def read(relative: str) -> bytes | None:
        path = os.path.join(root, *relative.split("/"))
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    return read


@contextlib.contextmanager
def _tar_reader(path: str) -> Iterator[tuple[Reader, str]]:
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as error:
        raise ArtganError(f"{path} is not a package tarball (npm pack's .tgz): {error}") from error
    with archive:
        members = {
            member.name.removeprefix(TAR_ROOT): member
            for member in archive.getmembers()
            if member.isfile()
        }

        def read(relative: str) -> bytes | None:
            member = members.get(relative)
            if member is None:
                return None
            with archive.extractfile(member) as f:
                return f.read()

        yield read, path


def npm_pack(package_name: str, work_dir: str) -> str:
    """``npm pack <package_name>`` into ``work_dir``; returns the .tgz path."""
    npm = shutil.which("npm")
    if npm is None:
        raise ArtganError(
            f"npm is not on PATH, so {package_name} cannot be fetched: install npm, or run "
            f"`npm pack {package_name}` elsewhere and pass the .tgz (or the unpacked folder) "
            "with --package"
        )
    try:
        result = subprocess.run(
            [npm, "pack", package_name, "--silent"],
            cwd=work_dir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        raise ArtganError(f"`npm pack {package_name}` took over {NPM_TIMEOUT_S} s") from error
    tarballs = [name for name in os.listdir(work_dir) if name.endswith(".tgz")]
    if result.returncode != 0 or not tarballs:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ArtganError(f"`npm pack {package_name}` failed: {' '.join(detail) or 'no .tgz'}")
    return os.path.join(work_dir, tarballs[0])
