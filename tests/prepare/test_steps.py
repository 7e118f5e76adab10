"""The prepare-step registry, step settings and what the pipeline records of them."""

from __future__ import annotations

import dataclasses
import shutil

import cv2
import numpy as np
import pytest

from emobench.datasets.registry import dataset_names, get_adapter
from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError, InputError
from emobench.pack import Pack
from emobench.prepare.apex import ApexSettings
from emobench.prepare.faces import FacesSettings
from emobench.prepare.frames import FramesSettings, sample_frame_folder
from emobench.prepare.pipeline import (
    adapter_options,
    default_frames,
    open_adapter,
    prepare_dataset,
    step_settings,
)
from emobench.prepare.step import STEPS, option_fields, ordered_steps


@pytest.mark.parametrize("name", STEPS.names())
def test_every_step_declares_settings_arrays_and_media(name) -> None:
    step = STEPS.get(name)
    assert step.name == name
    settings = step.settings()  # the defaults are valid settings
    assert dataclasses.is_dataclass(settings)
    assert isinstance(settings.as_dict(), dict)
    for f in option_fields(step.settings):
        assert f.metadata["help"].strip(), f"{name}.{f.name} has no help text"
    keys = [spec.key for spec in step.arrays]
    assert len(keys) == len(set(keys))
    for spec in step.arrays:
        group, _, array = spec.key.partition("/")
        assert group and array and "/" not in array
        described_by = STEPS.get(spec.settings_of).settings() if spec.settings_of else settings
        assert spec.settings_of is None or spec.settings_of in step.uses
        assert isinstance(spec.attrs(described_by), dict)
    if step.arrays:  # a step that writes arrays reads media, and names them when it fails
        assert step.media


def test_steps_run_in_their_declared_order_and_frames_and_apex_exclude_each_other() -> None:
    order = [s.name for s in ordered_steps()]
    assert order.index("frames") < order.index("apex") < order.index("eyes")
    coded = Sample(
        "c", "s", "x", {"face_frames_dir": "c"}, {}, {"onset": 1, "apex": 2, "offset": 3}
    )
    plain = Sample("p", "s", "x", {"face_video": "p.mp4", "eye_table": "p.tsv"}, {}, {})
    assert [s.name for s in ordered_steps() if s.applies(coded)] == ["apex"]
    assert [s.name for s in ordered_steps() if s.applies(plain)] == ["frames", "eyes"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FramesSettings(frames=0), "--frames must be at least 1, got 0"),
        (lambda: FramesSettings(size=0), "--size must be at least 8, got 0"),
        (lambda: FramesSettings(stride=-1), "--stride must be at least 0, got -1"),
        (lambda: FramesSettings(frames=2.5), "--frames must be an integer, got 2.5"),
        (lambda: ApexSettings(strategy="guess"), "--apex must be one of annotated, motion"),
        (lambda: FacesSettings(margin=1.5), "--face-margin must be at most 1.0, got 1.5"),
    ],
)
def test_out_of_range_settings_name_the_option(make, message) -> None:
    with pytest.raises(EmobenchError, match=message):
        make()


