"""Timing behind ``posenet-cls benchmark``: classifier backends, pose extraction and whole runs, side by side.

Figures for the README come from here, never from tests. Each section times our code next to a reference
measured in the same run (a bare MediaPipe loop, the article's ``SVC(kernel="poly")`` recipe), and each
row's ``vs`` is its headline figure over the reference row's: machines are noisy, ratios from one run
much less so. Poses are float32 ``(N, 33, 4)`` raw BlazePose landmarks, as everywhere in posenet_cls.
Nothing here prints; progress goes through a callback that takes one line of text.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import pickle
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.data.dataset import build_dataset, list_photos
from posenet_cls.data.outcomes import Status
from posenet_cls.errors import PosenetError

SECTIONS = ("classifiers", "extraction", "backends", "end_to_end")
BATCHES = (1, 64, 4096)
POSE_BATCHES = (1, 16, 64, 256)  # photos per network call of the onnxruntime BlazePose
TARGETS = {"photos, static mode": 1.3, "video frames, tracking mode": 1.5}  # onnx over MediaPipe, issue 9
ARTICLE = "svc-poly"  # the reference of the classifier rows
KNN_CHUNK = 256  # k-NN predicts in chunks: its distance arrays grow with batch x training rows
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure; the defaults give the README's figures, :data:`QUICK` a smoke run."""

    calls: int = 20000  # single-pose calls per classifier backend, at most
    seconds: float = 2.0  # time budget of one latency or throughput measurement (at least a few calls run)
    repeats: int = 1  # runs of each extraction / end-to-end measurement; the fastest is kept
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # extraction rows use 1..workers
    limit: int | None = None  # photos, spread over the classes (None: all)
    max_frames: int | None = None  # video frames (None: all)
    batches: tuple[int, ...] = BATCHES
    pose_batches: tuple[int, ...] = POSE_BATCHES  # batch sizes of the onnxruntime BlazePose rows
    epochs: int | None = None  # MLP epochs at most (None: TrainConfig's)
    sections: tuple[str, ...] = SECTIONS

    def check(self) -> None:
        """Refuse settings that cannot measure anything, naming the option."""
        for name in ("calls", "repeats", "workers"):
            if getattr(self, name) < 1:
                raise PosenetError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.seconds > 0:
            raise PosenetError(f"--seconds must be positive, got {self.seconds}")
        if not self.pose_batches or min(self.pose_batches) < 1:
            raise PosenetError(f"pose batch sizes must be at least 1, got {list(self.pose_batches)}")
        if self.limit is not None and self.limit < 2:
            raise PosenetError(f"--limit must be at least 2 photos, got {self.limit}")
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise PosenetError(f"unknown section '{sorted(unknown)[0]}' (choose from {', '.join(SECTIONS)})")


QUICK = BenchConfig(calls=200, seconds=0.05, repeats=1, limit=24, max_frames=20, epochs=20, pose_batches=(1, 16))


# --- measuring ------------------------------------------------------------------------------------


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


# --- extraction and whole runs --------------------------------------------------------------------


def bare_mediapipe_loop(paths: list[Path]) -> tuple[float, int, int]:
    """Seconds, photos and poses for the plainest MediaPipe loop: cv2.imread, BGR->RGB, Pose.process."""
    import cv2
    import mediapipe as mp

    from posenet_cls.io.native import quiet_native_output

    start = time.perf_counter()
    found = 0
    with quiet_native_output():  # MediaPipe's log lines, once per graph: stderr stays ours
        pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
        for path in paths:
            bgr = cv2.imread(str(path))
            if bgr is None:  # OpenCV cannot read some files (AVIF); the bare loop just skips them
                continue
            found += pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).pose_landmarks is not None
        pose.close()
    return time.perf_counter() - start, len(paths), found


def our_extraction(data_dir: Path, workers: int, out: Path | None = None) -> tuple[float, int, int]:
    """Seconds, files and poses for ``build_dataset`` (decode, retries, journal, table) with N workers.

    The table is written to ``out`` when given, else to a temporary folder.
    """
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(out) if out is not None else Path(tmp) / "poses.csv"
        table.unlink(missing_ok=True)
        start = time.perf_counter()
        report = build_dataset(data_dir, table, workers=workers)
        return time.perf_counter() - start, report.files, report.poses


