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