def test_options_are_checked_before_any_work(tmp_path) -> None:
    missing = tmp_path / "no-such-raw"  # nothing is read before the options are checked
    cases = [
        ({"options": {"size": 0}}, "--size must be at least 8"),
        ({"options": {"frames": 0}}, "--frames must be at least 1"),
        ({"options": {"apex": "guess"}}, "--apex must be one of"),
        ({"options": {"franes": 8}}, r"unknown prepare option\(s\) \['franes'\]"),
        ({"compression": "zstd"}, "--compression must be lzf or gzip"),
        ({"settings": {"colour": None}}, r"unknown prepare step\(s\) \['colour'\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(EmobenchError, match=message):
            prepare_dataset("emer", missing, tmp_path / "p.h5", **kwargs)


def test_dataset_defaults_then_options() -> None:
    assert step_settings("dfew")["frames"].frames == default_frames("dfew") == 16
    assert step_settings("emer")["frames"].frames == default_frames("emer") == 8
    both = step_settings("mafw", options={"frames": 32, "stride": 2, "size": None})
    assert both["frames"] == FramesSettings(frames=32, size=112, stride=2)
    assert both["apex"].frames == 32  # one --frames sets every step that reads it
    given = step_settings("dfew", settings={"frames": FramesSettings(frames=4)})
    assert given["frames"].frames == 4  # an explicit settings object wins over the dataset's


def test_the_pack_records_each_step_that_ran_with_its_settings(emer_pack, masked_pack) -> None:
    emer = Pack(emer_pack)
    assert set(emer.steps) == {"frames", "eyes"}
    assert emer.steps["frames"] == {"frames": 8, "size": 112, "stride": 0, "decode": "full"}
    assert emer.steps["eyes"]["rate_hz"] == 60.0 and emer.steps["eyes"]["windows"] == 32
    assert bool(emer.attrs["miniature"])
    assert emer.array_attrs("eye/windows")["windows"] == 32
    masked = Pack(masked_pack)
    assert set(masked.steps) == {"apex", "faces"}  # apex ran and used faces; frames did not
    assert masked.steps["apex"] == {"strategy": "annotated", "frames": 8, "size": 112}
    assert masked.steps["faces"] == FacesSettings().as_dict()
    assert "face/frames" not in masked.keys
    assert masked.attrs["variant"] == "frames=8,size=112,apex=annotated"


def test_a_reduced_decode_is_recorded_and_changes_only_frames_large_enough(
    dfew_raw, tmp_path
) -> None:
    """The miniature's frames are 112 px: at --size 16 a half-scale decode keeps 56 >= 32 px
    and is used; at --size 112 no reduced decode keeps 224 px, so the frames are decoded
    whole and equal a full decode's."""
    packs = {}
    for decode, size in (("full", 16), ("reduced", 16), ("full", 112), ("reduced", 112)):
        out = tmp_path / f"{decode}-{size}.h5"
        options = {"decode": decode, "size": size, "frames": 4}
        prepare_dataset("dfew", dfew_raw, out, options=options)
        packs[decode, size] = Pack(out)
    reduced = packs["reduced", 16]
    assert reduced.steps["frames"]["decode"] == "reduced"
    assert reduced.attrs["variant"] == "frames=4,size=16,decode=reduced"
    assert packs["full", 16].attrs["variant"] == "frames=4,size=16"
    small = [packs[d, 16].get("face/frames", 0) for d in ("full", "reduced")]
    assert not np.array_equal(*small) and cv2.PSNR(*small) > 30
    large = [packs[d, 112].get("face/frames", 0) for d in ("full", "reduced")]
    assert np.array_equal(*large)


def test_report_lists_options_no_step_that_ran_reads(emer_raw, tmp_path) -> None:
    report = prepare_dataset("emer", emer_raw, tmp_path / "p.h5", options={"apex": "motion"})
    assert report.unused_options == ["apex"]
    assert set(report.steps) == {"frames", "eyes"}


def test_frame_folders_follow_the_one_frame_number_rule(tmp_path) -> None:
    """The frames step lists a folder as the adapters do: hidden files are not frames, and
    two files with one number are refused (before, both were sampled in listing order)."""
    for i in (1, 2, 3):
        cv2.imwrite(str(tmp_path / f"img{i}.jpg"), np.full((12, 12, 3), i * 60, np.uint8))
    (tmp_path / "._img2.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata
    clip = sample_frame_folder(tmp_path, t=3, size=8)
    assert [round(f.mean() / 60) for f in clip.frames] == [1, 2, 3]
    shutil.copy(tmp_path / "img2.jpg", tmp_path / "img02.jpg")
    with pytest.raises(InputError, match="several frame files carry the same number: \\[2\\]"):
        sample_frame_folder(tmp_path, t=3, size=8)


# ---- adapter options (--columns, --layout) ----------------------------------------------

ADAPTER_OPTION_VALUES = {"columns": {"subject": "Subject"}, "layout": None}


@pytest.mark.parametrize("dataset", dataset_names())
@pytest.mark.parametrize("option", sorted(ADAPTER_OPTION_VALUES))
def test_every_adapter_takes_or_refuses_each_option(dataset, option, tmp_path) -> None:
    adapter_cls = get_adapter(dataset)
    value = ADAPTER_OPTION_VALUES[option] or next(iter(getattr(adapter_cls, "layouts", ["x"])))
    if option in adapter_options(adapter_cls):
        adapter = open_adapter(dataset, tmp_path, **{option: value})
        assert isinstance(adapter, adapter_cls)
    else:
        with pytest.raises(EmobenchError, match=f"dataset '{dataset}' does not accept --{option}"):
            open_adapter(dataset, tmp_path, **{option: value})
    open_adapter(dataset, tmp_path, **{option: None})  # not given: always fine


def test_prepare_emer_with_columns_is_refused_with_a_message(emer_raw, tmp_path) -> None:
    """Part 9: ``prepare emer --columns`` was a bare TypeError from the adapter."""
    from typer.testing import CliRunner

    from emobench.cli import app

    out = tmp_path / "p.h5"
    args = ["prepare", "emer", "--src", str(emer_raw), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--columns", "true_emotion=Context"])
    assert result.exit_code == 2, result.output
    assert "does not accept --columns" in result.output and "Traceback" not in result.output
    assert not out.exists()