def _frames(video: Path, max_frames: int | None) -> Iterable[tuple[bool, np.ndarray]]:
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


def bare_tracking_loop(video: Path, max_frames: int | None = None) -> tuple[float, int, int]:
    """Seconds, frames and poses for the plainest MediaPipe tracking loop: read, BGR->RGB, Pose.process."""
    import cv2
    import mediapipe as mp

    from posenet_cls.io.native import quiet_native_output

    start = time.perf_counter()
    frames = found = 0
    with quiet_native_output():
        pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
        for bgr in _frames(video, max_frames):
            found += pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).pose_landmarks is not None
            frames += 1
        pose.close()
    return time.perf_counter() - start, frames, found


def _consume(results: Iterable, max_items: int | None, has_pose: Callable) -> tuple[int, int]:
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


def our_tracking_extraction(video: Path, max_frames: int | None = None) -> tuple[float, int, int]:
    """Seconds, frames and poses for ``extract_video`` (what ``posenet-cls extract VIDEO`` runs)."""
    from posenet_cls.pose.extract import extract_video

    start = time.perf_counter()
    frames, found = _consume(extract_video(video), max_frames, lambda fp: fp.keypoints is not None)
    return time.perf_counter() - start, frames, found


def our_video_loop(video: Path, runtime, annotate: bool, max_frames: int | None = None,
                   backend: str = "mediapipe") -> tuple[float, int, int]:
    """Seconds, frames and poses for ``predict_video``: decode, track, classify, smooth (and draw, encode H.264)."""
    from posenet_cls.infer.stream import predict_video

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "annotated.mp4" if annotate else None
        start = time.perf_counter()
        frames, found = _consume(predict_video(video, runtime, out_video=out, show=False, backend=backend), max_frames,
                                 lambda r: r.pose)
        return time.perf_counter() - start, frames, found


def our_photo_predictions(root: Path, runtime, workers: int) -> tuple[float, int, int]:
    """Seconds, files and poses for ``predict_photos`` without annotated copies: file -> label."""
    from posenet_cls.infer.photos import predict_photos

    start = time.perf_counter()
    files, found = _consume(predict_photos(root, runtime, workers=workers), None, lambda r: r.status == Status.POSE)
    return time.perf_counter() - start, files, found


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


def _row(section: str, stage: str, what: str, workers: int, result: tuple[float, int, int], unit: str) -> dict:
    seconds, items, found = result
    return {"section": section, "stage": stage, "what": what, "workers": workers, "items": items, "poses": found,
            "unit": unit, "seconds": seconds, "ms_per_item": 1000 * seconds / max(items, 1),
            "per_s": items / seconds}


def _ratios(rows: list[dict], key: str) -> list[dict]:
    """Set each row's ``vs`` to its ``key`` figure over the stage's first row (the bare loop)."""
    ref: dict[str, float] = {}
    for row in rows:
        ref.setdefault(row["stage"], row[key])
        row["vs"] = row[key] / ref[row["stage"]]
    return rows


def extraction_rows(photo_root: Path | None, video: Path | None, config: BenchConfig, keep_table: Path | None = None,
                    progress: Progress | None = None) -> list[dict]:
    """ms per photo (static mode) and per frame (tracking mode): a bare MediaPipe loop, then ours with 1..N workers.

    With ``keep_table``, the table of the run with the most workers is written there.
    """
    note = progress or (lambda _: None)
    rows = []
    if photo_root is not None:
        stage = "photos, static mode"
        paths = sorted(p for p in photo_root.rglob("*") if p.is_file() or p.is_symlink())
        note(f"extraction: bare MediaPipe loop on {len(paths)} photos")
        rows.append(_row("extraction", stage, "bare MediaPipe loop (cv2.imread, Pose.process)", 1,
                         best_of(config.repeats, lambda: bare_mediapipe_loop(paths)), "photo"))
        for w in range(1, config.workers + 1):
            note(f"extraction: posenet-cls extract, {w} worker(s)")
            out = keep_table if w == config.workers else None
            rows.append(_row("extraction", stage, "posenet-cls extract DIR", w,
                             best_of(config.repeats, lambda: our_extraction(photo_root, w, out)), "photo"))
    if video is not None:
        stage = "video frames, tracking mode"
        note(f"extraction: tracking loops on {video.name}")
        rows.append(_row("extraction", stage, "bare MediaPipe tracking loop", 1,
                         best_of(config.repeats, lambda: bare_tracking_loop(video, config.max_frames)), "frame"))
        rows.append(_row("extraction", stage, "posenet-cls extract VIDEO", 1,
                         best_of(config.repeats, lambda: our_tracking_extraction(video, config.max_frames)), "frame"))
    return _ratios(rows, "ms_per_item")


