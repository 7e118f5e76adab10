"""Check: every still image decodes — visible images with the reader ``prepare`` uses
(`emobench.prepare.video.read_image`, which refuses a JPEG cut short), thermal images and
matrices with the thermal reader (`emobench.prepare.thermal_images.read_thermal`)."""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease

NAME = "still-images"


@register_check(
    NAME, summary="every still image (visible, thermal) decodes", media=("image",), order=30
)
def check_still_images(release: RawRelease) -> list[Finding]:
    return [
        Finding(NAME, "error", ref.rel, "; ".join(probe.problems))
        for ref in release.media("image")
        if (probe := release.probe(ref)).problems
    ]
