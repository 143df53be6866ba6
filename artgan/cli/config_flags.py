"""Command-line flags derived from the config dataclasses: each field once, never a copy.

Every field of a section becomes ``--<field-name>`` (a few keep the older, shorter names in
``FLAG_NAMES``); its type, default and choices come from ``artgan/config.py`` and its help is
the comment written beside (or above) the field there. Booleans take ``--x`` / ``--no-x``; gates
that may be off take a number or ``none``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import tokenize
import typing
from typing import Any

from artgan.config import AUTO, CHOICES

# (section, field) -> flag, where the flag is not simply --field-name: names that landed before
# flags were derived, and fields two sections share (seed).
FLAG_NAMES = {
    ("eval", "num_samples"): "--eval-samples",
    ("eval", "inception_graph_path"): "--inception-graph",
    ("eval", "seed"): "--eval-seed",
    ("pipeline", "data_dir"): "--data",
    ("kubeflow", "data_uri"): "--data",
    ("kubeflow", "package"): "--output",
    ("pipeline", "beam_args"): "--beam-arg",  # repeated: one argument per flag
    ("kubeflow", "beam_args"): "--beam-arg",
}
REPEATED = {tuple[str, ...]: "ARG"}  # tuple fields: one flag per item, e.g. --beam-arg


def flag_name(section: str, field: str) -> str:
    return FLAG_NAMES.get((section, field), "--" + field.replace("_", "-"))


def dest(section: str, field: str) -> str:
    return f"{section}.{field}"


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment on its line, or the comment lines right above it."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    above: list[str] = []
    line_comment: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line_comment[token.start[0]] = token.string.lstrip("#").strip()
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(line_comment.get(number, ""))
            continue
        name = stripped.split(":", 1)[0]
        if ":" in stripped and name.isidentifier() and not stripped.startswith("def "):
            text = line_comment.get(number) or " ".join(above)
            if text:
                comments[name] = text
        above = []
    return comments


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off") else float(text)


def _int_or_auto(text: str) -> int | str:
    if text.lower() == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number or {AUTO}, got {text!r}"
        ) from None


TRUTH = {"true": True, "1": True, "false": False, "0": False}


def _truth(text: str) -> bool:
    """``true``/``false`` (or 1/0), as ``--flag=true`` in other tools' flag syntax."""
    try:
        return TRUTH[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}") from None


def _help(text: str, default: Any) -> str:
    shown = "none" if default is None else repr(default) if default == "" else default
    return f"{text} (default: {shown})".replace("%", "%%").lstrip()


def add_section_flags(
    parser: argparse.ArgumentParser,
    section: str,
    defaults: Any,
    title: str,
    skip: tuple[str, ...] = (),
    aliases: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """One flag per field of the dataclass instance ``defaults``, in a group named ``title``;
    ``aliases`` gives a field's other spellings (e.g. another tool's flag names)."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(type(defaults))
    comments = field_comments(type(defaults))
    for field in dataclasses.fields(defaults):
        if field.name in skip or dataclasses.is_dataclass(hints[field.name]):
            continue
        default = getattr(defaults, field.name)
        kind = hints[field.name]
        options: dict[str, Any] = {
            "dest": dest(section, field.name),
            "default": default,
            "help": _help(comments.get(field.name, ""), default),
        }
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind in REPEATED:
            options.update(action="append", default=None, metavar=REPEATED[kind])
            options["help"] = _help(
                comments.get(field.name, "") + "; one per flag, written with '='",
                " ".join(default),
            )
        elif kind == float | None:
            options.update(type=_optional_float, metavar="X|none")
        elif kind == int | str:
            choices = CHOICES.get(dest(section, field.name))
            options.update(type=_int_or_auto)
            if choices:
                options["choices"] = choices
            else:
                options["metavar"] = f"N|{AUTO}"
        else:
            choices = CHOICES.get(dest(section, field.name))
            if choices:
                options.update(type=kind, choices=choices)
            else:
                options.update(type=kind, metavar=field.name.upper())
        other_names = (aliases or {}).get(field.name, ())
        if kind is bool and other_names:
            # Other tools' boolean flags: --flag, or --flag=true|false (TF Serving's spelling).
            group.add_argument(
                *other_names,
                dest=options["dest"],
                type=_truth,
                nargs="?",
                const=True,
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
            )
            other_names = ()
        group.add_argument(flag_name(section, field.name), *other_names, **options)


def section_from_args(args: argparse.Namespace, section: str, defaults: Any) -> Any:
    """``defaults`` with every field that has a flag replaced by the parsed value."""
    changes = {}
    for field in dataclasses.fields(defaults):
        key = dest(section, field.name)
        if hasattr(args, key):
            value = getattr(args, key)
            if value is None and isinstance(getattr(defaults, field.name), tuple):
                continue  # a repeated flag not given keeps the default list
            changes[field.name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(defaults, **changes)