def end_to_end_rows(photo_root: Path | None, video: Path | None, runtime, config: BenchConfig,
                    bare: dict[str, dict] | None = None, progress: Progress | None = None) -> list[dict]:
    """Photos per second from file to label and video frames per second, next to the bare MediaPipe loops.

    ``bare`` maps a stage of :func:`extraction_rows` to its bare-loop row, reused as the reference
    when that section ran in the same benchmark.
    """
    note = progress or (lambda _: None)
    bare = bare or {}
    rows = []
    if photo_root is not None:
        stage = "photos: file -> label"
        ref = bare.get("photos, static mode")
        if ref is None:
            paths = sorted(p for p in photo_root.rglob("*") if p.is_file() or p.is_symlink())
            note(f"end to end: bare MediaPipe loop on {len(paths)} photos")
            result = best_of(config.repeats, lambda: bare_mediapipe_loop(paths))
        else:
            result = (ref["seconds"], ref["items"], ref["poses"])
        rows.append(_row("end_to_end", stage, "bare MediaPipe loop, no classifier", 1, result, "photo"))
        for w in range(1, config.workers + 1):
            note(f"end to end: posenet-cls predict DIR --no-annotate, {w} worker(s)")
            rows.append(_row("end_to_end", stage, "posenet-cls predict DIR --no-annotate", w,
                             best_of(config.repeats, lambda: our_photo_predictions(photo_root, runtime, w)), "photo"))
    if video is not None:
        stage = "video: file -> label"
        ref = bare.get("video frames, tracking mode")
        if ref is None:
            note(f"end to end: bare MediaPipe tracking loop on {video.name}")
            result = best_of(config.repeats, lambda: bare_tracking_loop(video, config.max_frames))
        else:
            result = (ref["seconds"], ref["items"], ref["poses"])
        rows.append(_row("end_to_end", stage, "bare MediaPipe tracking loop, no classifier", 1, result, "frame"))
        loops = [("mediapipe", True, "posenet-cls predict VIDEO (annotated H.264)"),
                 ("mediapipe", False, "posenet-cls predict VIDEO --no-annotate")]
        if onnx_networks()[0] is not None:
            loops.append(("onnx", True, "posenet-cls predict VIDEO --backend onnx (annotated H.264)"))
        for backend, annotate, what in loops:
            note(f"end to end: {what}")
            rows.append(_row("end_to_end", stage, what, 1, best_of(
                config.repeats, lambda: our_video_loop(video, runtime, annotate, config.max_frames, backend)), "frame"))
    return _ratios(rows, "per_s")


# --- pose backends: MediaPipe next to the onnxruntime BlazePose ---------------------------------------


def photo_tasks(photo_root: Path) -> list[tuple[str, str, str]]:
    """The (root, relative path, label) extraction tasks of a class-folder tree."""
    return [(str(photo_root), rel, label) for rel, label in list_photos(photo_root)]


def _kept(results: Iterable, keep: list | None) -> Iterator:
    """The results, each also appended to ``keep`` (emptied first) when given."""
    if keep is not None:
        keep.clear()
    for r in results:
        if keep is not None:
            keep.append(r)
        yield r


def mediapipe_photos(tasks: list[tuple[str, str, str]], workers: int, keep: list | None = None) -> tuple[float, int, int]:
    """Seconds, files and poses for the MediaPipe path of ``posenet-cls extract DIR`` without the table (N processes)."""
    from posenet_cls.data.workers import run_extraction

    start = time.perf_counter()
    files, found = _consume(_kept(run_extraction(tasks, "full", workers), keep), None, lambda r: r.status == Status.POSE)
    return time.perf_counter() - start, files, found


