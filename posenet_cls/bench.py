"""Timing helpers for benchmarks: figures for the README come from here, never from tests."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from .dataset import build_dataset, list_photos


def bare_mediapipe_loop(paths: list[Path]) -> tuple[float, int]:
    """Seconds and poses for the plainest MediaPipe loop: cv2.imread, BGR->RGB, Pose.process."""
    import cv2
    import mediapipe as mp

    from .extract import quiet_native_output

    start = time.perf_counter()
    found = 0
    with quiet_native_output():
        pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    for path in paths:
        bgr = cv2.imread(str(path))
        if bgr is None:  # OpenCV cannot read some files (AVIF); the bare loop just skips them
            continue
        found += pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).pose_landmarks is not None
    pose.close()
    return time.perf_counter() - start, found


def our_extraction(data_dir: Path, workers: int) -> tuple[float, int]:
    """Seconds and poses for ``build_dataset`` (decode, retries, journal, table) with N workers."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = build_dataset(data_dir, Path(tmp) / "poses.csv", workers=workers)
        return time.perf_counter() - start, report.poses


def extraction_benchmark(data_dir: Path, limit: int | None = None, workers: tuple[int, ...] = (1, 2)) -> list[dict]:
    """ms per photo of a bare MediaPipe loop and of our extraction with each worker count, same photos."""
    photos = list_photos(data_dir)
    if limit:
        photos = photos[:: max(1, len(photos) // limit)][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp)
        for rel, _ in photos:  # link the chosen photos into a class-folder tree of their own
            (subset / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink((Path(data_dir) / rel).resolve(), subset / rel)
        n = len(photos)
        bare_s, bare_found = bare_mediapipe_loop([subset / rel for rel, _ in photos])
        rows = [{"what": "bare MediaPipe loop", "workers": 1, "photos": n, "poses": bare_found,
                 "ms_per_photo": 1000 * bare_s / n, "vs_bare": 1.0}]
        for w in workers:
            s, found = our_extraction(subset, w)
            rows.append({"what": "posenet-cls extract", "workers": w, "photos": n, "poses": found,
                         "ms_per_photo": 1000 * s / n, "vs_bare": bare_s / s})
    return rows


def machine_description() -> str:
    """One line naming the CPU, core count and Python for benchmark headers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def bare_tracking_loop(video: Path) -> tuple[float, int]:
    """Seconds and frames for the plainest MediaPipe tracking loop: read, BGR->RGB, Pose.process."""
    import cv2
    import mediapipe as mp

    from .extract import quiet_native_output

    start = time.perf_counter()
    with quiet_native_output():
        pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        frames += 1
    cap.release()
    pose.close()
    return time.perf_counter() - start, frames


def our_video_loop(video: Path, model: Path | None = None, annotate: bool = True) -> tuple[float, int]:
    """Seconds and frames for ``predict_video``: decode, track, classify, smooth, draw, encode H.264."""
    from .predict import load_model
    from .video import predict_video

    runtime = load_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = Path(tmp) / "annotated.mp4" if annotate else None
        frames = sum(1 for _ in predict_video(video, runtime, out_video=out))
        return time.perf_counter() - start, frames


def video_benchmark(video: Path, repeats: int = 1) -> list[dict]:
    """Frames per second of a bare MediaPipe tracking loop and of our whole video loop, best of N runs each."""
    rows = []
    for what, fn in (("bare MediaPipe tracking loop", bare_tracking_loop),
                     ("posenet-cls predict VIDEO (annotated H.264)", our_video_loop),
                     ("posenet-cls predict VIDEO --no-annotate", lambda v: our_video_loop(v, annotate=False))):
        best = min((fn(video) for _ in range(repeats)), key=lambda r: r[0])
        rows.append({"what": what, "frames": best[1], "fps": best[1] / best[0]})
    for row in rows:
        row["vs_bare"] = row["fps"] / rows[0]["fps"]
    return rows
