"""Batched extraction on the onnxruntime BlazePose against the MediaPipe path, file for file, on real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cls.pose.onnx_batch import decode_files, extract_files, time_decoding
from posenet_cls.data.dataset import list_photos
from posenet_cls.pose.outcomes import FileResult
from posenet_cls.pose.workers import run_extraction
from posenet_cls.errors import PosenetError

EVERY = 12  # every 12th yoga8 photo: 41 photos of all 8 classes
RETRIED = ("ArdhaChandrasana/v49.jpeg", "Vrukshasana/v1.jpeg", "ArdhaChandrasana/v8.jpeg")  # pad, pad, no pose


@pytest.fixture(scope="module")
def tasks(yoga8: Path, tmp_path_factory) -> list[tuple[str, str, str]]:
    """41 real photos, three that need retries, a damaged file, a missing one and an image of nobody."""
    photos = list_photos(yoga8)
    picked = [(str(yoga8), rel, label) for rel, label in photos[::EVERY]]
    picked += [(str(yoga8), rel, rel.split("/")[0]) for rel in RETRIED]
    extra = tmp_path_factory.mktemp("extra")
    (extra / "odd").mkdir()
    (extra / "odd" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    cv2.imwrite(str(extra / "odd" / "nobody.png"), cv2.GaussianBlur(noise, (9, 9), 3))
    picked += [(str(extra), f"odd/{name}", "odd") for name in ("broken.jpg", "missing.jpg", "nobody.png")]
    return picked


@pytest.fixture(scope="module")
def mediapipe(tasks) -> dict[str, FileResult]:
    return {r.source: r for r in run_extraction(tasks)}


@pytest.fixture(scope="module")
def batched(tasks, blazepose_dir) -> dict[str, FileResult]:
    return {r.source: r for r in extract_files(tasks, batch=7, model_dir=blazepose_dir)}


def _outcome(r: FileResult) -> tuple[str, ...]:
    return r.label, r.sha1, r.status, r.attempt, r.reason


def test_same_results_as_the_mediapipe_path(tasks, mediapipe, batched):
    assert sorted(batched) == sorted(mediapipe) == sorted(rel for _, rel, _ in tasks)
    for source, ref in mediapipe.items():
        ours = batched[source]
        assert _outcome(ours) == _outcome(ref), source
        if ref.keypoints is None:
            assert ours.keypoints is None
            continue
        assert isinstance(ours.keypoints, list) and len(ours.keypoints) == 33 * 4
        diff = np.abs(np.reshape(ours.keypoints, (33, 4)) - np.reshape(ref.keypoints, (33, 4)))[:, :2].max()
        assert diff <= 0.005, f"{source}: max abs x, y difference {diff:.4f}"
    statuses = [r.status for r in batched.values()]
    assert statuses.count("unreadable") == 2 and statuses.count("no_pose") == 2
    assert {batched[rel].attempt for rel in RETRIED[:2]} == {"pad"}
    assert batched["odd/missing.jpg"].reason.startswith("cannot read file (")


def test_batch_of_one_equals_batch_of_seven(tasks, batched, blazepose_dir):
    some = [t for i, t in enumerate(tasks) if i % 3 == 0 or i >= len(tasks) - 6]  # the odd files too
    alone = {r.source: r for r in extract_files(some, batch=1, workers=1, threads=1, model_dir=blazepose_dir)}
    assert len(alone) == len(some)
    for source, one in alone.items():
        seven = batched[source]
        assert _outcome(one) == _outcome(seven), source
        if one.keypoints is not None:
            np.testing.assert_allclose(one.keypoints, seven.keypoints, atol=1e-4)


def test_empty_task_list_yields_nothing(blazepose_dir):
    assert list(extract_files([], model_dir=blazepose_dir)) == []
    assert time_decoding([])[1:] == (0, 0)


def test_stopping_early_releases_the_workers(tasks, blazepose_dir):
    results = extract_files(tasks, batch=2, model_dir=blazepose_dir)
    first = next(results)
    results.close()  # pending decodes are cancelled, running batches finish, nothing hangs
    assert first.source in {rel for _, rel, _ in tasks}


def test_decoding_in_processes_equals_threads_and_keeps_task_order(tasks):
    some = tasks[:4] + tasks[-3:]
    threads = list(decode_files(some, workers=2, ahead=2, pool="thread"))
    processes = list(decode_files(some, workers=2, ahead=2, pool="process"))
    assert [r.source for r, _ in threads] == [r.source for r, _ in processes] == [rel for _, rel, _ in some]
    for (a, rgb_a), (b, rgb_b) in zip(threads, processes):
        assert a == b
        assert (rgb_a is None and rgb_b is None) or np.array_equal(rgb_a, rgb_b)
    seconds, files, decoded = time_decoding(some, workers=1)
    assert seconds > 0 and (files, decoded) == (7, 5)


def test_bad_settings_name_the_problem(tasks, tmp_path):
    with pytest.raises(PosenetError, match="batch must be a whole number >= 1, got 0"):
        list(extract_files(tasks, batch=0))
    with pytest.raises(PosenetError, match="posenet-cls convert-blazepose"):
        list(extract_files(tasks, model_dir=tmp_path))
    with pytest.raises(PosenetError, match="unknown decode pool 'fibers'"):
        list(decode_files(tasks, pool="fibers"))
