"""The onnxruntime BlazePose backend against MediaPipe's own, on real photos and a real clip.

The networks are converted from the installed wheel once per test session (conftest's ``blazepose_dir``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor
from posenet_cls.errors import PosenetError
from posenet_cls.io.images import load_image
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.mediapipe_backend import PoseExtractor

PHOTOS_PER_CLASS = 8  # 8 classes: 64 photos, well under a minute on 2 cores


@pytest.fixture(scope="module")
def make(blazepose_dir: Path):
    """A factory of extractors on the ONNX networks of the session's ``blazepose_dir``."""
    return lambda **kw: OnnxPoseExtractor(model_dir=blazepose_dir, **kw)


@pytest.fixture(scope="module")
def photos(yoga8: Path) -> list[np.ndarray]:
    """PHOTOS_PER_CLASS real photos of each yoga8 class, spread over each folder."""
    picked = []
    for folder in sorted(p for p in yoga8.iterdir() if p.is_dir()):
        names = sorted(p for p in folder.iterdir() if p.is_file())
        step = max(1, len(names) // PHOTOS_PER_CLASS)
        picked += names[::step][:PHOTOS_PER_CLASS]
    return [load_image(p) for p in picked]


@pytest.fixture(scope="module")
def mediapipe_photos(photos):
    with PoseExtractor() as mp:
        return [mp.photo(im) for im in photos]


def _diffs(reference, ours):
    pairs = [(a, b) for a, b in zip(reference, ours) if a is not None and b is not None]
    return np.abs(np.stack([a for a, _ in pairs]) - np.stack([b for _, b in pairs]))


def test_static_parity_with_mediapipe(make, photos, mediapipe_photos):
    with make() as ours:
        found = ours.photos(photos)
    reference = [r.keypoints for r in mediapipe_photos]
    keypoints = [r.keypoints for r in found]
    assert sum((a is None) != (b is None) for a, b in zip(reference, keypoints)) <= 1
    assert sum(a.attempt != b.attempt for a, b in zip(mediapipe_photos, found)) <= 1
    d = _diffs(reference, keypoints)
    assert np.median(d[..., :2]) <= 0.001
    assert np.percentile(d[..., :2], 95) <= 0.005
    assert np.percentile(d[..., 3], 95) <= 0.01
    for r in found:
        if r.keypoints is not None:
            assert r.keypoints.dtype == np.float32 and r.keypoints.shape == (33, 4)
            assert r.world.dtype == np.float32 and r.world.shape == (33, 3)


def test_batch_of_one_equals_batch_of_many(make, photos):
    some = photos[::6]
    with make(batch=16) as many, make(batch=1) as one:
        together = many.photos(some)
        alone = [one.photo(im) for im in some]
    for a, b in zip(together, alone):
        assert a.attempt == b.attempt
        if a.keypoints is None:
            assert b.keypoints is None
        else:
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
            np.testing.assert_allclose(a.world, b.world, atol=1e-4)


def test_empty_batch(make):
    with make() as ours:
        assert ours.photos([]) == []


def test_no_person_gives_none(make):
    rng = np.random.default_rng(0)
    blank = np.full((480, 640, 3), 255, np.uint8)
    noise = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    with make() as ours:
        for result in ours.photos([blank, noise]):
            assert result.keypoints is None and result.attempt == "" and result.world is None


def test_very_large_and_very_small_photos(make, photos, mediapipe_photos):
    index = next(i for i, r in enumerate(mediapipe_photos) if r.keypoints is not None and r.attempt == "plain")
    big = cv2.resize(photos[index], (4000, 3000), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(photos[index], (120, 90), interpolation=cv2.INTER_AREA)
    with PoseExtractor() as mp:
        expected = [mp.photo(big), mp.photo(small)]
    with make() as ours:
        found = ours.photos([big, small])
    for a, b in zip(expected, found):
        assert (a.keypoints is None) == (b.keypoints is None)
        if a.keypoints is not None:
            assert np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max() < 0.02
    assert found[0].keypoints is not None


def test_input_checks(make):
    with make() as ours:
        with pytest.raises(PosenetError, match=r"expected an RGB uint8 image of shape \(H, W, 3\)"):
            ours.photo(np.zeros((10, 10), np.uint8))
        with pytest.raises(PosenetError, match="unknown extraction attempt 'twist'"):
            ours.photo(np.zeros((10, 10, 3), np.uint8), attempts=("twist",))
    with pytest.raises(PosenetError, match="batch must be a whole number >= 1"):
        make(batch=0)


def test_device_cuda_without_provider():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(PosenetError, match=r"^--device cuda: onnxruntime has no CUDA provider here \(available: .*CPU"):
        OnnxPoseExtractor(device="cuda")


def test_missing_networks_name_the_converter(tmp_path):
    with pytest.raises(PosenetError, match="posenet-cls convert-blazepose"):
        OnnxPoseExtractor(model_dir=tmp_path, device="cpu")


def test_tracking_parity_with_mediapipe(make, videos: Path):
    with VideoReader(videos / "squat_1rep.mp4") as video:
        frames = [(t, rgb) for _, t, rgb in video]
    with PoseExtractor(tracking=True) as mp, make(tracking=True) as ours:
        reference = [mp.frame(rgb, t) for t, rgb in frames]
        found = [ours.frame(rgb, t) for t, rgb in frames]
    assert sum((a is None) != (b is None) for a, b in zip(reference, found)) == 0
    d = _diffs([r[0] if r else None for r in reference], [r[0] if r else None for r in found])
    assert np.median(d[..., :2]) <= 0.001
    assert np.percentile(d[..., :2], 95) <= 0.005
    assert np.percentile(d[..., 3], 95) <= 0.01
    world = [r[1] for r in found if r is not None]
    assert all(w.shape == (33, 3) and w.dtype == np.float32 for w in world)


def test_tracking_reset_and_scene_cut(make, videos: Path, photos):
    with VideoReader(videos / "squat_1rep.mp4") as video:
        frames = [rgb for _, _, rgb in video][:3]
    other = cv2.resize(photos[0], frames[0].shape[1::-1])
    with make(tracking=True) as ours:
        first = [ours.frame(rgb, i / 30) for i, rgb in enumerate(frames)]
        assert all(f is not None for f in first)
        ours.frame(other, 0.1)  # a scene cut: the track restarts from the detector
        ours.reset()
        again = ours.frame(frames[0], 0.2)
    np.testing.assert_allclose(again[0], first[0][0], atol=1e-5)
