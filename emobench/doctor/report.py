"""Running the registered checks on a raw folder, and the report they make.

:func:`run_doctor` opens the dataset's adapter on the folder (read-only), scans it once
(:class:`~emobench.doctor.release.RawRelease`), probes the media that the applicable checks
read — each file once, with ``progress(done, total, file)`` — and collects every check's
findings into a :class:`DoctorReport`.

A folder that is not a release of the dataset at all is bad input, not a finding: the
adapter's error is raised (``emobench doctor`` exits 2) when the folder is missing, or the
scan fails on the root itself or on a file or folder that does not exist (the layout's
sheet, lists or media folder are not there). A scan that fails on a file that exists is a
defect of the release and becomes the ``scan`` check's finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emobench.doctor import SEVERITIES, Finding, ordered_checks
from emobench.doctor.release import KINDS, Progress, RawRelease
from emobench.errors import InputError


@dataclass(frozen=True)
class DoctorReport:
    """The findings of every check that applied, and what was checked."""

    dataset: str
    src: str
    miniature: bool
    n_samples: int
    n_skipped: int
    checks: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.severity for f in self.findings)
        return {severity: found.get(severity, 0) for severity in SEVERITIES}

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        """No error finding (warnings and information do not fail a release)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "src": self.src,
            "miniature": self.miniature,
            "samples": self.n_samples,
            "skipped": self.n_skipped,
            "checks": self.checks,
            "counts": self.counts,
            "ok": self.ok,
            "findings": [f.as_dict() for f in self.findings],
        }


def _layout_problem(release: RawRelease) -> InputError | None:
    """The scan's error when it says the folder is not this dataset's layout."""
    err = release.scan_error
    if not isinstance(err, InputError):
        return None
    path = Path(err.path)
    if not path.exists() or path.resolve() == release.root.resolve():
        return err
    return None


def run_doctor(
    dataset: str,
    root: str | Path,
    *,
    layout: str | None = None,
    columns: dict[str, str] | None = None,
    miniature: bool = False,
    progress: Progress | None = None,
) -> DoctorReport:
    """Check the raw release of ``dataset`` at ``root`` (see the module docstring)."""
    from emobench.prepare.pipeline import open_adapter

    root = Path(root)
    adapter = open_adapter(dataset, root, columns=columns, layout=layout)
    release = RawRelease(dataset, root, adapter)
    layout_error = _layout_problem(release)
    if layout_error is not None:
        raise layout_error
    checks = [check for check in ordered_checks() if check.applies(release)]
    kinds = {kind for check in checks for kind in check.media if kind in KINDS}
    release.probe_all(sorted(kinds), progress)
    findings = [finding for check in checks for finding in check.run(release)]
    return DoctorReport(
        dataset=dataset,
        src=str(root),
        miniature=miniature,
        n_samples=len(release.samples),
        n_skipped=len(release.skips),
        checks=[check.name for check in checks],
        findings=findings,
    )
