"""``benchmark --only reps``: repetition counts against true counts, in RepCount's metrics.

A data folder holds ``counts.csv`` (``name,exercise,count``, optionally ``rep_frames``: each true
rep's ``start-end`` frames, ``;``-separated; more columns are ignored) and either
``poses/<name>.npy`` (RepCount's keypoints: float32 (frames, >=99), 33 landmarks x (x, y, z),
each axis min-max normalised per frame, zeros where no person was found; 30 frames per second)
or a video ``<name>.<ext>`` per row, tracked here with BlazePose. Every video is counted with
``auto`` twice, as ``predict VIDEO --exercise auto`` counts a file (the whole clip, :mod:`coaching.clip`)
and as the live counter does (online, a webcam's), and, where its exercise maps to a preset, with the preset.
MAE = mean |predicted - true| / true (a true count of 0 divides by 1); OBO = share with |predicted - true| <= 1.
With ``rep_frames``, each counted rep goes to the true rep it overlaps most: a true rep with none
is missed, one with several is counted twice or more; a counted rep overlapping none is extra.
``folds``: the same tables on two halves split by person (RepCount's ``stuN_`` prefix; other names
are one person each), for choosing settings that carry to new people.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from posenet_cls.bench.config import Progress
from posenet_cls.coaching.auto import AutoConfig
from posenet_cls.coaching.clip import ClipConfig
from posenet_cls.coaching.exercises import AUTO, BUILTIN, Exercise, ExerciseTracker, normalise_name
from posenet_cls.errors import PosenetError
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS

REPCOUNT_FPS = 30.0
COUNTS_FILE = "counts.csv"
# RepCount's exercise names -> our presets (the others have no preset: auto only)
PRESETS = {"squat": "squat", "push-up": "push-up", "jump-jack": "jumping-jack", "jumping-jack": "jumping-jack",
           "situp": "sit-up", "sit-up": "sit-up", "lunge": "lunge", "biceps-curl": "biceps-curl"}
# Published on RepCount-A's 152 test videos, all trained on RepCount's training split: MAE, OBO
PUBLISHED = (("RepNet", 0.995, 0.013), ("TransRAC", 0.443, 0.291),
             ("a simple state machine", 0.445, 0.493), ("PoseRAC (trained on RepCount)", 0.236, 0.560),
             ("PoseRAC, joint angles (2023, trained on RepCount)", 0.211, 0.599),
             ("Every Shot Counts (RGB, 2024, trained on RepCount)", 0.21, 0.56))
COUNTERS = ("auto", "live")  # the file counter (predict VIDEO --exercise auto) and the online one


@dataclass(frozen=True)
class Video:
    """One row of counts.csv: the true count and where its poses come from."""

    name: str
    exercise: str
    count: int
    path: Path
    rep_frames: tuple[tuple[int, int], ...] | None = None  # each true rep's first and last frame, when known

    @property
    def person(self) -> str:
        """Who is in the video: RepCount's ``stuN`` prefix, else the video's own name."""
        match = re.match(r"(stu\d+)_", self.name)
        return match.group(1) if match else self.name

    @property
    def fold(self) -> int:
        """0 or 1: the video's half of a two-fold split by person (a fixed hash of the person)."""
        return zlib.crc32(self.person.encode()) % 2


def _rep_frames(text: str | None, where: str) -> tuple[tuple[int, int], ...] | None:
    """``start-end;start-end`` -> ((start, end), ...); empty or missing: None."""
    if not text or not text.strip():
        return None
    out = []
    for part in text.split(";"):
        try:
            start, end = (int(v) for v in part.strip().split("-"))
        except ValueError:
            raise PosenetError(f"{where}: rep_frames must be start-end;start-end..., got {part.strip()!r}") from None
        out.append((start, end))
    return tuple(out)


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
            rep_frames = _rep_frames(row.get("rep_frames"), f"{table}:{line}")
            npy = folder / "poses" / f"{name}.npy"
            path = npy if npy.is_file() else next((v for v in videos if v.stem == name or v.name == name), None)
            if path is None:
                raise PosenetError(f"{table}:{line}: no poses/{name}.npy and no video {name}.* in {folder}")
            out.append(Video(name, normalise_name(row["exercise"]), count, path, rep_frames))
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


