"""``benchmark --only reps``: repetition counts against true counts, in RepCount's metrics.

A data folder holds ``counts.csv`` (``name,exercise,count``; more columns are ignored) and either
``poses/<name>.npy`` (RepCount's keypoints: float32 (frames, >=99), 33 landmarks x (x, y, z),
each axis min-max normalised per frame, zeros where no person was found; 30 frames per second)
or a video ``<name>.<ext>`` per row, tracked here with BlazePose. Every video is counted with
``auto`` and, where its exercise maps to a preset, with the preset too.
MAE = mean |predicted - true| / true (a true count of 0 divides by 1); OBO = share with |predicted - true| <= 1.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from posenet_cls.bench.config import Progress
from posenet_cls.coaching.auto import AutoConfig
from posenet_cls.coaching.exercises import AUTO, BUILTIN, Exercise, ExerciseTracker, normalise_name
from posenet_cls.errors import PosenetError
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS

REPCOUNT_FPS = 30.0
COUNTS_FILE = "counts.csv"
# RepCount's exercise names -> our presets (the others have no preset: auto only)
PRESETS = {"squat": "squat", "push-up": "push-up", "jump-jack": "jumping-jack", "jumping-jack": "jumping-jack",
           "situp": "sit-up", "sit-up": "sit-up", "lunge": "lunge", "biceps-curl": "biceps-curl"}
# Published on RepCount-A's 152 test videos (TransRAC's table; PoseRAC, 2023): MAE, OBO
PUBLISHED = (("RepNet", 0.995, 0.013), ("TransRAC", 0.443, 0.291),
             ("a simple state machine", 0.445, 0.493), ("PoseRAC (trained on RepCount)", 0.236, 0.560))


@dataclass(frozen=True)
class Video:
    """One row of counts.csv: the true count and where its poses come from."""

    name: str
    exercise: str
    count: int
    path: Path


def read_counts(folder: str | Path) -> list[Video]:
    """The videos of a counts folder, each with its .npy keypoints or its video file; bad rows name the file and line."""
    from posenet_cls.io.video import is_video

    folder = Path(folder)
    table = folder / COUNTS_FILE
    if not table.is_file():
        raise PosenetError(f"{folder}: no {COUNTS_FILE} (give a folder like ../shared/data/repcount: "
                           f"{COUNTS_FILE} with name,exercise,count and poses/<name>.npy or <name>.mp4)")
    videos = [p for p in folder.iterdir() if p.is_file() and is_video(p)]
    out = []
    with table.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"name", "exercise", "count"} - set(reader.fieldnames or ())
        if missing:
            raise PosenetError(f"{table}: missing column '{sorted(missing)[0]}' (need name,exercise,count)")
        for line, row in enumerate(reader, start=2):
            name = row["name"].strip()
            try:
                count = int(row["count"])
            except (TypeError, ValueError):
                raise PosenetError(f"{table}:{line}: count must be a whole number, got {row['count']!r}") from None
            if count < 0:
                raise PosenetError(f"{table}:{line}: count must be >= 0, got {count}")
            npy = folder / "poses" / f"{name}.npy"
            path = npy if npy.is_file() else next((v for v in videos if v.stem == name or v.name == name), None)
            if path is None:
                raise PosenetError(f"{table}:{line}: no poses/{name}.npy and no video {name}.* in {folder}")
            out.append(Video(name, normalise_name(row["exercise"]), count, path))
    if not out:
        raise PosenetError(f"{table}: no rows")
    return out


def repcount_frames(path: Path) -> Iterator[tuple[float, np.ndarray | None]]:
    """(time, pose (33, 4) with visibility 1, or None) per frame of a RepCount keypoint file."""
    try:
        array = np.load(path)
    except (OSError, ValueError) as err:
        raise PosenetError(f"{path}: not a NumPy keypoint file ({err})") from None
    if array.ndim != 2 or array.shape[1] < NUM_LANDMARKS * 3:
        raise PosenetError(f"{path}: expected (frames, >= {NUM_LANDMARKS * 3}) keypoints, got shape {array.shape}")
    xyz = array[:, :NUM_LANDMARKS * 3].reshape(len(array), NUM_LANDMARKS, 3)
    for i, frame in enumerate(xyz):
        if not np.any(frame):
            yield i / REPCOUNT_FPS, None
            continue
        pose = np.ones((NUM_LANDMARKS, NUM_CHANNELS), dtype=np.float32)
        pose[:, :3] = frame
        yield i / REPCOUNT_FPS, pose


def video_frames(path: Path) -> list[tuple[float, np.ndarray | None]]:
    """(time, raw pose or None) per frame of a real video, tracked with BlazePose (MediaPipe)."""
    from posenet_cls.pose.extract import extract_video

    return [(f.timestamp_s, f.keypoints) for f in extract_video(path)]


def count(frames, exercise: Exercise, normalised: bool) -> int:
    """Reps of one exercise over frames of (time, pose or None); ``normalised``: RepCount's per-frame keypoints."""
    # Keypoints normalised per frame have lost the hips' place in the image: no walking check there.
    tracker = ExerciseTracker(exercise, replace(AutoConfig(), max_drift=None) if normalised else AutoConfig())
    for t, pose in frames:
        tracker.update(t, pose)
    return tracker.reps


