"""Option sets as data: one dataclass declares a command's options (name, type, default, help),
and the command-line options, a plan file's keys and the library call's arguments all come from
that one declaration.

    @dataclass(frozen=True)
    class RunPlan:
        task: str = field(default="sim-breast-lesion", metadata=option("Task id or id@version."))
        epochs: int | None = field(default=None, metadata=option("Override the profile's epochs."))

    @click.command()
    @options_from(RunPlan, plan_file=True)   # --task, --epochs, and --plan FILE
    def run(plan: RunPlan): ...

A field's option is `--<name with dashes>` unless `option(flag=...)` says otherwise; `bool` fields are
flags; `tuple[str, ...]` fields repeat (and take comma-separated values). With `plan_file=True` the
command also reads a JSON (or, on Python 3.11+, TOML) file of the same keys: the declaration's
defaults, then the file, then what was typed on the command line, each overriding the one before.
An unknown key in a file is refused with the nearest known one.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from pathlib import Path

import click

from .errors import SonoBenchError
from .registry import did_you_mean

_META = "sonobench_option"


class PlanFileError(SonoBenchError):
    """A plan file that cannot be read, or names a key its command does not have."""


def option(help: str, *, flag: str | None = None, type=None, show_default: bool = False,
           metavar: str | None = None) -> dict:
    """A field's metadata: its help text and, where the annotation is not enough, its click type."""
    return {_META: {"help": help, "flag": flag, "type": type, "show_default": show_default, "metavar": metavar}}


def fields_of(cls) -> list[tuple[dataclasses.Field, type, dict]]:
    """(field, resolved annotation, option metadata) of every declared option of `cls`."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name], f.metadata[_META]) for f in dataclasses.fields(cls) if _META in f.metadata]


def _base(annotation):
    """`int | None` -> int; `tuple[str, ...]` stays a tuple type."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if union and len(args) == 1 else annotation


def _is_multiple(annotation) -> bool:
    return typing.get_origin(_base(annotation)) is tuple


def flag_of(f: dataclasses.Field, meta: dict) -> str:
    return meta["flag"] or "--" + f.name.replace("_", "-")


def _click_option(f: dataclasses.Field, annotation, meta: dict):
    base = _base(annotation)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    kw = {"help": meta["help"], "show_default": meta["show_default"], "default": None}
    if meta["metavar"]:
        kw["metavar"] = meta["metavar"]
    if base is bool:
        kw.update(is_flag=True, default=None)
    elif _is_multiple(annotation):
        kw.update(multiple=True, default=None, type=meta["type"] or str)
    else:
        kw["type"] = meta["type"] or (base if base in (int, float, str) else click.Path(path_type=Path)
                                      if base is Path else None)
    if meta["show_default"] and default not in (None, (), False):
        kw["default"] = default.value if isinstance(default, enum.Enum) else default  # shown in --help; told
        # apart from a typed value by click's parameter source
    return click.option(flag_of(f, meta), f.name, **kw)


def _coerce(cls, values: dict, source: str) -> dict:
    known = {f.name: (ann, f) for f, ann, _ in fields_of(cls)}
    out = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            raise PlanFileError(f"{source}: unknown key {key!r}.{did_you_mean(name, known)}")
        annotation = known[name][0]
        if _is_multiple(annotation):
            items = value if isinstance(value, (list, tuple)) else [value]
            value = tuple(s.strip() for item in items for s in str(item).split(",") if s.strip())
        elif _base(annotation) is Path and value is not None:
            value = Path(value)
        elif isinstance(_base(annotation), type) and issubclass(_base(annotation), enum.Enum) and value is not None:
            try:
                value = _base(annotation)(value)
            except ValueError:
                choices = [m.value for m in _base(annotation)]
                raise PlanFileError(f"{source}: {key} = {value!r} is not one of {', '.join(map(str, choices))}") from None
        out[name] = value
    return out


def read_plan(cls, path: str | Path) -> dict:
    """The keys of a JSON or TOML plan file, checked against `cls`'s declared options."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise PlanFileError(f"cannot read the plan file {path}: {e.strerror or e}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ImportError:
        raise PlanFileError(f"{path}: TOML plans need Python 3.11+; write it as JSON") from None
    except ValueError as e:
        raise PlanFileError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
    if not isinstance(data, dict):
        raise PlanFileError(f"{path}: a plan file holds one object of option names and values")
    return _coerce(cls, data, str(path))


def build(cls, file_values: dict | None = None, typed: dict | None = None):
    """`cls` from its defaults, then `file_values`, then `typed` (each overriding the one before)."""
    return cls(**{**(file_values or {}), **_coerce(cls, typed or {}, "the command line")})


def options_from(cls, *, param: str = "plan", plan_file: bool = False):
    """A click decorator: one option per declared field of `cls`; the command receives the built
    object as `param` (and no separate option arguments)."""
    names = [f.name for f, _, _ in fields_of(cls)]

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            ctx = click.get_current_context()
            typed = {}
            for name in names:
                value = kwargs.pop(name)
                source = ctx.get_parameter_source(name)
                if source is not None and source.name != "DEFAULT" and value not in (None, ()):
                    typed[name] = value
            path = kwargs.pop("plan_file", None) if plan_file else None
            kwargs[param] = build(cls, read_plan(cls, path) if path else None, typed)
            return fn(*args, **kwargs)

        for f, annotation, meta in reversed(fields_of(cls)):
            wrapper = _click_option(f, annotation, meta)(wrapper)
        if plan_file:
            wrapper = click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True), default=None,
                                   help="Read these options from a JSON (or TOML) file of the same names; options "
                                        "typed on the command line override it.")(wrapper)
        return wrapper

    return decorate
