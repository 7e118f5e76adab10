"""Check: the sheet (or lists) and the files on disk agree, both ways.

One way: a sample the sheet lists whose file is missing. The adapter already says so in its
skips (``Skip`` records naming the file); each such skip is an error here. The other way:
media files on disk that no sample references — files with the suffixes of the referenced
media, in the folders that hold referenced media (and sibling folders of referenced frame
folders). They are warnings, or information when the adapter reports clips the release
itself leaves out (DFEW's label 0, Tufts' poses 3 and 5: their files are expected to be
unreferenced). Files a skip already names are not repeated.

Skips of other kinds (a label outside the classes, an apex not coded) are reported by
``skipped_samples``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath

from emobench.datasets.sample import Skip
from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease

NAME = "sheet-files"
SHOWN = 5
GROUPS_SHOWN = 5  # above this many folders with unreferenced files, one finding sums them up

# How the adapters word a skip for a listed file that is not there, and for a file on disk
# that the sheet does not list.
MISSING_WORDS: tuple[str, ...] = ("not on disk", "not found", "without its")
UNLISTED_WORDS: tuple[str, ...] = ("on disk but not in",)


def is_missing_file(skip: Skip) -> bool:
    """The skip says a file the sheet lists is not on disk."""
    return not is_unlisted_file(skip) and any(w in skip.reason for w in MISSING_WORDS)


def is_unlisted_file(skip: Skip) -> bool:
    """The skip says a file on disk is not in the sheet."""
    return any(w in skip.reason for w in UNLISTED_WORDS)


def _under(rel: str, folders: set[str]) -> bool:
    """``rel`` is one of ``folders`` or lies under one of them."""
    return rel in folders or any(p.as_posix() in folders for p in PurePosixPath(rel).parents)


def unreferenced_media(release: RawRelease) -> dict[str, list[str]]:
    """Folder → the media entries in it that no sample references (see the module text)."""
    referenced = {rel for s in release.samples for rel in s.media.values()}
    named = {skip.path for skip in release.skips}
    wanted: dict[str, set[str]] = defaultdict(set)  # folder → suffixes ("/" for folders)
    for rel in referenced:
        path = release.root / rel
        parent = PurePosixPath(rel).parent.as_posix()
        wanted[parent].add("/" if path.is_dir() else path.suffix.lower())
    found: dict[str, list[str]] = {}
    for folder, suffixes in sorted(wanted.items()):
        base = release.root / folder
        if not base.is_dir():
            continue
        extra = []
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("."):
                continue
            rel = entry.relative_to(release.root).as_posix()
            kind = "/" if entry.is_dir() else entry.suffix.lower()
            if kind in suffixes and rel not in referenced and not _under(rel, named):
                extra.append(rel)
        if extra:
            found[folder] = extra
    return found


@register_check(NAME, summary="listed samples have their files; no file on disk is unlisted")
def check_sheet_files(release: RawRelease) -> list[Finding]:
    findings = [
        Finding(NAME, "error", skip.path, f"{skip.sample_id}: {skip.reason}")
        for skip in release.skips
        if is_missing_file(skip)
    ]
    findings += [
        Finding(NAME, "warning", skip.path, f"{skip.sample_id}: {skip.reason}")
        for skip in release.skips
        if is_unlisted_file(skip)
    ]
    extra = unreferenced_media(release)
    if not extra:
        return findings
    if release.excluded:
        severity = "info"
        why = (
            "; the adapter leaves clips out by the release's own rules ("
            + ", ".join(f"{n} × {reason}" for reason, n in release.excluded.items())
            + "), which may be these"
        )
    else:
        severity, why = "warning", ""
    if len(extra) <= GROUPS_SHOWN:
        for folder, entries in extra.items():
            names = [PurePosixPath(e).name for e in entries]
            more = f" … ({len(names) - SHOWN} more)" if len(names) > SHOWN else ""
            findings.append(
                Finding(
                    NAME,
                    severity,
                    folder,
                    f"{len(entries)} media file(s) that no sample references: "
                    f"{', '.join(names[:SHOWN])}{more}{why}",
                )
            )
        return findings
    entries = [e for group in extra.values() for e in group]
    more = f" … ({len(entries) - SHOWN} more)" if len(entries) > SHOWN else ""
    findings.append(
        Finding(
            NAME,
            severity,
            "",
            f"{len(entries)} media file(s) in {len(extra)} folders that no sample references: "
            f"{', '.join(entries[:SHOWN])}{more}{why}",
        )
    )
    return findings
