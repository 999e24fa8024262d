"""Measuring: latency and throughput of a call, best of several runs, rows with their ratio to a reference."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


def latency(fn: Callable, poses: np.ndarray, calls: int, seconds: float) -> tuple[float, float, int]:
    """Median and p99 microseconds of ``fn(pose)``, and the calls timed, cycling through ``poses`` (N, 33, 4).

    A warm-up of a tenth of the calls (or of the time budget) comes first; then up to ``calls`` calls
    are timed one by one, stopping early once ``seconds`` have passed and at least 100 calls ran.
    """
    clock = time.perf_counter_ns
    budget = int(seconds * 1e9)
    start, i = clock(), 0
    while i < 3 or (i < calls // 10 and clock() - start < budget // 10):
        fn(poses[i % len(poses)])
        i += 1
    times: list[int] = []
    floor = min(calls, 100)
    start = clock()
    while len(times) < calls and (len(times) < floor or clock() - start < budget):
        pose = poses[len(times) % len(poses)]
        t0 = clock()
        fn(pose)
        times.append(clock() - t0)
    arr = np.asarray(times, dtype=np.float64)
    return float(np.median(arr) / 1000), float(np.percentile(arr, 99) / 1000), len(arr)


def throughput(fn: Callable, batch: np.ndarray, seconds: float) -> float:
    """Poses per second of ``fn(batch)``: the median of calls repeated for ``seconds`` (at least 3, after a warm-up)."""
    fn(batch)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t0 = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - t0)
    return len(batch) / float(np.median(times))


def best_of(repeats: int, fn: Callable[[], tuple[float, int, int]]) -> tuple[float, int, int]:
    """The fastest of ``repeats`` runs of ``fn`` -> (seconds, items, found)."""
    return min((fn() for _ in range(repeats)), key=lambda r: r[0])


def video_frames(video: Path, max_frames: int | None) -> Iterable[tuple[bool, np.ndarray]]:
    """(ok, BGR frame) pairs straight from OpenCV, at most ``max_frames``."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        for _ in range(max_frames) if max_frames else itertools.count():
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr
    finally:
        cap.release()


def consume(results: Iterable, max_items: int | None, has_pose: Callable) -> tuple[int, int]:
    """Items and items with a pose of an iterator, stopping after ``max_items``; closes a generator."""
    n = found = 0
    try:
        for r in itertools.islice(results, max_items):
            n += 1
            found += bool(has_pose(r))
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return n, found


def spread(photos: list[tuple[str, str]], limit: int | None) -> list[tuple[str, str]]:
    """At most ``limit`` of the (path, label) pairs, taken evenly along the sorted list (so from every class)."""
    if not limit or limit >= len(photos):
        return photos
    return [photos[int(i * len(photos) / limit)] for i in range(limit)]


def link_photos(data_dir: Path, photos: list[tuple[str, str]], dest: Path) -> Path:
    """A class-folder tree at ``dest`` of symlinks to the chosen photos; returns ``dest``."""
    for rel, _ in photos:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink((Path(data_dir) / rel).resolve(), dest / rel)
    return dest


def timed_row(section: str, stage: str, what: str, workers: int, result: tuple[float, int, int], unit: str) -> dict:
    seconds, items, found = result
    return {"section": section, "stage": stage, "what": what, "workers": workers, "items": items, "poses": found,
            "unit": unit, "seconds": seconds, "ms_per_item": 1000 * seconds / max(items, 1),
            "per_s": items / seconds}


def with_ratios(rows: list[dict], key: str) -> list[dict]:
    """Set each row's ``vs`` to its ``key`` figure over the stage's first row (the bare loop)."""
    ref: dict[str, float] = {}
    for row in rows:
        ref.setdefault(row["stage"], row[key])
        row["vs"] = row[key] / ref[row["stage"]]
    return rows


def skipped_notes(photo_root: Path | None, video: Path | None, section: str) -> list[str]:
    notes = []
    if photo_root is None:
        notes.append("photo rows skipped: --data is a keypoint table, not photos")
    if video is None:
        notes.append("video rows skipped: no video")
    return notes