def onnx_photos(tasks: list[tuple[str, str, str]], batch: int, workers: int, threads: int,
                model_dir: Path | None, keep: list | None = None) -> tuple[float, int, int]:
    """Seconds, files and poses for the onnxruntime BlazePose: decode workers, ``threads`` batches of ``batch``."""
    from posenet_cls.data.onnx_batch import extract_files

    start = time.perf_counter()
    results = extract_files(tasks, batch=batch, workers=workers, threads=threads, model_dir=model_dir)
    files, found = _consume(_kept(results, keep), None, lambda r: r.status == Status.POSE)
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
    from posenet_cls.data.onnx_batch import time_decoding

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
    from posenet_cls.data.onnx_batch import network_threads
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
        rows.append({**_row("backends", stage, what, w, result, unit), **extra})

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
        rows.append({**_row("backends", stage, "MediaPipe tracking", 1, best_of(
            config.repeats, lambda: tracking_loop(video, "mediapipe", config.max_frames, None)), "frame"),
            "backend": "mediapipe"})
        rows.append({**_row("backends", stage, "onnx BlazePose tracking", 1, best_of(
            config.repeats, lambda: tracking_loop(video, "onnx", config.max_frames, model_dir)), "frame"),
            **onnx, "threads": 1})
    _ratios(rows, "per_s")
    notes = [(f"onnx backend: device {device} ({providers[0]}), {threads} network thread(s), {w} decode thread(s); "
              f"networks from {model_dir}"), *_skipped(photo_root, video, "backends")]
    parity = next((r["parity"] for r in rows if "parity" in r), None)
    if parity is not None:
        notes.append(
            f"parity, onnx (batch {next(r['batch'] for r in rows if 'parity' in r)}) vs MediaPipe on {parity['photos']} "
            f"photos: a pose in {parity['pose_reference']} / {parity['pose_other']}, {parity['differ']} differ; "
            f"x, y difference median {parity['xy_median']:.6f}, 95th percentile {parity['xy_p95']:.6f}; "
            f"visibility 95th percentile {parity['visibility_p95']:.5f} (targets: at most 2 differ, 0.001, 0.005, 0.01)")
    for stage, target in TARGETS.items():
        ours = [r for r in rows if r["stage"] == stage and r.get("backend") == "onnx"]
        if ours:
            best = max(ours, key=lambda r: r["vs"])
            batch = f" (batch {best['batch']})" if "batch" in best else ""
            notes.append(f"{stage}: onnx {best['vs']:.2f}x MediaPipe{batch}, target {target:g}x: "
                         + ("met" if best["vs"] >= target else "not met"))
    return rows, notes


# --- classifier backends --------------------------------------------------------------------------


@dataclass
class Backend:
    """One trained classifier: how to call it on one pose (33, 4) and on a batch (N, 33, 4)."""

    name: str
    what: str
    size_bytes: int
    size_of: str
    predict: Callable[[np.ndarray], np.ndarray]  # (N, 33, 4) -> class indices (N,)
    single: Callable[[np.ndarray], object]
    batch: Callable[[np.ndarray], object]
    threads: str
    single_context: Callable = contextlib.nullcontext  # entered around the single-pose timing


@dataclass
class TrainedClassifiers:
    """The backends trained on one split, the held-out poses and the exported ONNX model."""

    backends: list[Backend]
    test_poses: np.ndarray
    test_targets: np.ndarray
    split: dict
    onnx_path: Path
    runtime: object  # PoseRuntime of onnx_path


