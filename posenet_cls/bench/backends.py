"""Pose backend rows: MediaPipe next to the onnxruntime BlazePose (photos batched 1..256, video tracking)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from posenet_cls.bench.config import PEOPLE_TARGET, BenchConfig, Progress, TARGETS
from posenet_cls.bench.timing import best_of, consume, skipped_notes, timed_row, with_ratios
from posenet_cls.data.dataset import list_photos
from posenet_cls.pose.outcomes import Status
from posenet_cls.errors import PosenetError


def photo_tasks(photo_root: Path) -> list[tuple[str, str, str]]:
    """The (root, relative path, label) extraction tasks of a class-folder tree."""
    return [(str(photo_root), rel, label) for rel, label in list_photos(photo_root)]


def kept(results: Iterable, keep: list | None) -> Iterator:
    """The results, each also appended to ``keep`` (emptied first) when given."""
    if keep is not None:
        keep.clear()
    for r in results:
        if keep is not None:
            keep.append(r)
        yield r


def mediapipe_photos(tasks: list[tuple[str, str, str]], workers: int, keep: list | None = None) -> tuple[float, int, int]:
    """Seconds, files and poses for the MediaPipe path of ``posenet-cls extract DIR`` without the table (N processes)."""
    from posenet_cls.pose.workers import run_extraction

    start = time.perf_counter()
    files, found = consume(kept(run_extraction(tasks, workers=workers), keep), None, lambda r: r.status == Status.POSE)
    return time.perf_counter() - start, files, found


def onnx_photos(tasks: list[tuple[str, str, str]], batch: int, workers: int, threads: int,
                model_dir: Path | None, keep: list | None = None) -> tuple[float, int, int]:
    """Seconds, files and poses for the onnxruntime BlazePose: decode workers, ``threads`` batches of ``batch``."""
    from posenet_cls.pose.onnx_batch import extract_files

    start = time.perf_counter()
    results = extract_files(tasks, batch=batch, workers=workers, threads=threads, model_dir=model_dir)
    files, found = consume(kept(results, keep), None, lambda r: r.status == Status.POSE)
    return time.perf_counter() - start, files, found


def pose_parity(reference: list, other: list) -> dict:
    """How closely ``other``'s extraction results match ``reference``'s (FileResults of the same photos).

    Photos with a pose in each, how many differ in having one, and over photos with a pose in both
    the absolute x, y difference (median, 95th percentile) and visibility difference (95th percentile).
    """
    ref = {r.source: r for r in reference}
    oth = {r.source: r for r in other}
    posed = {s for s, r in ref.items() if r.status == Status.POSE}
    posed_other = {s for s, r in oth.items() if r.status == Status.POSE}
    both = sorted(posed & posed_other)
    a = np.asarray([ref[s].keypoints for s in both], np.float32).reshape(-1, 33, 4)
    b = np.asarray([oth[s].keypoints for s in both], np.float32).reshape(-1, 33, 4)
    xy, vis = np.abs(a[..., :2] - b[..., :2]).ravel(), np.abs(a[..., 3] - b[..., 3]).ravel()
    return {"photos": len(ref), "pose_reference": len(posed), "pose_other": len(posed_other),
            "differ": len(posed ^ posed_other),
            "xy_median": float(np.median(xy)) if len(xy) else 0.0,
            "xy_p95": float(np.percentile(xy, 95)) if len(xy) else 0.0,
            "visibility_p95": float(np.percentile(vis, 95)) if len(vis) else 0.0}


def decoding(tasks: list[tuple[str, str, str]], workers: int) -> tuple[float, int, int]:
    """Seconds, files and decoded photos for reading, hashing and decoding alone, by the onnx backend's workers."""
    from posenet_cls.pose.onnx_batch import time_decoding

    return time_decoding(tasks, workers)


def tracking_loop(video: Path, backend: str, max_frames: int | None, model_dir: Path | None) -> tuple[float, int, int]:
    """Seconds, frames and poses of one video in tracking mode: ``VideoReader`` -> ``frame()`` of either backend."""
    from posenet_cls.io.video import VideoReader
    from posenet_cls.pose.extract import PoseOptions, make_extractor

    start = time.perf_counter()
    extractor = make_extractor(PoseOptions(backend, tracking=True, model_dir=None if model_dir is None else str(model_dir)))
    frames = found = 0
    with VideoReader(video) as reader, extractor:
        for _, t, rgb in itertools.islice(reader, max_frames):
            found += extractor.frame(rgb, t) is not None
            frames += 1
    return time.perf_counter() - start, frames, found


def people_loop(video: Path, max_people: int, two: bool, max_frames: int | None,
                model_dir: Path | None) -> tuple[float, int, int]:
    """Seconds, frames and people found of a video placed beside a black frame (one person) or beside its
    mirror image (two people), tracked with ``--max-people``'s tracker (or the one-person tracker for 1)."""
    from posenet_cls.io.video import VideoReader
    from posenet_cls.pose.extract import PoseOptions, make_extractor
    from posenet_cls.pose.people import make_tracker

    with VideoReader(video) as reader:
        frames = [np.ascontiguousarray(np.hstack([rgb, rgb[:, ::-1] if two else np.zeros_like(rgb)]))
                  for _, _, rgb in itertools.islice(reader, max_frames)]
    extractor = make_extractor(PoseOptions("onnx", tracking=True, model_dir=None if model_dir is None else str(model_dir)))
    found = 0
    with extractor:
        track = make_tracker(extractor, max_people).frame
        start = time.perf_counter()
        for i, rgb in enumerate(frames):
            found += len(track(rgb, i / 30.0))
    return time.perf_counter() - start, len(frames), found


