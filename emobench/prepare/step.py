"""What a prepare step is, and the registry that holds them (DESIGN §2).

A step turns one kind of raw media of a :class:`~emobench.datasets.sample.Sample` into pack
arrays (``frames``: a face video or frame folder → ``face/frames``; ``apex``: a coded clip →
``face/apex`` and ``face/clip``; ``eyes``: a gaze export → ``eye/*``). Each step is one module
of this package holding a :class:`PrepareStep` subclass registered with
``@register_step(name)``; the registry finds it by importing the package, so a new step is a
new file. A step declares:

- ``settings``: a frozen dataclass whose fields are its options. Fields made with
  :func:`option` carry their help text and valid range, are checked when the settings are made
  (an out-of-range value is an :class:`EmobenchError` naming the option) and become options of
  ``emobench prepare`` (:mod:`emobench.prepare.options`);
- ``applies(sample)``: which samples it processes — the pipeline never guesses from media keys;
- ``arrays``: the pack arrays it writes, with their HDF5 attributes and whether their first
  axis varies per sample (ragged);
- ``media``: the media keys it reads, named in the skip when it fails on a sample;
- ``uses``: other steps whose settings it reads (``apex`` finds faces with ``faces``), recorded
  in the pack beside its own;
- ``order``: its place when several steps apply to one sample;
- ``preflight(settings)``: checks, once before any sample, what every sample needs (the
  pose model of ``streams``), so that a missing set-up is one error saying what to run;
- ``assign(samples, settings)``: a decision over the whole dataset made before any sample is
  processed (``unpair`` gives each subject its training role), returned as annotations;
- ``audit(pack, settings)``: what ``info`` shows of the step's work on a finished pack and
  the problems ``verify`` finds in it (``unpair`` re-checks that no subject straddles the
  two modalities).

Frame transforms. A step with ``transforms_frames`` (``masks``) changes decoded frames
instead of reading media: when its settings are ``active`` (``--mask`` given), every step that
``decodes_frames`` (``frames``, ``streams``) receives its settings in ``used`` and passes the
clip's frames, at native resolution and before any crop or resize, through
:func:`apply_frame_transforms`. A transform may return extra variants of the frames (one per
mask coverage level, for the robustness protocols); the decoding step writes variant ``""`` to
``<group>/frames`` and variant ``v`` to ``<group>_v/frames``. Analyses several steps need on
the same frames (face landmarks) are kept once per clip in :attr:`NativeFrames.cache`.

The pipeline records each step that ran, with its settings, in the pack's ``steps`` attribute.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError
from emobench.registry import Registry

if typing.TYPE_CHECKING:
    from emobench.pack import Pack


def option(
    default: Any,
    help: str,
    *,
    name: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
) -> Any:
    """A settings field that is a ``prepare`` option: its help text, its CLI name (default:
    the field name with ``-`` for ``_``), and its valid range or choices (a callable for
    choices that are themselves registered, such as apex strategies)."""
    metadata = {"help": help, "option": name, "minimum": minimum, "maximum": maximum}
    metadata["choices"] = choices
    return field(default=default, metadata=metadata)


def option_name(f: dataclasses.Field) -> str:
    """How ``prepare`` spells the option of a settings field (without the leading ``--``)."""
    return f.metadata.get("option") or f.name.replace("_", "-")


def option_key(f: dataclasses.Field) -> str:
    """The keyword an option is given by (``--face-margin`` → ``face_margin``)."""
    return option_name(f).replace("-", "_")


def option_fields(settings_cls: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that are options (made with :func:`option`)."""
    return [f for f in dataclasses.fields(settings_cls) if "help" in f.metadata]


def choices_of(f: dataclasses.Field) -> tuple[Any, ...] | None:
    choices = f.metadata.get("choices")
    if choices is None:
        return None
    return tuple(choices() if callable(choices) else choices)


