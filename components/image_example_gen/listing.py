"""Which files of an image folder are ingested, their labels, split and fingerprint."""

from __future__ import annotations

import hashlib
import os

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


def is_uri(path: str) -> bool:
    """Whether path names object storage (gs://, s3://, ...) rather than a local folder."""
    return "://" in path


def join(input_base: str, relative: str) -> str:
    """The full path or URI of a relative POSIX path under input_base."""
    if is_uri(input_base):
        return input_base.rstrip("/") + "/" + relative
    return os.path.join(input_base, *relative.split("/"))


def is_folder(input_base: str) -> bool:
    if is_uri(input_base):
        import tensorflow as tf

        return tf.io.gfile.isdir(input_base)
    return os.path.isdir(input_base)


def list_image_files(input_base: str) -> list[str]:
    """Relative POSIX paths of files with an image extension under input_base, sorted.

    Every folder depth is walked; symlinked folders are not followed (no loops), symlinked files
    are listed (a broken or looping one is then skipped with its reason).
    """
    if is_uri(input_base):
        return _list_remote_image_files(input_base)
    paths = []
    for dir_path, dir_names, file_names in os.walk(input_base, followlinks=False):
        dir_names.sort()
        folder = os.path.relpath(dir_path, input_base).replace(os.sep, "/")
        prefix = "" if folder == "." else folder + "/"
        paths.extend(
            prefix + name for name in file_names if name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return sorted(paths)


def _list_remote_image_files(input_base: str) -> list[str]:
    import tensorflow as tf

    root = input_base.rstrip("/")
    paths = []
    for dir_path, _, file_names in tf.io.gfile.walk(root):
        prefix = dir_path.rstrip("/")[len(root) :].strip("/")
        for name in file_names:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(f"{prefix}/{name}" if prefix else name)
    return sorted(paths)


def folder_fingerprint(input_base: str) -> str:
    """A digest of every image file's path, size and mtime: changes when the folder does.

    Passed as a component parameter so TFX's cache never reuses Examples of an older folder.
    """
    digest = hashlib.sha256()
    for path in list_image_files(input_base):
        full_path = os.path.join(input_base, *path.split("/"))
        try:
            stat = os.stat(full_path)
        except OSError:  # a broken or looping symlink: its own entry still counts
            stat = os.lstat(full_path)
        digest.update(os.fsencode(path) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def class_names(paths: list[str]) -> list[str]:
    """Sorted top-level folder names if every file sits in one, else [] (unlabelled)."""
    if not paths or any("/" not in path for path in paths):
        return []
    return sorted({path.split("/", 1)[0] for path in paths})


def split_of(path: str, eval_percent: int) -> str:
    """'eval' or 'train', decided by a stable hash of the relative path."""
    bucket = int.from_bytes(hashlib.sha256(os.fsencode(path)).digest()[:8], "big") % 100
    return "eval" if bucket < eval_percent else "train"
