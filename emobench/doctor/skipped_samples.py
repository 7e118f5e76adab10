"""Check: samples the adapter leaves out for reasons other than a missing or unlisted file (a
label outside the classes, an apex the sheet does not code, a clip listed twice) — warnings
that name the file and the adapter's reason, so they are seen before ``prepare`` skips them.
"""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease
from emobench.doctor.sheet_files import is_missing_file, is_unlisted_file

NAME = "skipped-samples"


@register_check(NAME, summary="samples prepare would skip, with the adapter's reason", order=55)
def check_skipped(release: RawRelease) -> list[Finding]:
    return [
        Finding(NAME, "warning", skip.path, f"{skip.sample_id}: {skip.reason}")
        for skip in release.skips
        if not is_missing_file(skip) and not is_unlisted_file(skip)
    ]
