"""``emobench prepare``'s step options, built from the registered steps' settings dataclasses.

Every field made with :func:`emobench.prepare.step.option` is one option: its name, type,
default, help text and choices come from the field, so a new step's options appear on the
command line without editing the CLI. Two steps may read the same option (``frames`` and
``apex`` both read ``--frames`` and ``--size``): it is one option that sets both, and its
defaults must agree. Options reach :func:`emobench.prepare.pipeline.prepare_dataset` as
``options={key: value}``, ``None`` meaning "not given" (the step's or the dataset's default).

:func:`with_step_options` adds them to a Typer command.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from emobench.prepare.step import (
    PrepareStep,
    choices_of,
    field_types,
    option_fields,
    option_key,
    option_name,
    ordered_steps,
)


@dataclass(frozen=True)
class PrepareOption:
    """One option of ``prepare``: ``name`` as spelt on the command line (without ``--``),
    ``key`` as passed in ``options=``; ``type`` is ``int``, ``float``, ``str`` or ``bool``;
    ``optional`` when ``None`` is a valid value of its own; ``steps`` the steps that read it."""

    name: str
    key: str
    type: type
    optional: bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    steps: tuple[str, ...]

    @property
    def help_text(self) -> str:
        """The help with its choices and default, as a command line shows it."""
        parts = [self.help]
        if self.choices:
            parts.append("Choices: " + ", ".join(str(c) for c in self.choices if c is not None))
        if "default" not in self.help and self.default is not None:
            parts.append(f"Default: {self.default}.")
        return " ".join(parts)


def _base_type(annotation: Any) -> tuple[type, bool]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = len(args) < len(typing.get_args(annotation))
    base = args[0] if args else annotation
    if base not in (int, float, str, bool) or len(args) > 1:
        raise TypeError(f"a prepare option must be int, float, str or bool, not {annotation}")
    return base, optional


def prepare_options(steps: Iterable[PrepareStep] | None = None) -> list[PrepareOption]:
    """The options of the given steps (default: every registered step, in run order), one per
    option key. Two steps declaring one key with different types or defaults is a
    programming error (ValueError)."""
    merged: dict[str, PrepareOption] = {}
    for step in ordered_steps() if steps is None else steps:
        types = field_types(step.settings)
        for f in option_fields(step.settings):
            kind, optional = _base_type(types[f.name])
            default = f.default if f.default is not dataclasses.MISSING else None
            opt = PrepareOption(
                option_name(f),
                option_key(f),
                kind,
                optional,
                default,
                f.metadata["help"],
                choices_of(f),
                (step.name,),
            )
            seen = merged.get(opt.key)
            if seen is None:
                merged[opt.key] = opt
                continue
            if (seen.type, seen.default) != (opt.type, opt.default):
                raise ValueError(
                    f"prepare option --{opt.name}: step {step.name!r} declares it as "
                    f"{opt.type.__name__} = {opt.default!r}, step {seen.steps[0]!r} as "
                    f"{seen.type.__name__} = {seen.default!r}"
                )
            merged[opt.key] = dataclasses.replace(seen, steps=(*seen.steps, step.name))
    return list(merged.values())


def with_step_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a Typer command one ``--<option>`` per :func:`prepare_options` entry (default
    ``None``: not given). The command receives them together as its keyword parameter
    ``step_options`` (a dict by key), ready for ``prepare_dataset(..., options=...)``::

        @app.command()
        @with_step_options
        def prepare(dataset: str, ..., step_options: dict | None = None) -> None: ...
    """
    import typer

    options = prepare_options()
    signature = inspect.signature(command, eval_str=True)  # CLI modules use string annotations
    own = [p for p in signature.parameters.values() if p.name != "step_options"]
    clash = {p.name for p in own} & {o.key for o in options}
    if clash:
        raise ValueError(f"{command.__name__} already has parameters {sorted(clash)}")
    added = [
        inspect.Parameter(
            o.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=typing.Annotated[
                o.type | None, typer.Option(f"--{o.name}", help=o.help_text)
            ],
        )
        for o in options
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {o.key: kwargs.pop(o.key, None) for o in options}
        return command(*args, **kwargs, step_options=given)

    wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    return wrapper
