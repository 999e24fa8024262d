"""Extraction on real photos and videos: poses where they should be, retries, decoding, bad input."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from clips import make_video
from PIL import Image

from posenet_cls.errors import PosenetError
from posenet_cls.io.images import decode_image, load_image
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.common import ATTEMPTS
from posenet_cls.pose.extract import extract_photo, extract_video
from posenet_cls.pose.mediapipe_backend import PoseExtractor
from posenet_cls.schema import Landmark as L

FRONTAL = "UtkataKonasana"  # goddess pose: frontal, every joint visible


@pytest.fixture(scope="module")
def extractor():
    with PoseExtractor() as ext:
        yield ext


@pytest.fixture(scope="module")
def frontal_photo(yoga8):
    return sorted((yoga8 / FRONTAL).iterdir())[0]


def _close(a: np.ndarray, b: np.ndarray, tol: float = 0.03) -> bool:
    """Median x/y distance between two poses' confidently visible joints is under tol."""
    seen = (a[:, 3] > 0.8) & (b[:, 3] > 0.8)
    return seen.sum() >= 10 and float(np.median(np.abs(a[seen, :2] - b[seen, :2]))) < tol


def test_downward_dog_hips_above_wrists_and_ankles(yoga8, extractor):
    photos = sorted((yoga8 / "Downward_dog").iterdir())[:8]
    ok = 0
    for path in photos:
        kp = extractor.photo(load_image(path)).keypoints
        assert kp is not None and kp.shape == (33, 4) and kp.dtype == np.float32, path
        hips = kp[[L.LEFT_HIP, L.RIGHT_HIP], 1].mean()  # y grows downwards
        ok += hips < kp[[L.LEFT_WRIST, L.RIGHT_WRIST], 1].mean() and hips < kp[[L.LEFT_ANKLE, L.RIGHT_ANKLE], 1].mean()
    assert ok >= 7


def test_tree_pose_head_above_hips_above_ankles(yoga8, extractor):
    for path in sorted((yoga8 / "Vrukshasana").iterdir())[2:6]:
        kp = extractor.photo(load_image(path)).keypoints
        assert kp[L.NOSE, 1] < kp[L.LEFT_HIP, 1] < max(kp[L.LEFT_ANKLE, 1], kp[L.RIGHT_ANKLE, 1]), path


def test_retry_attempts_map_back_to_the_original_frame(frontal_photo, extractor):
    rgb = load_image(frontal_photo)
    plain = extractor.photo(rgb, ("plain",))
    assert plain.attempt == "plain"
    for attempt in ATTEMPTS[1:]:
        other = extractor.photo(rgb, (attempt,))
        assert other.attempt == attempt and _close(plain.keypoints, other.keypoints), attempt
        # mirrored attempts must also swap left and right back
        assert abs(other.keypoints[L.LEFT_WRIST, 0] - plain.keypoints[L.LEFT_WRIST, 0]) < 0.05, attempt


def test_photos_the_plain_call_misses_are_rescued_or_reported(yoga8, extractor):
    for rel in ("ArdhaChandrasana/v49.jpeg", "Vrukshasana/v1.jpeg"):
        rgb = load_image(yoga8 / rel)
        assert extractor.photo(rgb, ("plain",)).keypoints is None
        found = extractor.photo(rgb)
        assert found.keypoints is not None and found.attempt != "plain", rel
        assert np.all((found.keypoints[:, :2] > -0.5) & (found.keypoints[:, :2] < 1.5))
    missed = extractor.photo(load_image(yoga8 / "ArdhaChandrasana/v8.jpeg"))
    assert missed.keypoints is None and missed.attempt == "" and missed.tried == ATTEMPTS
    # a drawing of a half moon, the body horizontal: found when asked to turn the photo a quarter either way
    turned = extractor.photo(load_image(yoga8 / "ArdhaChandrasana/v8.jpeg"), (*ATTEMPTS, "turned"))
    assert turned.attempt == "turned" and turned.world is not None
    from posenet_cls.infer.photos import load_model

    runtime = load_model()
    assert runtime.decide(runtime.pose_scores(turned.keypoints, turned.world)[0]).label == "ArdhaChandrasana"