def train_classifiers(table, work_dir: Path, epochs: int | None = None, what: str = "table",
                      progress: Progress | None = None) -> TrainedClassifiers:
    """Train the MLP and the baselines on fold 0 of the seeded split of ``table``; export the MLP to ``work_dir``."""
    import torch

    from posenet_cls.training.checkpoint import model_meta, save_checkpoint
    from posenet_cls.training.export import export_model
    from posenet_cls.runtime import BATCH_SESSION_MIN, INPUT_NAME, PoseRuntime
    from posenet_cls.data.splits import make_splits
    from posenet_cls.training.train import TrainConfig, fit_baseline, fit_mlp, fit_split_novelty, one_cpu_thread

    note = progress or (lambda _: None)
    config = TrainConfig() if epochs is None else replace(TrainConfig(), epochs=epochs)
    split = make_splits(table, config.folds, config.seed, what)[config.fold]
    classes = table.classes
    index = np.asarray(classes)
    note(f"classifiers: training the MLP on {len(split.train)} poses ({len(split.val)} for validation)")
    fit = fit_mlp(table, split, classes, config)
    model = fit.model.eval()
    ckpt, onnx_path = work_dir / "mlp.ckpt", work_dir / "mlp.onnx"
    novelty = fit_split_novelty(model, table, split, classes, config)
    save_checkpoint(ckpt, model, model_meta(model, classes), novelty)
    export_model(model, classes, model.features.to_dict(), onnx_path, table.keypoints[split.train], novelty=novelty)
    runtime = PoseRuntime(onnx_path)
    raw = _default_session(onnx_path)

    def torch_single(pose):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(pose)[None]), dim=1)

    def torch_batch(poses):  # PoseRuntime's thread policy: one thread under BATCH_SESSION_MIN poses
        threads = one_cpu_thread() if len(poses) < BATCH_SESSION_MIN else contextlib.nullcontext()
        with threads, torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(poses)), dim=1)

    backends = [
        Backend("onnxruntime", "MLP, onnxruntime (PoseRuntime, ours)", onnx_path.stat().st_size, "ONNX file",
                lambda kp: runtime.probabilities(kp).argmax(axis=1),
                lambda pose: runtime.decide(runtime.pose_probabilities(pose)), runtime.probabilities,
                f"1; {os.cpu_count()} from batch {BATCH_SESSION_MIN}"),
        Backend("onnxruntime-novelty", "MLP + novelty score, onnxruntime (PoseRuntime.classify, ours)",
                onnx_path.stat().st_size, "ONNX file", lambda kp: runtime.scores(kp)[0].argmax(axis=1),
                runtime.classify, runtime.scores, f"1; {os.cpu_count()} from batch {BATCH_SESSION_MIN}"),
        Backend("onnxruntime-default", "MLP, onnxruntime session.run, default options", onnx_path.stat().st_size,
                "ONNX file", lambda kp: raw.run(None, {INPUT_NAME: kp})[0].argmax(axis=1),
                lambda pose: raw.run(None, {INPUT_NAME: pose[None]}), lambda b: raw.run(None, {INPUT_NAME: b}),
                "onnxruntime's default"),
        Backend("torch", "MLP, torch eager", ckpt.stat().st_size, "checkpoint",
                lambda kp: torch_batch(np.ascontiguousarray(kp)).argmax(dim=1).numpy(), torch_single, torch_batch,
                f"1; {torch.get_num_threads()} from batch {BATCH_SESSION_MIN}", one_cpu_thread),
    ]
    rest = np.concatenate([split.train, split.val])
    for name, what_ in (("svc", "SVC baseline (RBF, normalised features)"),
                        (ARTICLE, "the article's SVC(kernel='poly') on raw landmarks"),
                        ("knn", "k-NN on MediaPipe's pose embedding")):
        note(f"classifiers: fitting {name} on {len(rest)} poses")
        est = fit_baseline(name, table, rest, config)
        chunk = KNN_CHUNK if name == "knn" else None
        backends.append(Backend(name, what_, len(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL)), "pickle",
                                _sklearn_predict(est, index, chunk), lambda pose, e=est: e.predict(pose[None]),
                                _sklearn_predict(est, index, chunk), "1"))
    test = np.ascontiguousarray(table.keypoints[split.test])
    targets = np.searchsorted(index, table.labels[split.test].astype(str))
    sizes = {"train": len(split.train), "val": len(split.val), "test": len(split.test), "fold": config.fold,
             "folds": config.folds, "seed": config.seed, "epochs_run": len(fit.history)}
    return TrainedClassifiers(backends, test, targets, sizes, onnx_path, runtime)


