"""Seed, label and grid arguments as people type them: ``0-15,20``, ``3``, ``8x4``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from artgan.errors import ArtganError

MAX_SEEDS = 100_000
SEED_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_NUMBERS = re.compile(r"^[\d\s-]*$")
GRID_SHAPE = re.compile(r"^(\d+)[xX](\d+)$")


def parse_seeds(text: str) -> list[int]:
    """``"0-15,20,30-31"`` -> [0, ..., 15, 20, 30, 31]; duplicates are dropped, order kept."""
    return list(dict.fromkeys(parse_int_ranges(text, "seeds")))


def parse_int_ranges(text: str, what: str) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7]; ArtganError naming ``what`` on bad syntax."""
    values: list[int] = []
    for part in text.split(","):
        match = SEED_RANGE.match(part.strip())
        if not match:
            raise ArtganError(f"bad {what} {text!r}: {part.strip()!r} is not N or N-M (N, M >= 0)")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ArtganError(f"bad {what} {text!r}: range {part.strip()!r} runs backwards")
        if len(values) + last - first + 1 > MAX_SEEDS:
            raise ArtganError(f"bad {what} {text!r}: more than {MAX_SEEDS} values")
        values.extend(range(first, last + 1))
    return values


def format_int_ranges(values: Sequence[int]) -> str:
    """[0, 1, 2, 3, 7, 0, 1] -> ``"0-3,7,0-1"``: what ``parse_int_ranges`` reads back."""
    parts: list[str] = []
    start = previous = None
    for value in [*values, None]:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    return ",".join(parts)


def parse_grid(text: str) -> tuple[int, int]:
    """``"8x4"`` -> (8 columns, 4 rows); ArtganError naming ``--grid`` on bad syntax."""
    match = GRID_SHAPE.match(text.strip())
    if not match or not int(match.group(1)) or not int(match.group(2)):
        raise ArtganError(f"bad --grid {text!r}: expected COLSxROWS with both >= 1, e.g. 8x4")
    columns, rows = int(match.group(1)), int(match.group(2))
    if columns * rows > MAX_SEEDS:
        raise ArtganError(f"bad --grid {text!r}: more than {MAX_SEEDS} cells")
    return columns, rows


def resolve_labels(text: str, class_names: Callable[[], Sequence[str]] | None) -> list[int]:
    """``--labels`` with class names as well as numbers: ``"0-2,smileys_and_emotion-heart,flag"``
    -> labels. A name is a class's full name or a part only one class's name holds (``heart``
    would be ambiguous among the emoji's heart classes). ``class_names`` looks the names up,
    once and only when a name is given; None: numbers only."""
    labels: list[int] = []
    known: Sequence[str] | None = None
    for part in (part.strip() for part in text.split(",")):
        if _NUMBERS.match(part):  # numbers, ranges, or a typo in one (refused by the parser)
            labels.extend(parse_int_ranges(part, "labels"))
            continue
        if class_names is None:
            raise ArtganError(
                f"--labels {part!r} names a class, but the model's class names are not known "
                "here: give --model-base-path (the served model's folder, whose generator.json "
                "lists them) or the class number"
            )
        known = class_names() if known is None else known
        labels.append(_class_by_name(part, known))
    if len(labels) > MAX_SEEDS:
        raise ArtganError(f"bad labels {text!r}: more than {MAX_SEEDS} values")
    return labels


def _class_by_name(name: str, class_names: Sequence[str]) -> int:
    if name in class_names:
        return list(class_names).index(name)
    holding = [index for index, known in enumerate(class_names) if name.lower() in known.lower()]
    if len(holding) == 1:
        return holding[0]
    if holding:
        choices = ", ".join(f"{index}={class_names[index]}" for index in holding[:12])
        raise ArtganError(f"--labels {name!r} fits {len(holding)} classes: {choices}")
    raise ArtganError(
        f"--labels {name!r} is no class of this model ({len(class_names)} classes: "
        f"{', '.join(class_names[:12])}{', ...' if len(class_names) > 12 else ''})"
    )
