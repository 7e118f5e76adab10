"""Check: no clip (or image) appears twice across the release's folds — once to train on, once
to test.

Each clip is represented by the 64-bit perceptual hashes (OpenCV ``img_hash.PHash``) of
``SAMPLED_FRAMES`` frames spread evenly over it (one for a still image), kept when the media
were decoded. Where the release defines folds or partitions, two clips of different folds are
near-duplicates when *every* sampled frame's hash is within ``MAX_DISTANCE`` bits of the
frame at the same place in the other clip: one similar frame is common (drawn or real faces
of one look, a neutral start), all of them is the same clip again, re-encoded or not.
``MAX_DISTANCE`` lies below the distances measured between different clips of every clean
miniature and above those of a clip re-encoded as a JPEG of low quality.

Where the release has no folds (leave-one-subject-out databases, image pairs), subjects take
their place, and only clips whose sampled frames are pixel-identical are flagged: faces of
different people in one lab's setting can hash alike, but do not decode to the same pixels.
Hashes are compared per media key (visible with visible, thermal with thermal).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from emobench.doctor import Finding, register_check
from emobench.doctor.release import MediaRef, RawRelease
from emobench.doctor.subject_folds import FOLD_KEYS

NAME = "near-duplicates"
MAX_DISTANCE = 4
MAX_FINDINGS = 50


def _pairs_within(hashes: np.ndarray, groups: np.ndarray, limit: int) -> list[tuple]:
    """(i, j, worst distance) for rows of different groups whose every hash is within
    ``limit`` bits of the other row's."""
    pairs = []
    for i in range(len(hashes) - 1):
        worst = np.bitwise_count(hashes[i + 1 :] ^ hashes[i]).max(axis=1)
        hits = np.flatnonzero((worst <= limit) & (groups[i + 1 :] != groups[i]))
        pairs += [(i, i + 1 + int(k), int(worst[k])) for k in hits]
    return pairs


def _visual_refs(release: RawRelease) -> dict[tuple[str, int], list[MediaRef]]:
    """(media key, sampled frames) → the sampled media with that many hashes."""
    refs: dict[tuple[str, int], list[MediaRef]] = defaultdict(list)
    for kind in ("video", "frames", "image"):
        for ref in release.media(kind):
            hashes = release.probe(ref).hashes
            if hashes and ref.sample is not None:
                refs[ref.key, len(hashes)].append(ref)
    return refs


@register_check(
    NAME,
    summary="no clip appears twice across folds (perceptual hashes of sampled frames)",
    media=("video", "frames", "image"),
    order=70,
)
def check_near_duplicates(release: RawRelease) -> list[Finding]:
    key = release.annotation_key(FOLD_KEYS)
    findings: list[Finding] = []
    for (_, k), refs in sorted(_visual_refs(release).items()):
        if key is not None:
            groups = np.asarray([str(r.sample.annotations.get(key)) for r in refs])
            hashes = np.asarray([release.probe(r).hashes for r in refs], dtype=np.uint64)
            for i, j, worst in _pairs_within(hashes, groups, MAX_DISTANCE):
                a, b = refs[i], refs[j]
                findings.append(
                    Finding(
                        NAME,
                        "error",
                        b.rel,
                        f"near-duplicate of {a.rel} ({key} {groups[i]} vs {groups[j]}): all "
                        f"{k} sampled frames within {worst} bit(s) of each other's perceptual "
                        f"hash (threshold {MAX_DISTANCE})",
                    )
                )
        else:
            same: dict[tuple[str, ...], list[MediaRef]] = defaultdict(list)
            for ref in refs:
                same[tuple(release.probe(ref).digests)].append(ref)
            for copies in same.values():
                subjects = {r.sample.subject for r in copies}
                if len(subjects) < 2:
                    continue
                first = copies[0]
                for other in copies[1:]:
                    if other.sample.subject != first.sample.subject:
                        findings.append(
                            Finding(
                                NAME,
                                "error",
                                other.rel,
                                f"same pixels as {first.rel} (subject {other.sample.subject} vs "
                                f"{first.sample.subject}): all {k} sampled frames identical",
                            )
                        )
    if len(findings) > MAX_FINDINGS:
        rest = len(findings) - MAX_FINDINGS
        findings = findings[:MAX_FINDINGS] + [
            Finding(NAME, "error", "", f"{rest} more near-duplicate pair(s) not listed")
        ]
    return findings
