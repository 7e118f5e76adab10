"""Check (information): how each label is distributed over the folds or partitions.

Class labels (text) are counted per class, 0/1 labels (EmoReact's emotions) by their positives;
numeric labels (valence) are left out. Without folds the counts are over all samples. The
finding is information, never a failure: a class rare in one fold is a fact of the release.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease
from emobench.doctor.subject_folds import FOLD_KEYS

NAME = "label-distribution"


def _kind(values: list) -> str | None:
    """``class`` for text labels, ``binary`` for 0/1 labels, None for other values."""
    present = [v for v in values if v not in ("", None)]
    if present and all(isinstance(v, str) for v in present):
        return "class"
    if present and all(isinstance(v, int) and v in (0, 1) for v in present):
        return "binary"
    return None


@register_check(NAME, summary="label counts per fold (information)", order=90)
def check_label_distribution(release: RawRelease) -> list[Finding]:
    key = release.annotation_key(FOLD_KEYS)
    columns = list(dict.fromkeys(c for s in release.samples for c in s.labels))
    findings = []
    for column in columns:
        values = [s.labels.get(column) for s in release.samples]
        kind = _kind(values)
        if kind is None:
            continue
        per_fold: dict[str, Counter] = defaultdict(Counter)
        for sample in release.samples:
            fold = str(sample.annotations.get(key, "?")) if key else "all"
            per_fold[fold][sample.labels.get(column)] += 1
        parts = []
        for fold, counts in sorted(per_fold.items()):
            if kind == "binary":
                text = f"{counts[1]} of {sum(counts.values())}"
            else:
                text = ", ".join(f"{c} {n}" for c, n in sorted(counts.items()) if c)
            parts.append(f"{fold}: {text}" if key else text)
        head = f"{column} per {key}" if key else f"{column} (no folds; all samples)"
        findings.append(Finding(NAME, "info", "", f"{head} — " + "; ".join(parts)))
    return findings
