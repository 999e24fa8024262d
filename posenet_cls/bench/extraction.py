"""Extraction rows: our extraction (photos, tracking) next to a bare MediaPipe loop, in the same run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


from posenet_cls.bench.config import BenchConfig, Progress
from posenet_cls.bench.timing import best_of, consume, timed_row, video_frames, with_ratios
from posenet_cls.data.dataset import build_dataset


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


def bare_tracking_loop(video: Path, max_frames: int | None = None) -> tuple[float, int, int]:
    """Seconds, frames and poses for the plainest MediaPipe tracking loop: read, BGR->RGB, Pose.process."""
    import cv2
    import mediapipe as mp

    from posenet_cls.io.native import quiet_native_output

    start = time.perf_counter()
    frames = found = 0
    with quiet_native_output():
        pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
        for bgr in video_frames(video, max_frames):
            found += pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).pose_landmarks is not None
            frames += 1
        pose.close()
    return time.perf_counter() - start, frames, found


def our_tracking_extraction(video: Path, max_frames: int | None = None) -> tuple[float, int, int]:
    """Seconds, frames and poses for ``extract_video`` (what ``posenet-cls extract VIDEO`` runs)."""
    from posenet_cls.pose.extract import extract_video

    start = time.perf_counter()
    frames, found = consume(extract_video(video), max_frames, lambda fp: fp.keypoints is not None)
    return time.perf_counter() - start, frames, found


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
        rows.append(timed_row("extraction", stage, "bare MediaPipe loop (cv2.imread, Pose.process)", 1,
                         best_of(config.repeats, lambda: bare_mediapipe_loop(paths)), "photo"))
        for w in range(1, config.workers + 1):
            note(f"extraction: posenet-cls extract, {w} worker(s)")
            out = keep_table if w == config.workers else None
            rows.append(timed_row("extraction", stage, "posenet-cls extract DIR", w,
                             best_of(config.repeats, lambda: our_extraction(photo_root, w, out)), "photo"))
    if video is not None:
        stage = "video frames, tracking mode"
        note(f"extraction: tracking loops on {video.name}")
        rows.append(timed_row("extraction", stage, "bare MediaPipe tracking loop", 1,
                         best_of(config.repeats, lambda: bare_tracking_loop(video, config.max_frames)), "frame"))
        rows.append(timed_row("extraction", stage, "posenet-cls extract VIDEO", 1,
                         best_of(config.repeats, lambda: our_tracking_extraction(video, config.max_frames)), "frame"))
    return with_ratios(rows, "ms_per_item")
