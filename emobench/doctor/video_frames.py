"""Check: every video decodes, and has the frames its container and the sheet say it has.

Each video is decoded once to its end (`emobench.prepare.video.ClipFrames`). A video that does
not open, a frame that does not convert, or fewer decoded frames than the container declares
(beyond the slack `emobench.prepare.video.declared_slack` allows: some containers estimate
their length) is an error — a video cut short (bytes missing at its end) shows this way. The
decoded count is also held against what the sample's annotations state: an ``offset`` frame
(1-based, as coding sheets number a video's frames) beyond the last decoded frame, or a
``n_frames`` the video does not reach, is an error.
"""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease

NAME = "video-frames"


@register_check(
    NAME,
    summary="every video decodes to the frame count its container and sheet state",
    media=("video",),
    needs_scan=False,
    order=10,
)
def check_videos(release: RawRelease) -> list[Finding]:
    from emobench.prepare.video import declared_slack

    findings = []
    for ref in release.media("video"):
        probe = release.probe(ref)

        def add(problem: str, rel: str = ref.rel) -> None:
            findings.append(Finding(NAME, "error", rel, problem))

        if probe.problems:
            add("; ".join(probe.problems))
            continue
        declared, decoded = probe.declared, probe.decoded
        if decoded == 0:
            add(f"no frame decodes (the container declares {declared})")
            continue
        if declared > 0 and declared - decoded > declared_slack(declared):
            add(
                f"decoded {decoded} of {declared} declared frames: the video is cut short or "
                "damaged"
            )
        notes = ref.sample.annotations if ref.sample is not None else {}
        for key in ("offset", "n_frames"):
            stated = notes.get(key)
            if isinstance(stated, int) and stated - decoded > declared_slack(stated):
                what = "the offset frame" if key == "offset" else "n_frames"
                add(f"the sheet states {what} {stated}, but only {decoded} frames decode")
    return findings
