"""``emobench doctor``: checks of a raw release before ``prepare``, one registered check per file.

A check is a function of a :class:`~emobench.doctor.release.RawRelease` (the adapter's scan of
the raw folder, and the media it decoded once for every check) that returns findings. Each
check declares what it applies to: the media kinds it reads (``video``, ``frames``,
``image``, ``eye``) and the annotations it needs (``fold`` or ``partition``); the runner runs
the checks whose declarations the release meets, so a new check is a new module under
``emobench/doctor/`` with ``@register_check`` and nothing else.

A :class:`Finding` is one problem (or one piece of information): the check that found it, its
severity (``error``: the release is broken here; ``warning``: probably wrong, look at it;
``info``: for the record), the file (relative to the raw root where possible) and the problem
in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emobench.registry import Registry

if TYPE_CHECKING:
    from emobench.doctor.release import RawRelease

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One thing a check found in a raw release."""

    check: str
    severity: str
    file: str
    problem: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity,
            "file": self.file,
            "problem": self.problem,
        }


CheckFn = Callable[["RawRelease"], list[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check.

    ``media``: the media kinds it reads; the check runs when the release holds at least one of
    them (no kinds: it always applies). ``annotations``: annotation keys of which a sample
    must carry at least one (no keys: no condition). ``needs_scan``: False for checks that
    also run on the files found on disk when the adapter's scan failed. ``order``: where the
    check's findings come in the report (lower first).
    """

    name: str
    summary: str
    run: CheckFn
    media: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()
    needs_scan: bool = True
    order: int = 50

    def applies(self, release: RawRelease) -> bool:
        if self.needs_scan and release.scan_failed:
            return False
        if self.media and not any(release.media(kind) for kind in self.media):
            return False
        return not self.annotations or release.annotation_key(self.annotations) is not None


CHECKS: Registry[Check] = Registry("doctor check", "emobench.doctor")


def register_check(
    name: str,
    *,
    summary: str,
    media: tuple[str, ...] = (),
    annotations: tuple[str, ...] = (),
    needs_scan: bool = True,
    order: int = 50,
) -> Callable[[CheckFn], CheckFn]:
    """``@register_check("video-frames", summary=..., media=("video",))`` on a function
    ``check(release) -> list[Finding]``."""

    def wrap(fn: CheckFn) -> CheckFn:
        CHECKS.register(
            name,
            Check(name, summary, fn, tuple(media), tuple(annotations), needs_scan, order),
        )
        return fn

    return wrap


def ordered_checks() -> list[Check]:
    """Every registered check, in report order."""
    return sorted((check for _, check in CHECKS.items()), key=lambda c: (c.order, c.name))