def _default_session(path: Path):
    """The naive way to run the ONNX file: an InferenceSession with default options, ``run`` per call."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _sklearn_predict(est, classes: np.ndarray, chunk: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """Class indices of a batch from a scikit-learn estimator, in chunks of ``chunk`` rows when given."""
    def predict(poses: np.ndarray) -> np.ndarray:
        step = chunk or max(len(poses), 1)
        labels = np.concatenate([est.predict(poses[i:i + step]) for i in range(0, len(poses), step)])
        return np.searchsorted(classes, labels)

    return predict


def classifier_rows(trained: TrainedClassifiers, config: BenchConfig, progress: Progress | None = None) -> list[dict]:
    """Per backend: size, test accuracy, single-pose latency (median, p99) and poses/s per batch size, same poses."""
    note = progress or (lambda _: None)
    poses = trained.test_poses
    rows = []
    for b in trained.backends:
        note(f"classifiers: timing {b.name}")
        accuracy = float(np.mean(b.predict(poses) == trained.test_targets))
        with b.single_context():
            median, p99, calls = latency(b.single, poses, config.calls, config.seconds)
        row = {"section": "classifiers", "backend": b.name, "what": b.what, "size_bytes": b.size_bytes,
               "size_of": b.size_of, "accuracy": accuracy, "test_poses": len(poses), "median_us": median,
               "p99_us": p99, "calls": calls, "threads": b.threads}
        for size in config.batches:
            batch = np.ascontiguousarray(np.resize(poses, (size, *poses.shape[1:])))
            row[f"poses_per_s_batch_{size}"] = throughput(b.batch, batch, config.seconds)
        rows.append(row)
    ref = next(r for r in rows if r["backend"] == ARTICLE)
    for row in rows:
        row["vs"] = row["median_us"] / ref["median_us"]
    return rows


# --- the whole benchmark --------------------------------------------------------------------------


def machine_info() -> dict:
    """CPU, cores, Python, library versions, onnxruntime providers and GPU of this machine, for report headers."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                  "platform": platform.platform(terse=True)}
    for lib in ("numpy", "onnxruntime", "torch", "mediapipe", "scikit-learn", "opencv-python"):
        try:
            info[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            info[lib] = None
    import onnxruntime
    import torch

    info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return info


def machine_description(info: dict | None = None) -> str:
    """One line naming the CPU, cores, GPU and library versions, for benchmark headers."""
    i = info or machine_info()
    libs = ", ".join(f"{k} {i[k]}" for k in ("numpy", "onnxruntime", "torch", "mediapipe", "scikit-learn") if i.get(k))
    return (f"{i['cpu']}, {i['cores']} cores, GPU: {i['gpu']}; Python {i['python']}, {libs}; "
            f"onnxruntime providers: {', '.join(i['onnxruntime_providers'])}")


def load_poses(data: Path, photo_dir: Path, config: BenchConfig, progress: Progress | None = None):
    """(table path or None, photo tree or None) of ``--data``: a keypoint table or a class-folder tree.

    A table is a .csv or .parquet file or a folder of .parquet shards. A tree is linked, photo by
    photo (``config.limit`` of them, spread over the classes), under ``photo_dir``.
    """
    from posenet_cls.data.table import TABLE_SUFFIXES, parquet_shards

    data = Path(data)
    if data.is_dir() and parquet_shards(data):
        return data, None
    if data.is_dir():
        photos = spread(list_photos(data), config.limit)
        (progress or (lambda _: None))(f"data: {len(photos)} photos of {data}")
        return None, link_photos(data, photos, photo_dir)
    if not data.exists():
        raise PosenetError(f"{data}: no such file or folder (give a keypoint table or a class-folder tree)")
    if data.suffix.lower() not in TABLE_SUFFIXES:
        raise PosenetError(f"{data}: not a keypoint table (.csv, .parquet) or a class-folder tree")
    return data, None


def run_benchmark(data: str | Path, video: str | Path | None, config: BenchConfig = BenchConfig(),
                  progress: Progress | None = None) -> dict:
    """Every section of the benchmark on ``data`` (a keypoint table or a class-folder tree) and ``video`` (or None).

    Returns the report: ``machine``, ``settings``, ``data`` and ``sections`` (name -> rows, notes).
    """
    from posenet_cls.data.table import read_table

    config.check()
    note = progress or (lambda _: None)
    video = Path(video) if video is not None else None
    if video is not None and not video.is_file():
        raise PosenetError(f"{video}: no such video file")
    info = machine_info()
    sections: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="posenet-bench-") as tmp:
        work = Path(tmp)
        table_path, photo_root = load_poses(Path(data), work / "photos", config, note)
        photos = None if photo_root is None else sum(1 for p in photo_root.rglob("*") if p.is_symlink())
        if table_path is not None:
            table = read_table(table_path)  # refuse a bad table before minutes of extraction
        if "extraction" in config.sections:
            kept = work / "poses.csv"
            rows = extraction_rows(photo_root, video, config, kept if photo_root is not None else None, note)
            sections["extraction"] = {"rows": rows, "notes": _skipped(photo_root, video, "extraction")}
            if photo_root is not None:
                table_path = kept
        elif photo_root is not None and {"classifiers", "end_to_end"} & set(config.sections):
            note(f"data: extracting keypoints with {config.workers} worker(s)")
            table_path = work / "poses.csv"
            build_dataset(photo_root, table_path, workers=config.workers)
        if "backends" in config.sections:
            rows, notes = backend_rows(photo_root, video, config, note)
            sections["backends"] = {"rows": rows, "notes": notes}
        table = read_table(table_path) if table_path is not None else None  # None: only the backends section ran
        classes = table.classes if table is not None else sorted({label for _, label in list_photos(photo_root)})
        trained = None
        if {"classifiers", "end_to_end"} & set(config.sections):  # end to end runs the MLP trained here
            trained = train_classifiers(table, work, config.epochs, str(data), note)
        if "classifiers" in config.sections:
            sections["classifiers"] = {"rows": classifier_rows(trained, config, note), "notes": []}
        if "end_to_end" in config.sections:
            extracted = sections.get("extraction", {}).get("rows", [])
            bare = {r["stage"]: r for r in extracted if r["what"].startswith("bare")}
            rows = end_to_end_rows(photo_root, video, trained.runtime, config, bare, note)
            sections["end_to_end"] = {"rows": rows, "notes": _skipped(photo_root, video, "end_to_end")}
        ordered = {name: sections[name] for name in SECTIONS if name in sections}
    settings = {k: v for k, v in asdict(config).items()}
    settings["batches"], settings["sections"] = list(config.batches), list(config.sections)
    settings["pose_batches"] = list(config.pose_batches)
    return {
        "machine": info,
        "settings": settings,
        "data": {"source": str(data), "photos": photos,
                 "poses": None if table is None else len(table), "classes": classes, "split": trained.split if trained else None,
                 "video": None if video is None else str(video)},
        "sections": ordered,
    }


