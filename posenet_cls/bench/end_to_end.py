"""End-to-end rows: file to label (photos, the annotated video loop) next to the bare MediaPipe loop."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


from posenet_cls.bench.backends import onnx_networks
from posenet_cls.bench.config import BenchConfig, Progress
from posenet_cls.bench.extraction import bare_mediapipe_loop, bare_tracking_loop
from posenet_cls.bench.timing import best_of, consume, timed_row, with_ratios
from posenet_cls.pose.outcomes import Status


def our_video_loop(video: Path, runtime, annotate: bool, max_frames: int | None = None,
                   backend: str = "mediapipe") -> tuple[float, int, int]:
    """Seconds, frames and poses for ``predict_video``: decode, track, classify, smooth (and draw, encode H.264)."""
    from posenet_cls.infer.stream import StreamConfig, predict_video
    from posenet_cls.pose.extract import PoseOptions

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "annotated.mp4" if annotate else None
        start = time.perf_counter()
        stream = predict_video(video, runtime, StreamConfig(), PoseOptions(backend=backend), out_video=out, show=False)
        frames, found = consume(stream, max_frames, lambda f: f.result.pose)
        return time.perf_counter() - start, frames, found


def our_photo_predictions(root: Path, runtime, workers: int) -> tuple[float, int, int]:
    """Seconds, files and poses for ``predict_photos`` without annotated copies: file -> label."""
    from posenet_cls.infer.photos import predict_photos

    start = time.perf_counter()
    files, found = consume(predict_photos(root, runtime, workers=workers), None, lambda r: r.status == Status.POSE)
    return time.perf_counter() - start, files, found


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
        rows.append(timed_row("end_to_end", stage, "bare MediaPipe loop, no classifier", 1, result, "photo"))
        for w in range(1, config.workers + 1):
            note(f"end to end: posenet-cls predict DIR --no-annotate, {w} worker(s)")
            rows.append(timed_row("end_to_end", stage, "posenet-cls predict DIR --no-annotate", w,
                             best_of(config.repeats, lambda: our_photo_predictions(photo_root, runtime, w)), "photo"))
    if video is not None:
        stage = "video: file -> label"
        ref = bare.get("video frames, tracking mode")
        if ref is None:
            note(f"end to end: bare MediaPipe tracking loop on {video.name}")
            result = best_of(config.repeats, lambda: bare_tracking_loop(video, config.max_frames))
        else:
            result = (ref["seconds"], ref["items"], ref["poses"])
        rows.append(timed_row("end_to_end", stage, "bare MediaPipe tracking loop, no classifier", 1, result, "frame"))
        loops = [("mediapipe", True, "posenet-cls predict VIDEO (annotated H.264)"),
                 ("mediapipe", False, "posenet-cls predict VIDEO --no-annotate")]
        if onnx_networks()[0] is not None:
            loops.append(("onnx", True, "posenet-cls predict VIDEO --backend onnx (annotated H.264)"))
        for backend, annotate, what in loops:
            note(f"end to end: {what}")
            rows.append(timed_row("end_to_end", stage, what, 1, best_of(
                config.repeats, lambda: our_video_loop(video, runtime, annotate, config.max_frames, backend)), "frame"))
    return with_ratios(rows, "per_s")
