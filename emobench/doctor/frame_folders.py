"""Check: frame folders are complete — no gap in the numbered frame files, as many frames as the
sheet implies, every frame readable.

Frames are numbered by the last number in their file name (the rule of
`emobench.datasets.coding_sheet.frame_number`). A number missing between a folder's first and
last frame is a deleted or never-written frame: an error naming the missing numbers. Every
frame is read with the reader ``prepare`` uses (`emobench.prepare.video.read_image`: a JPEG cut
short is refused too). A sample's ``onset``/``offset`` outside the frames on disk, or an
``n_frames`` other than the frames on disk, is an error as well.
"""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease

NAME = "frame-folders"
SHOWN = 10  # frame numbers or files named in one finding


def _shown(items: list) -> str:
    more = f" … ({len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(str(i) for i in items[:SHOWN]) + more


@register_check(
    NAME,
    summary="frame folders have no gap, the frame count the sheet implies, readable frames",
    media=("frames",),
    needs_scan=False,
    order=20,
)
def check_frame_folders(release: RawRelease) -> list[Finding]:
    findings = []
    for ref in release.media("frames"):
        probe = release.probe(ref)

        def add(problem: str, rel: str = ref.rel) -> None:
            findings.append(Finding(NAME, "error", rel, problem))

        for problem in probe.problems:
            add(problem)
        if not probe.numbers:
            continue
        if probe.gaps:
            add(
                f"{len(probe.gaps)} frame(s) missing between frame {probe.numbers[0]} and "
                f"{probe.numbers[-1]}: {_shown(list(probe.gaps))}"
            )
        for name, problem in probe.unreadable[:SHOWN]:
            add(problem, f"{ref.rel}/{name}")
        if len(probe.unreadable) > SHOWN:
            add(f"{len(probe.unreadable) - SHOWN} more unreadable frame(s)")
        notes = ref.sample.annotations if ref.sample is not None else {}
        first, last = probe.numbers[0], probe.numbers[-1]
        onset, offset = notes.get("onset"), notes.get("offset")
        if isinstance(onset, int) and isinstance(offset, int) and (onset < first or offset > last):
            add(f"the sheet codes frames {onset}..{offset}; frames {first}..{last} are on disk")
        n_frames = notes.get("n_frames")
        if isinstance(n_frames, int) and n_frames != len(probe.numbers):
            add(f"the sheet implies {n_frames} frames; {len(probe.numbers)} are on disk")
    return findings
