"""Check: the adapter reads the release's sheet and lists (its ``scan()`` succeeds).

An adapter refuses a release whose lists contradict themselves (a clip in the training and
the test list of one fold, a sample listed twice, folds that are not subject-disjoint); the
doctor reports that refusal as an error naming the file, and runs the checks that do not need
the samples (videos and frame folders found on disk) instead of stopping.
"""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease
from emobench.errors import InputError

NAME = "scan"


@register_check(NAME, summary="the adapter reads the sheet and lists", needs_scan=False, order=0)
def check_scan(release: RawRelease) -> list[Finding]:
    err = release.scan_error
    if err is None:
        return []
    if isinstance(err, InputError):
        return [Finding(NAME, "error", release.relative(err.path), err.problem)]
    return [Finding(NAME, "error", "", str(err))]
