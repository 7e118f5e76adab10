"""The ``unpair`` step: paired visible/thermal captures → an unpaired training set, by subject.

Paired databases record every capture with both cameras at once; the unpaired setting of
Xia & Wang (ACCV 2020) — and the "partially unpaired" one of Pan & Wang (ACM MM 2018) — has
visible and thermal training images that do not come from the same captures. ``--unpair
by-subject`` builds it from a paired database without identity leakage: each subject gets one
training role, drawn once with ``--seed``:

=========  ===================================================================
both       a share ``--pairing-ratio`` r of the subjects keep both images
visible    half of the others train on their visible images only
thermal    the other half train on their thermal images only
=========  ===================================================================

So at r = 0 no capture gives both its images to training and no subject is on both sides;
r = 1 keeps every pair (thermal as privileged information). The role says what a subject
contributes *when it is a training subject*: in the folds that test or validate it, only its
visible images are read (the thermal protocols' ``test_inputs``), so a thermal-role subject's
visible images are kept in the pack — marked ``train_visible = False`` — and a visible-role
subject's thermal images are not stored at all. Unpaired pool images keep the one modality
they have. Every row records ``unpair_role``, ``train_visible`` and ``train_thermal``; the
engine never trains on a modality a row's flag withholds
(:func:`emobench.engine.data.training_presence`), and :meth:`UnpairStep.audit` re-checks all
of it on the finished pack (``emobench info`` prints it, ``emobench verify`` fails on it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError
from emobench.prepare.step import PrepareStep, StepSettings, option, register_step

if TYPE_CHECKING:
    from emobench.pack import Pack

ROLES = ("both", "visible", "thermal")
MEDIA = {"visible": "visible_image", "thermal": "thermal_image"}


@dataclass(frozen=True)
class UnpairSettings(StepSettings):
    unpair: str = option(
        "none",
        "Unpair paired visible/thermal captures: by-subject gives each subject one training "
        "role (both, visible or thermal); none: every capture keeps both images.",
        choices=("none", "by-subject"),
    )
    pairing_ratio: float = option(
        0.0,
        "With --unpair: the share of subjects that keep both images in training.",
        minimum=0.0,
        maximum=1.0,
    )
    seed: int = option(0, "With --unpair: seed of the subjects' roles.", minimum=0)


def subject_roles(subjects: list[str], ratio: float, seed: int) -> dict[str, str]:
    """Each subject's training role: ``round(ratio × n)`` subjects keep both images, the rest
    alternate visible, thermal in a seeded random order (so they split in halves)."""
    names = sorted(set(subjects))
    order = np.random.default_rng(seed).permutation(len(names))
    n_both = int(np.floor(ratio * len(names) + 0.5))
    roles = {}
    for rank, index in enumerate(order):
        if rank < n_both:
            roles[names[index]] = "both"
        else:
            roles[names[index]] = "visible" if (rank - n_both) % 2 == 0 else "thermal"
    return roles


def _is_pool(sample: Sample) -> bool:
    return bool(sample.annotations.get("pool"))


@register_step("unpair")
class UnpairStep(PrepareStep):
    settings = UnpairSettings
    order = 1  # its roles are annotations; the image steps read them

    def applies(self, sample: Sample) -> bool:
        return "unpair_role" in sample.annotations

    def assign(self, samples: list[Sample], settings: UnpairSettings) -> list[Sample]:
        if settings.unpair == "none":
            lone = [
                f"--{name}"
                for name, value, default in (
                    ("pairing-ratio", settings.pairing_ratio, UnpairSettings.pairing_ratio),
                    ("seed", settings.seed, UnpairSettings.seed),
                )
                if value != default
            ]
            if lone:
                raise EmobenchError(f"{' and '.join(lone)} need(s) --unpair by-subject")
            return samples
        subjects = [s.subject for s in samples if not _is_pool(s)]
        if not any(all(k in s.media for k in MEDIA.values()) for s in samples):
            raise EmobenchError(
                "--unpair by-subject needs paired captures (a visible and a thermal image)"
            )
        roles = subject_roles(subjects, settings.pairing_ratio, settings.seed)
        n_both = sum(1 for r in roles.values() if r == "both")
        out = []
        for sample in samples:
            # a pool image trains on the one modality it has; every capture of a subject
            # (one camera or two) follows the subject's role
            role = str(sample.annotations["pool"]) if _is_pool(sample) else roles[sample.subject]
            flags = {
                "unpair_role": role,
                "train_visible": role in ("both", "visible") and MEDIA["visible"] in sample.media,
                "train_thermal": role in ("both", "thermal") and MEDIA["thermal"] in sample.media,
                "unpair_subjects": len(roles),  # as assigned, before any capture was skipped
                "unpair_both_subjects": n_both,
            }
            out.append(dataclasses.replace(sample, annotations={**sample.annotations, **flags}))
        return out

    def audit(self, pack: Pack, settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        if settings.get("unpair") in (None, "none"):
            return ["not unpaired: every capture trains on both its images"], []
        return unpairing_audit(pack, settings)

    def variant(self, settings: UnpairSettings) -> dict[str, Any]:
        if settings.unpair == "none":
            return {}
        return {"unpair": settings.unpair, "r": settings.pairing_ratio, "seed": settings.seed}


def unpairing_audit(pack: Pack, settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The lines ``info`` prints about an unpaired pack and the problems ``verify`` finds."""
    from emobench.pack import flag_column

    samples = pack.samples
    needed = {"unpair_role", "train_visible", "train_thermal"}
    if not needed <= set(samples.columns):
        return [], [f"{pack.path}: unpaired, but /samples lacks {sorted(needed - set(samples))}"]
    role = samples["unpair_role"].astype(str).to_numpy()
    subject = samples["subject"].astype(str).to_numpy()
    ids = samples["id"].astype(str).to_numpy()
    train_v = flag_column(samples["train_visible"])
    train_t = flag_column(samples["train_thermal"])
    has_v, has_t = pack.present("visible"), pack.present("thermal")
    pool = (
        flag_column(samples["train_only"]) if "train_only" in samples else np.zeros(len(role), bool)
    )
    problems = []

    def flag(mask: np.ndarray, what: str) -> None:
        if mask.any():
            ids = samples["id"].astype(str).to_numpy()[mask][:5].tolist()
            problems.append(f"{pack.path}: {int(mask.sum())} row(s) {what} (e.g. {ids})")

    flag(~np.isin(role, ROLES), f"have an unpair_role outside {ROLES}")
    flag(train_v & ~np.isin(role, ("both", "visible")), "train on visible against their role")
    flag(train_t & ~np.isin(role, ("both", "thermal")), "train on thermal against their role")
    flag(train_v != (np.isin(role, ("both", "visible")) & has_v), "have a wrong train_visible")
    flag(train_t != (np.isin(role, ("both", "thermal")) & has_t), "have a wrong train_thermal")
    flag(has_t & (role == "visible"), "hold a thermal image although their role is visible")
    flag(~has_v & ~pool, "are not pool images but hold no visible image to test on")
    paired_subjects = set(subject[~pool])
    pool_ok = np.isin(role, ("visible", "thermal")) & (subject == ids) & (has_v != has_t)
    flag(pool & ~pool_ok, "are training-only pool rows that are not one-modality pool images")
    flag(pool & np.isin(subject, list(paired_subjects)), "are pool rows of a paired subject")
    problems += _pool_copies(pack, pool)
    roles_of: dict[str, set[str]] = {}
    for s, r in zip(subject[~pool], role[~pool], strict=True):
        roles_of.setdefault(s, set()).add(r)
    mixed = sorted(s for s, rs in roles_of.items() if len(rs) > 1)
    if mixed:
        problems.append(f"{pack.path}: subject(s) {mixed[:5]} have more than one training role")
    both_rows = int((train_v & train_t).sum())
    sides = set(subject[train_v & ~pool]) & set(subject[train_t & ~pool])
    ratio = float(settings.get("pairing_ratio", 0.0))
    n = len(roles_of)
    count = {r: sum(1 for rs in roles_of.values() if r in rs) for r in ROLES}
    assigned = int(samples["unpair_subjects"].max()) if "unpair_subjects" in samples else n
    assigned_both = (
        int(samples["unpair_both_subjects"].max())
        if "unpair_both_subjects" in samples
        else count["both"]
    )
    if assigned_both != int(np.floor(ratio * assigned + 0.5)) or count["both"] > assigned_both:
        problems.append(
            f"{pack.path}: {assigned_both} of {assigned} subjects were given both images "
            f"({count['both']} remain); pairing ratio {ratio} asks for "
            f"{int(np.floor(ratio * assigned + 0.5))}"
        )
    if ratio == 0.0 and (both_rows or sides):
        problems.append(
            f"{pack.path}: pairing ratio 0, yet {both_rows} capture(s) give both images to "
            f"training and {len(sides)} subject(s) train on both sides"
        )
    lost = assigned - n
    lines = [
        f"unpaired by subject, pairing ratio {ratio:g}, seed {settings.get('seed', 0)}",
        f"subjects: {n} — {count['both']} both, {count['visible']} visible only, "
        f"{count['thermal']} thermal only"
        + (f" ({lost} lost to skipped captures)" if lost else ""),
        f"captures giving both images to training: {both_rows}; subjects on both sides: "
        f"{len(sides)}",
        f"rows training on visible: {int(train_v.sum())}, on thermal: {int(train_t.sum())}; "
        f"pool rows: {int(pool.sum())}",
    ]
    return lines, problems


def _pool_copies(pack: Pack, pool: np.ndarray) -> list[str]:
    """Pool rows whose stored image is byte for byte a capture's (a copied file would train in
    the fold that tests it)."""
    problems = []
    for key in ("visible/image", "thermal/image"):
        group = key.split("/")[0]
        if key not in pack.keys:
            continue
        holds = pack.present(group)
        captures = {pack.hash_of(key, i) for i in np.flatnonzero(holds & ~pool)}
        copies = [i for i in np.flatnonzero(holds & pool) if pack.hash_of(key, i) in captures]
        if copies:
            ids = pack.samples["id"].astype(str).to_numpy()[copies][:5].tolist()
            problems.append(
                f"{pack.path}: {len(copies)} pool image(s) are a capture's {group} image "
                f"(e.g. {ids})"
            )
    return problems