def _scores(pairs: list[tuple[int, int]]) -> dict:
    errors = [abs(p - g) / max(g, 1) for p, g in pairs]
    return {"mae": round(float(np.mean(errors)), 3), "obo": round(float(np.mean([abs(p - g) <= 1 for p, g in pairs])), 3)}


def rep_rows(folder: str | Path, progress: Progress | None = None) -> dict:
    """Count every video of ``folder`` with auto (and its preset); per-video results, per-exercise and overall scores."""
    note = progress or (lambda _: None)
    videos = read_counts(folder)
    results = []
    for i, video in enumerate(videos, start=1):
        normalised = video.path.suffix == ".npy"
        frames = list(repcount_frames(video.path)) if normalised else video_frames(video.path)
        preset = PRESETS.get(video.exercise)
        result = {"name": video.name, "exercise": video.exercise, "true": video.count, "frames": len(frames),
                  "auto": count(frames, BUILTIN[AUTO], normalised), "preset": preset,
                  "preset_count": None if preset is None else count(frames, BUILTIN[preset], normalised)}
        results.append(result)
        if i % 10 == 0 or i == len(videos):
            note(f"reps: {i}/{len(videos)} videos counted")
    rows = []
    for exercise in sorted({r["exercise"] for r in results}) + ["all"]:
        chosen = [r for r in results if exercise in ("all", r["exercise"])]
        with_preset = [r for r in chosen if r["preset"] is not None]
        row = {"exercise": exercise, "videos": len(chosen), "auto": _scores([(r["auto"], r["true"]) for r in chosen]),
               "preset": None if exercise == "all" else (chosen[0]["preset"]),
               "preset_scores": _scores([(r["preset_count"], r["true"]) for r in with_preset]) if with_preset else None,
               "preset_videos": len(with_preset)}
        if with_preset and exercise == "all":  # auto on the same videos, beside the presets
            row["auto_on_preset_videos"] = _scores([(r["auto"], r["true"]) for r in with_preset])
        rows.append(row)
    return {"data": str(folder), "videos": results, "rows": rows,
            "published": [{"method": m, "mae": mae, "obo": obo} for m, mae, obo in PUBLISHED]}


def render_reps_markdown(report: dict, command: str) -> str:
    """The reps report as markdown: per exercise and overall, then the published figures."""
    def cell(scores: dict | None) -> str:
        return "" if scores is None else f"{scores['mae']:.3f} | {scores['obo']:.2f}"

    lines = [f"`{command}`", "", f"Data: {report['data']}: {len(report['videos'])} videos.", "",
             "### Repetition counting", "",
             "MAE = mean |predicted - true| / true (lower is better); OBO = share of videos within one rep "
             "(higher is better). auto: no exercise name, no thresholds; preset: the named exercise's "
             "angle thresholds, where one exists.", "",
             "| exercise | videos | auto MAE | auto OBO | preset | preset MAE | preset OBO |",
             "|---|---:|---:|---:|---|---:|---:|"]
    for r in report["rows"]:
        preset = r["preset"] or ("" if r["exercise"] != "all" else f"{r['preset_videos']} videos")
        scores = cell(r["preset_scores"]) or " | "
        name = "**all**" if r["exercise"] == "all" else r["exercise"]
        lines.append(f"| {name} | {r['videos']} | {cell(r['auto'])} | {preset} | {scores} |")
    every = report["rows"][-1]
    if every.get("auto_on_preset_videos"):
        s = every["auto_on_preset_videos"]
        lines.append(f"\nauto on the {every['preset_videos']} videos that have a preset: MAE {s['mae']:.3f}, OBO {s['obo']:.2f}.")
    lines += ["", "Published on RepCount-A's 152 test videos (for scale; a different set of videos):", "",
              "| method | MAE | OBO |", "|---|---:|---:|"]
    lines += [f"| {p['method']} | {p['mae']:.3f} | {p['obo']:.3f} |" for p in report["published"]]
    return "\n".join(lines) + "\n"