def _skipped(photo_root: Path | None, video: Path | None, section: str) -> list[str]:
    notes = []
    if photo_root is None:
        notes.append("photo rows skipped: --data is a keypoint table, not photos")
    if video is None:
        notes.append("video rows skipped: no video")
    return notes


# --- the report -----------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """A figure with three significant digits, thousands separated."""
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x >= 1 else f"{x:.2g}"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def render_markdown(report: dict, command: str) -> str:
    """The report as markdown: a header with the command and machine, then one table per section."""
    m, d, s = report["machine"], report["data"], report["settings"]
    split = d["split"]
    lines = [f"`{command}`", "",
             f"Machine: {machine_description(m)}.", "",
             f"Data: {d['source']}: " + (f"{d['poses']} poses of " if d["poses"] is not None else "")
             + f"{len(d['classes'])} classes"
             + (f" from {d['photos']} photos" if d["photos"] else "")
             + (f"; split fold {split['fold']} of {split['folds']} (seed {split['seed']}): {split['train']} train, "
                f"{split['val']} validation, {split['test']} test poses" if split else "")
             + (f"; video {Path(d['video']).name}" if d["video"] else "") + ".", "",
             f"Settings: up to {s['calls']} single-pose calls and {s['seconds']:g} s per classifier measurement; "
             f"extraction and end-to-end runs: best of {s['repeats']}"
             + (f", first {s['max_frames']} video frames" if s["max_frames"] else "") + "."]
    sections = report["sections"]
    if "classifiers" in sections:
        rows = sections["classifiers"]["rows"]
        batches = report["settings"]["batches"]
        lines += ["", "### Classifiers", "",
                  f"Same {rows[0]['test_poses']} held-out poses for every backend. Latency: one pose per call, after "
                  "a warm-up; vs: median latency over the article's SVC (below 1 = faster). Threads: ours and torch "
                  "run one pose, and batches under 256, on one thread, larger batches on all cores; scikit-learn "
                  "predicts on one; k-NN in chunks of 256 poses.", "",
                  "| backend | size | accuracy | median us | p99 us | vs article | "
                  + " | ".join(f"poses/s @{b}" for b in batches) + " |",
                  "|---|---:|---:|---:|---:|---:|" + "---:|" * len(batches)]
        for r in rows:
            lines.append(f"| {r['what']} | {_size(r['size_bytes'])} ({r['size_of']}) | {r['accuracy']:.3f} | "
                         f"{_fmt(r['median_us'])} | {_fmt(r['p99_us'])} | {r['vs']:.2f}x | "
                         + " | ".join(_fmt(r[f'poses_per_s_batch_{b}']) for b in batches) + " |")
    if "extraction" in sections:
        lines += ["", "### Extraction", "",
                  "vs: ms per photo or frame over the bare MediaPipe loop's (below 1 = faster). Times include "
                  "starting MediaPipe and the worker processes.", "",
                  "| stage | what | workers | poses / items | ms per item | vs bare |", "|---|---|---:|---:|---:|---:|"]
        for r in sections["extraction"]["rows"]:
            lines.append(f"| {r['stage']} | {r['what']} | {r['workers']} | {r['poses']} / {r['items']} | "
                         f"{_fmt(r['ms_per_item'])} | {r['vs']:.2f}x |")
        lines += [f"\n{n}." for n in sections["extraction"]["notes"]]
    if "backends" in sections:
        lines += ["", "### Pose backends: MediaPipe vs onnxruntime BlazePose", "",
                  ("vs: photos or frames per second over MediaPipe's, measured in the same run (above 1 = faster). "
                   "Times include start-up (MediaPipe's worker processes, onnxruntime's sessions, decode threads); "
                   "the read + decode row is the decode workers alone, for the photos/s the networks can never "
                   "exceed."), ""]
        if sections["backends"]["rows"]:
            lines += ["| stage | what | batch | workers | poses / items | per second | vs MediaPipe |",
                      "|---|---|---:|---:|---:|---:|---:|"]
        for r in sections["backends"]["rows"]:
            lines.append(f"| {r['stage']} | {r['what']} | {r.get('batch', '')} | {r['workers']} | "
                         f"{r['poses']} / {r['items']} | {_fmt(r['per_s'])} {r['unit']}s/s | {r['vs']:.2f}x |")
        lines += [f"\n{n}." for n in sections["backends"]["notes"]]
    if "end_to_end" in sections:
        lines += ["", "### End to end", "",
                  "vs: photos or frames per second over the bare MediaPipe loop's, which classifies nothing "
                  "(above 1 = faster).", "",
                  "| stage | what | workers | poses / items | per second | vs bare |", "|---|---|---:|---:|---:|---:|"]
        for r in sections["end_to_end"]["rows"]:
            lines.append(f"| {r['stage']} | {r['what']} | {r['workers']} | {r['poses']} / {r['items']} | "
                         f"{_fmt(r['per_s'])} {r['unit']}s/s | {r['vs']:.2f}x |")
        lines += [f"\n{n}." for n in sections["end_to_end"]["notes"]]
    return "\n".join(lines) + "\n"


def numbers(report: dict) -> Iterable[float]:
    """Every number in the report's sections (for sanity checks)."""
    for sec in report["sections"].values():
        for row in sec["rows"]:
            yield from (v for v in row.values() if isinstance(v, (int, float)) and not isinstance(v, bool))


def write_report(report: dict, command: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``benchmark.md`` and ``benchmark.json`` under ``out_dir``, each atomically; returns both paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PosenetError(f"{out}: exists and is not a folder")
    if not all(math.isfinite(v) for v in numbers(report)):
        raise PosenetError("a measurement came out NaN or infinite; nothing written")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("benchmark.md", render_markdown(report, command)),
                       ("benchmark.json", json.dumps({"command": command, **report}, indent=1, allow_nan=False))):
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written[0], written[1]