def count(frames, exercise: Exercise, normalised: bool, clip: ClipConfig | None = None,
          auto: AutoConfig = AutoConfig()) -> dict:
    """One exercise over frames of (time, pose or None): the tracker's summary (``reps``, ``rep_log``; for auto
    with ``clip`` also ``live_reps``, ``live_rep_log``). ``normalised``: RepCount's per-frame keypoints."""
    # Keypoints normalised per frame have lost the hips' place in the image: no walking check there.
    if normalised and clip is not None:
        clip = replace(clip, max_drift=None)
    tracker = ExerciseTracker(exercise, replace(auto, max_drift=None) if normalised else auto, whole_clip=clip)
    for t, pose in frames:
        tracker.update(t, pose)
    return tracker.summary()


def _scores(pairs: list[tuple[int, int]]) -> dict:
    errors = [abs(p - g) / max(g, 1) for p, g in pairs]
    return {"mae": round(float(np.mean(errors)), 3), "obo": round(float(np.mean([abs(p - g) <= 1 for p, g in pairs])), 3)}


def match_reps(true: tuple[tuple[float, float], ...], log: list[dict]) -> dict[str, int]:
    """Counted reps (start_s, end_s of their log) against true reps (start, end seconds): missed, doubled, extra.

    Each counted rep goes to the true rep it overlaps most in time. ``missed``: true reps that got none;
    ``doubled``: counted reps beyond the first of one true rep; ``extra``: counted reps that overlap no
    true rep (set-up, rests, walking off).
    """
    got = [0] * len(true)
    extra = 0
    for rep in log:
        overlaps = [min(e, rep["end_s"]) - max(s, rep["start_s"]) for s, e in true]
        best = int(np.argmax(overlaps)) if overlaps else -1
        if best < 0 or overlaps[best] <= 0:
            extra += 1
        else:
            got[best] += 1
    return {"true": len(true), "missed": got.count(0), "doubled": sum(max(n - 1, 0) for n in got), "extra": extra}


def _true_reps(video: Video, frames: list[tuple[float, np.ndarray | None]]) -> tuple[tuple[float, float], ...] | None:
    """The true reps in seconds (rep_frames through the frames' timestamps), None when not known."""
    if video.rep_frames is None or not frames:
        return None
    times = [t for t, _ in frames]
    last = len(times) - 1
    return tuple((times[min(s, last)], times[min(e, last)]) for s, e in video.rep_frames)


def count_video(video: Video, clip: ClipConfig = ClipConfig(), auto: AutoConfig = AutoConfig(),
                presets: bool = True) -> dict:
    """One video's counts: ``auto`` (the file counter), ``live`` (the online one), the preset's; rep-level matches."""
    normalised = video.path.suffix == ".npy"
    frames = list(repcount_frames(video.path)) if normalised else video_frames(video.path)
    summary = count(frames, BUILTIN[AUTO], normalised, clip, auto)
    preset = PRESETS.get(video.exercise) if presets else None
    result = {"name": video.name, "exercise": video.exercise, "person": video.person, "fold": video.fold,
              "true": video.count, "frames": len(frames), "auto": summary["reps"], "live": summary["live_reps"],
              "counted_by": summary["counted_by"], "period_s": summary["period_s"], "preset": preset,
              "preset_count": None if preset is None else count(frames, BUILTIN[preset], normalised)["reps"]}
    true = _true_reps(video, frames)
    if true is not None:
        result["auto_match"] = match_reps(true, summary["rep_log"])
        result["live_match"] = match_reps(true, summary["live_rep_log"])
    return result


def score_rows(results: list[dict]) -> list[dict]:
    """Per exercise and overall: MAE and OBO of each counter (and the presets), rep-level totals where known."""
    rows = []
    for exercise in sorted({r["exercise"] for r in results}) + ["all"]:
        chosen = [r for r in results if exercise in ("all", r["exercise"])]
        with_preset = [r for r in chosen if r["preset"] is not None]
        row: dict = {"exercise": exercise, "videos": len(chosen)}
        for counter in COUNTERS:
            row[counter] = _scores([(r[counter], r["true"]) for r in chosen])
            matched = [r[f"{counter}_match"] for r in chosen if f"{counter}_match" in r]
            if matched:
                row[f"{counter}_match"] = {k: sum(m[k] for m in matched) for k in matched[0]}
        row.update({"preset": None if exercise == "all" else chosen[0]["preset"],
                    "preset_scores": _scores([(r["preset_count"], r["true"]) for r in with_preset]) if with_preset else None,
                    "preset_videos": len(with_preset)})
        if with_preset and exercise == "all":  # auto on the same videos, beside the presets
            row["auto_on_preset_videos"] = _scores([(r["auto"], r["true"]) for r in with_preset])
        rows.append(row)
    return rows


