"""Check: no subject sits in two folds (or two partitions) of the release's own split.

A subject whose samples are tested in one fold and trained on in another lets a model
recognise the person instead of the emotion; official splits are subject-disjoint. The fold is
the samples' ``fold`` annotation, or else their ``partition`` (train / validation / test).
Each subject found in two or more is an error naming the folds and a sample of each; the file
is the media of the first sample outside the subject's first fold.
"""

from __future__ import annotations

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease

NAME = "subject-folds"
FOLD_KEYS: tuple[str, ...] = ("fold", "partition")


@register_check(
    NAME, summary="no subject in two folds or partitions", annotations=FOLD_KEYS, order=60
)
def check_subject_folds(release: RawRelease) -> list[Finding]:
    key = release.annotation_key(FOLD_KEYS)
    by_subject: dict[str, dict[object, list]] = {}
    for sample in release.samples:
        if key in sample.annotations:
            folds = by_subject.setdefault(sample.subject, {})
            folds.setdefault(sample.annotations[key], []).append(sample)
    findings = []
    for subject, folds in sorted(by_subject.items()):
        if len(folds) < 2:
            continue
        groups = list(folds.items())
        where = ", ".join(
            f"{key} {fold} ({', '.join(s.id for s in samples[:3])}"
            + (f" +{len(samples) - 3}" if len(samples) > 3 else "")
            + ")"
            for fold, samples in groups
        )
        file = next(iter(groups[1][1][0].media.values()), "")
        findings.append(
            Finding(
                NAME,
                "error",
                file,
                f"subject {subject} is in {len(groups)} {key}s: {where}; the split must be "
                "subject-disjoint",
            )
        )
    return findings