def onnx_networks(model_dir: Path | None = None) -> tuple[Path | None, str | None]:
    """(the folder of the converted BlazePose networks, None) or (None, why the onnx rows are skipped)."""
    from posenet_cls.pose.blazepose.files import require_networks

    try:
        paths = require_networks(model_dir)
    except PosenetError as e:
        return None, f"onnx backend rows skipped: {e}"
    return paths["detector"].parent, None


def backend_rows(photo_root: Path | None, video: Path | None, config: BenchConfig,
                 progress: Progress | None = None) -> tuple[list[dict], list[str]]:
    """Photos/s and tracking frames/s of MediaPipe (the reference) and the onnxruntime BlazePose; rows and notes.

    Photos: MediaPipe with ``config.workers`` processes, read + decode alone, then the onnx backend
    at each of ``config.pose_batches``, with ``config.workers`` decode threads and network threads
    (one on CUDA). Video: the same tracking loop over either backend. Without the converted
    networks there are no rows, and a note says how to make them.
    """
    from posenet_cls.pose.onnx_batch import network_threads
    from posenet_cls.pose.blazepose.pipeline import providers_for

    note = progress or (lambda _: None)
    model_dir, missing = onnx_networks()
    if missing:
        return [], [missing]
    providers = providers_for("auto")
    device = "cuda" if providers[0] == "CUDAExecutionProvider" else "cpu"
    threads = config.workers if device == "cpu" else network_threads(device)
    w = config.workers
    onnx = {"backend": "onnx", "device": device, "provider": providers[0], "threads": threads}
    rows = []

    def add(stage, what, result, unit, **extra):
        rows.append({**timed_row("backends", stage, what, w, result, unit), **extra})

    if photo_root is not None:
        stage = "photos, static mode"
        tasks = photo_tasks(photo_root)
        note(f"backends: MediaPipe on {len(tasks)} photos, {w} worker(s)")
        reference: list = []
        add(stage, "MediaPipe (posenet-cls extract DIR, no table)",
            best_of(config.repeats, lambda: mediapipe_photos(tasks, w, reference)), "photo", backend="mediapipe")
        note(f"backends: read + decode alone, {w} thread(s)")
        add(stage, "read + sha1 + decode alone (no network)", best_of(config.repeats, lambda: decoding(tasks, w)),
            "photo", backend="decode")
        for b in config.pose_batches:
            note(f"backends: onnx BlazePose, batch {b}")
            found: list = []
            add(stage, f"onnx BlazePose, batch {b}",
                best_of(config.repeats, lambda b=b: onnx_photos(tasks, b, w, threads, model_dir, found)), "photo",
                batch=b, **onnx)
            rows[-1]["parity"] = pose_parity(reference, found)
    if video is not None:
        stage = "video frames, tracking mode"
        note(f"backends: tracking {video.name}, MediaPipe and onnx")
        rows.append({**timed_row("backends", stage, "MediaPipe tracking", 1, best_of(
            config.repeats, lambda: tracking_loop(video, "mediapipe", config.max_frames, None)), "frame"),
            "backend": "mediapipe"})
        rows.append({**timed_row("backends", stage, "onnx BlazePose tracking", 1, best_of(
            config.repeats, lambda: tracking_loop(video, "onnx", config.max_frames, model_dir)), "frame"),
            **onnx, "threads": 1})
        stage = "several people, tracking mode"
        note(f"backends: {video.name} beside a black frame and beside its mirror image, --max-people 2")
        for what, people, two in (("one person (the clip beside a black frame), --max-people 1", 1, False),
                                  ("one person (the clip beside a black frame), --max-people 2", 2, False),
                                  ("two people (the clip beside its mirror image), --max-people 2", 2, True)):
            rows.append({**timed_row("backends", stage, f"onnx BlazePose: {what}", 1, best_of(
                config.repeats, lambda people=people, two=two: people_loop(video, people, two, config.max_frames,
                                                                           model_dir)), "frame"),
                **onnx, "max_people": people})
    with_ratios(rows, "per_s")
    notes = [(f"onnx backend: device {device} ({providers[0]}), {threads} network thread(s), {w} decode thread(s); "
              f"networks from {model_dir}"), *skipped_notes(photo_root, video, "backends")]
    parity = next((r["parity"] for r in rows if "parity" in r), None)
    if parity is not None:
        notes.append(
            f"parity, onnx (batch {next(r['batch'] for r in rows if 'parity' in r)}) vs MediaPipe on {parity['photos']} "
            f"photos: a pose in {parity['pose_reference']} / {parity['pose_other']}, {parity['differ']} differ; "
            f"x, y difference median {parity['xy_median']:.6f}, 95th percentile {parity['xy_p95']:.6f}; "
            f"visibility 95th percentile {parity['visibility_p95']:.5f} (targets: at most 2 differ, 0.001, 0.005, 0.01)")
    several = [r for r in rows if r["stage"] == "several people, tracking mode"]
    if len(several) == 3:
        ratio = several[0]["per_s"] / several[2]["per_s"]
        notes.append(f"two people cost {ratio:.2f}x one person's time per frame (--max-people 2 on the clip beside its "
                     f"mirror image, over --max-people 1 on the clip beside a black frame), target at most "
                     f"{PEOPLE_TARGET:g}x: " + ("met" if ratio <= PEOPLE_TARGET else "not met"))
    for stage, target in TARGETS.items():
        ours = [r for r in rows if r["stage"] == stage and r.get("backend") == "onnx"]
        if ours:
            best = max(ours, key=lambda r: r["vs"])
            batch = f" (batch {best['batch']})" if "batch" in best else ""
            notes.append(f"{stage}: onnx {best['vs']:.2f}x MediaPipe{batch}, target {target:g}x: "
                         + ("met" if best["vs"] >= target else "not met"))
    return rows, notes
