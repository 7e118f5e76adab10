import cv2
import numpy as np
import pytest

from emobench.errors import InputError
from emobench.prepare import frames, video
from emobench.prepare.frames import (
    SampledClip,
    sample_frame_folder,
    sample_indices,
    sample_video,
    strided_indices,
    uniform_indices,
)
from emobench.prepare.video import ClipFrames, file_bytes, read_image, resize_square, to_square_rgb


def _write_video(path, n_frames, size=64):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (size, size))
    for i in range(n_frames):
        frame = np.zeros((size, size, 3), np.uint8)
        frame[:, :, 2] = i * 10  # red channel encodes the frame index
        writer.write(frame)
    writer.release()


def test_uniform_indices_take_segment_centres():
    assert uniform_indices(80, 8).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert uniform_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # short clips repeat frames
    with pytest.raises(ValueError):
        uniform_indices(0, 8)


def test_sample_video_keeps_the_right_frames(tmp_path):
    _write_video(tmp_path / "clip.mp4", 24)
    clip = sample_video(tmp_path / "clip.mp4", t=4, size=32)
    assert clip.frames.shape == (4, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert clip.indices == (3, 9, 15, 21) and not clip.padded
    red = clip.frames[:, 16, 16, 0].astype(int)  # RGB order after decoding
    assert np.allclose(red, [30, 90, 150, 210], atol=12)


def test_short_clip_is_padded(tmp_path):
    _write_video(tmp_path / "short.mp4", 3)
    clip = sample_video(tmp_path / "short.mp4", t=8, size=16)
    assert clip.padded and clip.source_frames == 3 and len(clip.frames) == 8


def test_undecodable_video_is_named(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError, match="bad.mp4"):
        sample_video(bad)
    with pytest.raises(InputError, match="video file not found"):
        sample_video(tmp_path / "missing.mp4")


def test_frame_folder_sorts_numerically_and_reports_bad_files(tmp_path):
    for i in (1, 2, 10):
        image = np.full((20, 20, 3), i * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"img{i}.jpg"), image)
    clip = sample_frame_folder(tmp_path, t=3, size=8)
    assert [int(f.mean()) for f in clip.frames] == pytest.approx([20, 40, 200], abs=3)
    (tmp_path / "img11.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="img11.jpg: image does not decode"):
        sample_frame_folder(tmp_path, t=4, size=8)
    (tmp_path / "cover.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="without a number in their name: cover.jpg"):
        sample_frame_folder(tmp_path, t=4, size=8)


def test_strided_indices_take_a_centred_window():
    # MAFW's 32 frames at stride 2: a window of 64 frames centred on the clip, every 2nd frame
    assert strided_indices(100, 32, 2).tolist() == list(range(18, 82, 2))
    assert strided_indices(64, 32, 2).tolist() == list(range(0, 64, 2))
    assert strided_indices(65, 32, 2).tolist() == list(range(0, 64, 2))
    # shorter clips are stretched to the window by repeating frames, then strided
    assert strided_indices(10, 8, 2).tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert strided_indices(4, 8, 2).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    short = strided_indices(40, 32, 2)
    assert short[0] == 0 and short[-1] == 38 and np.all(np.diff(short) >= 1)
    assert sample_indices(80, 8).tolist() == uniform_indices(80, 8).tolist()
    assert sample_indices(80, 8, 3).tolist() == strided_indices(80, 8, 3).tolist()
    with pytest.raises(ValueError):
        strided_indices(0, 8, 2)
    with pytest.raises(ValueError):
        strided_indices(10, 8, 0)


def test_padding_follows_the_sampling():
    frames = np.zeros((4, 2, 2, 3), np.uint8)
    assert not SampledClip(frames, 20, (2, 7, 12, 17)).padded
    assert SampledClip(frames, 3, (0, 1, 1, 2)).padded
    # stride 2 wants a window of 8 frames: a 6-frame clip is stretched, so padded
    assert SampledClip(frames, 6, (0, 1, 3, 4), window=8).padded
    assert not SampledClip(frames, 8, (0, 2, 4, 6), window=8).padded


def test_frame_folder_and_video_at_a_stride(tmp_path):
    for i in range(1, 21):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((12, 12, 3), i * 10, np.uint8))
    clip = sample_frame_folder(tmp_path, t=4, size=8, stride=3)
    assert clip.indices == (4, 7, 10, 13) and not clip.padded and clip.window == 12
    assert [int(f.mean()) for f in clip.frames] == pytest.approx([50, 80, 110, 140], abs=3)
    stretched = sample_frame_folder(tmp_path, t=8, size=8, stride=4)
    assert stretched.padded and len(stretched.frames) == 8
    _write_video(tmp_path / "clip.mp4", 24)
    video = sample_video(tmp_path / "clip.mp4", t=4, size=16, stride=2)
    assert video.indices == (8, 10, 12, 14) and not video.padded


def _textured(height, width, seed=0):
    """A smooth colour image with detail at every scale, so that decodes and resamplings
    that differ show it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (width, height)), (5, 5), 0)


def test_an_rgb_clip_decodes_the_bgr_pixels_with_channels_swapped(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.jpg")
        cv2.imwrite(str(paths[-1]), _textured(48, 64, seed=i))
    bgr = ClipFrames(paths).read([0, 2])
    rgb_clip = ClipFrames(paths, rgb=True)
    rgb = rgb_clip.read([0, 2])
    assert rgb_clip.order == "RGB"
    for pos in (0, 2):
        assert np.array_equal(rgb[pos], bgr[pos][:, :, ::-1])
    _write_video(tmp_path / "clip.mp4", 4)
    with ClipFrames(tmp_path / "clip.mp4", rgb=True) as video:  # a capture gives BGR
        assert video.order == "BGR"
        assert video.read([1])[1][:, :, 2].mean() > 5  # red is channel 2: still BGR


def test_a_frame_already_at_its_size_is_copied_as_cv2_resize_would(tmp_path):
    frame = _textured(32, 32)
    square = resize_square(frame, 32)
    assert square is not frame and np.array_equal(
        square, cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)
    )
    rgb = to_square_rgb(frame, 32)  # BGR in: channels swapped; RGB in: kept
    assert np.array_equal(rgb, frame[:, :, ::-1])
    assert np.array_equal(to_square_rgb(frame, 32, "RGB"), frame)


def test_without_a_copy_a_frame_at_its_size_is_itself_and_a_sampled_clip_owns_its_frames(
    tmp_path,
):
    frame = _textured(32, 32)
    assert resize_square(frame, 32, copy=False) is frame
    assert to_square_rgb(frame, 32, "RGB", copy=False) is frame
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for i, path in enumerate(paths):
        cv2.imwrite(path, _textured(32, 32, seed=i))
    with ClipFrames(paths, rgb=True) as clip:  # frames at size: sampled without a resize
        sampled = frames._sampled(clip, t=1, size=32, stride=0)
        kept = list(clip._decoded.values())  # what the clip keeps for a second reader
    assert kept and not any(np.shares_memory(sampled.frames, frame) for frame in kept)


def test_file_bytes_reads_a_file_to_its_end_however_the_reads_come(tmp_path, monkeypatch):
    data = bytes(range(256)) * 5
    (tmp_path / "f.jpg").write_bytes(data)
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert file_bytes(str(tmp_path / "f.jpg")) == data
    assert file_bytes(str(tmp_path / "empty.jpg")) == b""
    with pytest.raises(FileNotFoundError):
        file_bytes(str(tmp_path / "none.jpg"))
    read = video.os.read
    monkeypatch.setattr(video.os, "read", lambda fd, n: read(fd, min(n, 7)))  # short reads
    assert file_bytes(str(tmp_path / "f.jpg")) == data


def test_frames_given_as_strings_read_and_name_their_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "1.jpg"), _textured(16, 16))
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8not a jpeg")
    clip = ClipFrames([str(tmp_path / "1.jpg"), str(tmp_path / "2.jpg")])
    assert clip.name == tmp_path and clip.read([0])[0].shape == (16, 16, 3)
    with pytest.raises(InputError, match="2.jpg: image does not decode"):
        clip.read([1])
    with pytest.raises(InputError, match="none.jpg: image cannot be read"):
        read_image(str(tmp_path / "none.jpg"))


def test_a_reduced_decode_keeps_twice_the_size_and_stays_close_to_a_full_one(tmp_path):
    for i in range(1, 5):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), _textured(240, 320, seed=i))
    full = sample_frame_folder(tmp_path, t=4, size=32)
    clip = ClipFrames(sorted(tmp_path.glob("*.jpg")), min_side=2 * 32)
    clip.read([0])
    assert clip.reduction == 2  # 240 // 4 = 60 < 64: a quarter would keep too little
    reduced = sample_frame_folder(tmp_path, t=4, size=32, min_side=64)
    assert reduced.frames.shape == full.frames.shape
    assert not np.array_equal(reduced.frames, full.frames)  # a different decode ...
    pairs = zip(reduced.frames, full.frames, strict=True)
    assert min(cv2.PSNR(a, b) for a, b in pairs) > 40  # ... but close