def field_types(settings_cls: type) -> dict[str, Any]:
    """The resolved annotation of every field (``from __future__ import annotations`` leaves
    them as strings)."""
    return typing.get_type_hints(settings_cls)


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _type_problem(value: Any, annotation: Any) -> str | None:
    """``None`` when ``value`` fits the field's annotation, else what the option expects."""
    allowed = set(typing.get_args(annotation)) if typing.get_args(annotation) else {annotation}
    if value is None:
        fits = type(None) in allowed
    elif isinstance(value, bool):
        fits = bool in allowed
    elif isinstance(value, int):
        fits = int in allowed or float in allowed
    else:
        fits = not isinstance(value, float | str) or type(value) in allowed
    if fits:
        return None
    return " or ".join(_TYPE_WORDS[t] for t in _TYPE_WORDS if t in allowed) or "given"


@dataclass(frozen=True)
class StepSettings:
    """Base of every step's settings: checks each option's type, range and choices."""

    def __post_init__(self) -> None:
        types = field_types(type(self))
        for f in option_fields(type(self)):
            value = getattr(self, f.name)
            name = "--" + option_name(f)
            expected = _type_problem(value, types[f.name])
            if expected:
                raise EmobenchError(f"{name} must be {expected}, got {value!r}")
            choices = choices_of(f)
            if choices is not None and value not in choices:
                shown = ", ".join("(not given)" if c is None else str(c) for c in choices)
                raise EmobenchError(f"{name} must be one of {shown}; got {value!r}")
            low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
            if low is not None and value < low:
                raise EmobenchError(f"{name} must be at least {low}, got {value!r}")
            if high is not None and value > high:
                raise EmobenchError(f"{name} must be at most {high}, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings, as recorded in the pack's ``steps`` attribute."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ArraySpec:
    """One pack array a step writes: its key, its HDF5 attributes (from the step's settings,
    or from those of ``settings_of``, a step it uses: the ``streams`` clips are sampled as the
    ``frames`` step says) and whether its first axis varies per sample (stored concatenated,
    with offsets)."""

    key: str
    attrs: Callable[[Any], dict[str, Any]]
    ragged: bool = False
    settings_of: str | None = None


@dataclass
class NativeFrames:
    """The frames a step decoded from one clip, at native resolution (before crop or resize),
    and what steps learned about them (``cache``: face landmarks found once per clip)."""

    frames: list[np.ndarray]  # RGB uint8, each (H, W, 3), in source order
    indices: tuple[int, ...]  # source frame index of each
    fps: float  # the clip's frame rate (25.0 when the container does not say)
    name: str  # the file or folder read, for error messages
    cache: dict[str, Any] = field(default_factory=dict)

    def timestamps_ms(self) -> list[int]:
        """A strictly increasing time of each frame in milliseconds, from its index and the
        frame rate (what MediaPipe's VIDEO mode tracks by)."""
        fps = self.fps if self.fps > 0 else 25.0
        times: list[int] = []
        for index in self.indices:
            t = round(1000.0 * index / fps)
            times.append(max(t, times[-1] + 1) if times else t)
        return times


@dataclass
class FrameVariants:
    """What frame transforms made of one clip: variant name → frames (``""`` is the main
    one) and the per-sample manifest columns they add to ``/samples``."""

    frames: dict[str, list[np.ndarray]]
    row: dict[str, Any] = field(default_factory=dict)


def variant_key(key: str, variant: str) -> str:
    """The pack array of a frame variant: ``face/frames`` + ``chin_only`` →
    ``face_chin_only/frames``; the main variant ``""`` keeps ``key``."""
    if not variant:
        return key
    group, _, rest = key.partition("/")
    return f"{group}_{variant}/{rest}"


@dataclass
class StepOutput:
    """What a step made of one sample: pack arrays, extra ``/samples`` columns, and whether
    its clip was padded by repeating frames."""

    arrays: dict[str, np.ndarray]
    row: dict[str, Any] = field(default_factory=dict)
    padded: bool = False


class PrepareStep:
    """One registered prepare step (see the module docstring for what each attribute means).

    ``run`` raises :class:`~emobench.errors.InputError` naming the file for a sample it cannot
    use; the pipeline turns that (and any other exception) into a listed skip."""

    name: str = ""  # set by register_step
    settings: type = StepSettings
    order: int = 0
    transforms_frames: bool = False  # a frame transform (see the module docstring)
    decodes_frames: bool = False  # decodes clips and applies the active frame transforms
    media: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    arrays: tuple[ArraySpec, ...] = ()

    def applies(self, sample: Sample) -> bool:
        return False

    def run(self, root: Path, sample: Sample, settings: Any, used: Mapping[str, Any]) -> StepOutput:
        """One sample's arrays and columns. A step that only serves other steps (``faces``,
        which ``apex`` uses) applies to no sample and writes nothing of its own."""
        return StepOutput({})

    def assign(self, samples: list[Sample], settings: Any) -> list[Sample]:
        """The samples with this step's dataset-wide decisions added to their annotations
        (each becomes a ``/samples`` column). Most steps decide per sample: unchanged."""
        return samples

    def audit(self, pack: Pack, settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """``(lines, problems)``: what ``info`` prints about this step's work on ``pack``
        (recorded with ``settings``), and what ``verify`` reports as wrong with it."""
        return [], []

    def preflight(self, settings: Any) -> None:
        """Called once before any sample when the step will run: raises EmobenchError when
        something every sample needs is missing (a model file not set up), so that the
        dataset fails once with what to do instead of skipping every sample."""

    def active(self, settings: Any) -> bool:
        """A frame transform with these settings changes frames (``masks``: a style given)."""
        return False

    def transform(self, clip: NativeFrames, sample: Sample, settings: Any) -> FrameVariants:
        """A frame transform's work on one clip's native frames (the main variant at least)."""
        return FrameVariants({"": clip.frames})

    def variant(self, settings: Any) -> dict[str, Any]:
        """``key=value`` parts this step adds to the pack's ``variant`` name."""
        return {}

    def dataset_defaults(self, adapter_cls: type) -> dict[str, Any]:
        """Option values a dataset's adapter chooses instead of the settings' defaults
        (field name → value), e.g. the frames per clip of in-the-wild video datasets."""
        return {}


STEPS: Registry[PrepareStep] = Registry("prepare step", "emobench.prepare")


def register_step(name: str) -> Callable[[type[PrepareStep]], type[PrepareStep]]:
    """Class decorator: register one instance of a :class:`PrepareStep` subclass as ``name``."""

    def wrap(cls: type[PrepareStep]) -> type[PrepareStep]:
        cls.name = name
        STEPS.register(name, cls())
        return cls

    return wrap


def ordered_steps() -> list[PrepareStep]:
    """Every registered step, in the order they run on a sample."""
    return sorted((step for _, step in STEPS.items()), key=lambda s: (s.order, s.name))


def active_transforms(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Step name → settings of every frame transform the resolved ``settings`` switch on."""
    return {
        step.name: settings[step.name]
        for step in ordered_steps()
        if step.transforms_frames and step.active(settings[step.name])
    }


def apply_frame_transforms(
    clip: NativeFrames, sample: Sample, used: Mapping[str, Any]
) -> FrameVariants:
    """The clip's frames after every active transform named in ``used``, in step order. Each
    transform works on the main variant the previous one left; extra variants accumulate."""
    variants: dict[str, list[np.ndarray]] = {"": clip.frames}
    row: dict[str, Any] = {}
    for step in ordered_steps():
        if not (step.transforms_frames and step.name in used):
            continue
        current = dataclasses.replace(clip, frames=variants[""])
        out = step.transform(current, sample, used[step.name])
        variants.update(out.frames)
        row.update(out.row)
    return FrameVariants(variants, row)