def test_turned_attempt_refuses_turns_that_disagree():
    """A stray guess on a hard photo differs between the two turns: the attempt then finds nothing."""
    from posenet_cls.pose.common import photos_with_retries

    rng = np.random.default_rng(0)
    guesses = iter(rng.random((2, 33, 4)).astype(np.float32))
    found = photos_with_retries([np.zeros((90, 120, 3), np.uint8)], lambda images: [(next(guesses), None)] * len(images),
                                ("turned",))
    assert found[0].keypoints is None
    same = rng.random((33, 4)).astype(np.float32)
    agree = photos_with_retries([np.zeros((90, 120, 3), np.uint8)], lambda images: [(same, None)] * len(images), ("turned",))
    assert agree[0].keypoints is None  # the same numbers on both turns are two different poses once turned back


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_decoding_by_content_every_mode_and_size(frontal_photo, extractor, tmp_path):
    original = Image.open(frontal_photo).convert("RGB")
    reference = extractor.photo(np.asarray(original)).keypoints
    grey = np.asarray(original.convert("L"), dtype=np.uint16) * 257
    rgba = original.convert("RGBA")
    big = original.resize((original.width * 8, original.height * 8))
    variants = {
        "avif named .jpg": _encode(original, "AVIF"),
        "webp": _encode(original, "WEBP"),
        "greyscale jpeg": _encode(original.convert("L"), "JPEG"),
        "rgba png": _encode(rgba, "PNG"),
        "16-bit png": _encode(Image.fromarray(grey), "PNG"),
        "large jpeg": _encode(big, "JPEG", quality=90),
        "large png": _encode(big, "PNG", compress_level=1),
    }
    for name, data in variants.items():
        rgb = decode_image(data, name)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and max(rgb.shape) <= 2048, name
        assert _close(reference, extractor.photo(rgb).keypoints), name
    path = tmp_path / "really_avif.jpg"
    path.write_bytes(variants["avif named .jpg"])
    assert cv2.imread(str(path)) is None  # what OpenCV alone would make of it
    assert _close(reference, extractor.photo(load_image(path)).keypoints)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_exif_orientation_is_applied(frontal_photo, extractor, fmt):
    original = Image.open(frontal_photo).convert("RGB")
    reference = extractor.photo(np.asarray(original)).keypoints
    stored = original.transpose(Image.Transpose.ROTATE_90)  # pixels stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with "rotate 90 degrees clockwise to display"
    rgb = decode_image(_encode(stored, fmt, exif=exif.tobytes()), fmt)
    assert rgb.shape[:2] == (original.height, original.width)
    assert _close(reference, extractor.photo(rgb).keypoints)


def test_unreadable_files_are_named(tmp_path, frontal_photo):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(PosenetError, match=r"notes\.jpg: not an image file"):
        load_image(text)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(_encode(Image.open(frontal_photo).convert("RGB"), "PNG")[:2000])
    with pytest.raises(PosenetError, match=r"truncated\.png: unreadable image"):
        load_image(truncated)
    with pytest.raises(PosenetError, match=r"missing\.jpg: cannot read file"):
        load_image(tmp_path / "missing.jpg")
    with PoseExtractor() as ext, pytest.raises(PosenetError, match=r"expected an RGB uint8 image"):
        ext.photo(np.zeros((10, 10), np.uint8))


def test_model_choice_never_downloads(tmp_path, frontal_photo):
    with pytest.raises(PosenetError, match=r"BlazePose lite model not found .*nothing is downloaded"):
        PoseExtractor("lite")
    with pytest.raises(PosenetError, match=r"missing\.task: pose model file not found"):
        PoseExtractor(str(tmp_path / "missing.task"))
    bogus = tmp_path / "bogus.task"
    bogus.write_bytes(b"not a model")
    with pytest.raises(PosenetError, match=r"bogus\.task: not a usable pose landmarker"):
        PoseExtractor(str(bogus))
    with pytest.raises(PosenetError, match=r"medium: unknown pose model"):
        PoseExtractor("medium")
    assert extract_photo(frontal_photo)[0].keypoints.shape == (33, 4)


def test_video_from_real_photos_gives_poses_per_frame(yoga8, tmp_path):
    photos = [sorted((yoga8 / c).iterdir())[3] for c in ("Downward_dog", FRONTAL, "Vrukshasana")]
    video = tmp_path / "poses.mp4"
    make_video(video, photos, frames_each=5)
    frames = list(extract_video(video))
    assert [f.frame for f in frames] == list(range(15))
    assert frames[5].timestamp_s == pytest.approx(0.5)
    assert sum(f.keypoints is not None for f in frames) >= 13
    dog, goddess = frames[4].keypoints, frames[9].keypoints  # last frame of each hold: tracking has settled
    assert dog[L.LEFT_HIP, 1] < dog[L.LEFT_ANKLE, 1] and goddess[L.NOSE, 1] < goddess[L.LEFT_HIP, 1]


def test_real_squat_clip_is_tracked(videos):
    frames = list(extract_video(videos / "squat_1rep.mp4"))
    assert len(frames) == 75 and sum(f.keypoints is not None for f in frames) >= 72
    assert frames[-1].timestamp_s == pytest.approx(74 / 30, abs=0.01)


def test_bad_videos_and_webcams(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    for path in (empty, garbage):
        with pytest.raises(PosenetError, match=rf"{path.name}: (cannot open as a video|no frames could be read)"):
            list(extract_video(path))
    with pytest.raises(PosenetError, match=r"nope\.mp4: no such video file"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(PosenetError, match=r"webcam 97: no camera with that index"):
        VideoReader(97)


def test_video_reader_reads_ahead_in_order_and_stops_its_thread_early(videos):
    import threading

    from posenet_cls.io.video import READ_AHEAD, VideoReader

    clip = videos / "squat_1rep.mp4"
    with VideoReader(clip) as video:
        seen = [(i, t) for i, t, _ in video]
    assert [i for i, _ in seen] == list(range(75)) and seen[1][1] > seen[0][1]
    with VideoReader(clip) as video:
        for i, _, rgb in video:
            if i == READ_AHEAD + 2:
                break  # the consumer stops: the reading thread must not stay blocked on a full queue
    assert not [t for t in threading.enumerate() if t.name == "video-read"]


def test_an_unknown_photo_attempt_is_refused_before_anything_is_built():
    from posenet_cls.pose.extract import PoseOptions, make_extractor

    with pytest.raises(PosenetError, match="unknown extraction attempt 'sideways'; choose from plain, pad"):
        make_extractor(PoseOptions(attempts=("plain", "sideways")))
