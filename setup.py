"""Derives the package list from the folders pyproject.toml maps into ``artgan``.

``[tool.setuptools.package-dir]`` maps each top-level product folder to ``artgan.<folder>``;
every folder below one with an ``__init__.py`` is a package, so a new sub-package is installed
without being listed anywhere. Everything else is in pyproject.toml.
"""

import os
import tomllib

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
    PACKAGE_DIR = tomllib.load(f)["tool"]["setuptools"]["package-dir"]


def packages_of(package: str, folder: str) -> list[str]:
    return [package] + [f"{package}.{sub}" for sub in find_packages(os.path.join(HERE, folder))]


setup(
    packages=sorted(
        name for package, folder in PACKAGE_DIR.items() for name in packages_of(package, folder)
    ),
    package_dir=PACKAGE_DIR,
)