def rep_rows(folder: str | Path, progress: Progress | None = None, folds: bool = False,
             clip: ClipConfig = ClipConfig(), auto: AutoConfig = AutoConfig(), presets: bool = True) -> dict:
    """Count every video of ``folder`` with auto (file and live) and its preset; per-video results and scores.

    ``folds``: also the rows of each half of a two-fold split by person (``report["folds"]``).
    """
    note = progress or (lambda _: None)
    videos = read_counts(folder)
    results = []
    for i, video in enumerate(videos, start=1):
        results.append(count_video(video, clip, auto, presets))
        if i % 10 == 0 or i == len(videos):
            note(f"reps: {i}/{len(videos)} videos counted")
    report = {"data": str(folder), "videos": results, "rows": score_rows(results),
              "published": [{"method": m, "mae": mae, "obo": obo} for m, mae, obo in PUBLISHED]}
    if folds:
        report["folds"] = [{"fold": f, "people": sorted({r["person"] for r in results if r["fold"] == f}),
                            "rows": score_rows([r for r in results if r["fold"] == f])}
                           for f in (0, 1) if any(r["fold"] == f for r in results)]
    return report


def _table(rows: list[dict]) -> list[str]:
    """One markdown table: per exercise, each counter's MAE and OBO and rep-level misses, doubles, extras."""
    def cell(scores: dict | None) -> str:
        return " | " if scores is None else f"{scores['mae']:.3f} | {scores['obo']:.2f}"

    def reps(matched: dict | None) -> str:
        return "" if matched is None else f"{matched['missed']} / {matched['doubled']} / {matched['extra']}"

    with_reps = any("auto_match" in r for r in rows)
    head = ("| exercise | videos | auto MAE | auto OBO | live MAE | live OBO |"
            + (" true reps | auto missed / doubled / extra | live missed / doubled / extra |" if with_reps else "")
            + " preset | preset MAE | preset OBO |")
    lines = [head, "|---|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if with_reps else "") + "---|---:|---:|"]
    for r in rows:
        preset = r["preset"] or ("" if r["exercise"] != "all" else f"{r['preset_videos']} videos")
        name = "**all**" if r["exercise"] == "all" else r["exercise"]
        counts = (f" {r.get('auto_match', {}).get('true', '')} | {reps(r.get('auto_match'))} | {reps(r.get('live_match'))} |"
                  if with_reps else "")
        lines.append(f"| {name} | {r['videos']} | {cell(r['auto'])} | {cell(r['live'])} |{counts} {preset} | "
                     f"{cell(r['preset_scores'])} |")
    return lines


def render_reps_markdown(report: dict, command: str) -> str:
    """The reps report as markdown: per exercise and overall (each fold too, when split), then the published figures."""
    lines = [f"`{command}`", "", f"Data: {report['data']}: {len(report['videos'])} videos.", "",
             "### Repetition counting", "",
             ("MAE = mean |predicted - true| / true (lower is better); OBO = share of videos within one rep "
             "(higher is better). auto: what `predict VIDEO --exercise auto` counts in a file (the whole clip); "
             "live: the online counter (webcams, the browser); neither needs an exercise name or thresholds. "
             "preset: the named exercise's angle thresholds, where one exists. Rep-level: each counted rep goes to "
             "the true rep it overlaps most; missed: true reps with none; doubled: counted beyond the first; extra: "
             "overlapping no true rep (set-up, rests)."), ""]
    lines += _table(report["rows"])
    every = report["rows"][-1]
    if every.get("auto_on_preset_videos"):
        s = every["auto_on_preset_videos"]
        lines.append(f"\nauto on the {every['preset_videos']} videos that have a preset: MAE {s['mae']:.3f}, OBO {s['obo']:.2f}.")
    for fold in report.get("folds", []):
        title = (f"#### Fold {fold['fold']}: {fold['rows'][-1]['videos']} videos of {len(fold['people'])} people "
                 f"({', '.join(fold['people'])})")
        lines += ["", title, ""]
        lines += _table(fold["rows"])
    lines += ["", "Published on RepCount-A's 152 test videos (for scale; a different set of videos):", "",
              "| method | MAE | OBO |", "|---|---:|---:|"]
    lines += [f"| {p['method']} | {p['mae']:.3f} | {p['obo']:.3f} |" for p in report["published"]]
    return "\n".join(lines) + "\n"
