"""Form checks measured: each preset check's values per rep on real reps, and faulty reps made from them.

Usage: .venv/bin/python scripts/form_study.py [--repcount ../shared/data/repcount] [--seeds 4] [--noise 1e-3]

1. The example clips (../shared/data/video): the squat preset's checks per rep, in 2D and in 3D (world
   landmarks), and the plank's checks per hold.
2. RepCount's shared videos whose exercise has a preset: per exercise and check, the distribution of the
   values over the counted reps and the share of reps each check fails (keypoints min-max normalised per
   axis and frame: 2D only, angles distorted).
3. Faults made from real landmarks: a shallow squat (every frame's knee flexion scaled by one factor per clip
   or video, so that the median rep's deepest frame reads about 105 deg: counted, but not deep), a sagging
   plank (hips lowered until the body line sags about 30 deg more), each flagged or not; the same with
   Gaussian noise of --noise (normalised units) on every landmark's x and y, --seeds seeds. RepCount's
   squats and push-ups get the same shallow and sag faults.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS = ("squat_1rep", "squat_1rep_head_cut", "plank_hold")


def clip_frames(path: Path) -> list[tuple[float, np.ndarray | None, np.ndarray | None, float]]:
    """(time, keypoints, world, aspect) per frame of a video, BlazePose tracking (MediaPipe)."""
    from posenet_cls.io.video import VideoReader
    from posenet_cls.pose.mediapipe_backend import PoseExtractor

    frames = []
    with VideoReader(path) as video, PoseExtractor(tracking=True) as extractor:
        for _, t, rgb in video:
            found = extractor.frame(rgb, t)
            kp, world = found if found is not None else (None, None)
            frames.append((t, kp, world, rgb.shape[1] / rgb.shape[0]))
    return frames


def run(frames, exercise, change=None, noise: float = 0.0, seed: int = 0, world: bool = True) -> dict:
    """The exercise's summary over frames; ``change(kp, aspect)`` makes a fault, ``noise`` jitters x, y."""
    from posenet_cls.coaching.exercises import ExerciseTracker

    rng = np.random.default_rng(seed)
    tracker = ExerciseTracker(exercise)
    for t, kp, w, aspect in frames:
        if kp is not None:
            kp = kp if change is None else change(kp, aspect, t)
            if noise:
                kp = kp.copy()
                kp[:, :2] += rng.normal(0, noise, (kp.shape[0], 2)).astype(np.float32)
        tracker.update(t, kp, w if world else None, aspect)
    return tracker.summary()


def minmax(kp: np.ndarray) -> np.ndarray:
    """A raw pose with x and y min-max normalised over its 33 landmarks, as RepCount's keypoints are."""
    out = kp.copy()
    lo, hi = kp[:, :2].min(axis=0), kp[:, :2].max(axis=0)
    out[:, :2] = (kp[:, :2] - lo) / np.maximum(hi - lo, 1e-6)
    return out


def shallower(log: list[dict], check: str, target: float):
    """A change that scales every frame's knee flexion by one factor: the median rep's deepest frame then reads
    ``target`` degrees (None: no rep to scale)."""
    from posenet_cls.coaching.form import shallow

    bottoms = [r["checks"][check] for r in log if r["checks"][check] is not None]
    if not bottoms:
        return None
    factor = (180 - target) / (180 - float(np.median(bottoms)))
    return lambda kp, aspect, t: shallow(kp, factor, aspect)


def renormalised(change):
    """A change followed by RepCount's per-frame min-max normalisation."""
    return lambda kp, aspect, t: minmax(change(kp, aspect, t))


def in_3d(exercise):
    """The same exercise with every angle check measured from world landmarks."""
    return replace(exercise, checks=tuple(replace(c, space="world") if c.angle else c for c in exercise.checks))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"{v[0]:g}..{v[1]:g}"
    return f"{v:g}"


def clip_tables(clips: dict, seeds: int, noise: float) -> None:
    from posenet_cls.coaching.exercises import BUILTIN
    from posenet_cls.coaching.form import lower_hips

    squat, plank = BUILTIN["squat"], BUILTIN["plank"]
    print("\n## Example clips: each rep's check values (2D image angles; 3D from world landmarks)\n")
    print("| clip | exercise | space | rep | " + " | ".join(c.name for c in squat.checks) + " | faults |")
    print("|---|---|---|---:|" + "---:|" * len(squat.checks) + "---|")
    for name in CLIPS[:2]:
        for space, ex, how in (("2D", squat, None), ("3D", in_3d(squat), None),
                               ("2D, min-max normalised", squat, lambda kp, a, t: minmax(kp))):
            for rep in run(clips[name], ex, how, world=how is None)["rep_log"]:
                vals = " | ".join(_fmt(rep["checks"][c.name]) for c in squat.checks)
                print(f"| {name} | squat | {space} | {rep['index']} | {vals} | {', '.join(rep['faults']) or 'none'} |")
    print("\n| clip | exercise | space | hold | s | " + " | ".join(c.name for c in plank.checks) + " | faults |")
    print("|---|---|---|---:|---:|" + "---:|" * len(plank.checks) + "---|")
    for space, ex, how in (("2D", plank, None), ("3D", in_3d(plank), None),
                           ("2D, min-max normalised", plank, lambda kp, a, t: minmax(kp))):
        for i, hold in enumerate(run(clips["plank_hold"], ex, how, world=how is None)["holds"]["holds"], start=1):
            vals = " | ".join(_fmt(hold["checks"][c.name]) for c in plank.checks)
            print(f"| plank_hold | plank | {space} | {i} | {hold['duration_s']:.2f} | {vals} | "
                  f"{', '.join(hold['faults']) or 'none'} |")

    print(f"\n## Faulty reps made from the clips' real landmarks; noise {noise:g} on x, y, {seeds} seeds\n")
    print("| clip | made | reps (or holds) counted | flagged | by | values |")
    print("|---|---|---|---|---|---|")
    for name in CLIPS[:2]:
        made = shallower(run(clips[name], squat)["rep_log"], "depth", 105)
        cases = [("real", None), ("shallow (knee flexion scaled: the bottom reads 105 deg)", made)]
        for label, change in cases:
            _fault_row(name, label, [run(clips[name], squat, change, noise if s else 0.0, s, world=False)
                                     for s in range(seeds + 1)], "reps", "depth")
    for label, change in (("real", None), ("hips lowered 30 deg", lambda kp, a, t: lower_hips(kp, 30, a))):
        _fault_row("plank_hold", label, [run(clips["plank_hold"], plank, change, noise if s else 0.0, s, world=False)
                                         for s in range(seeds + 1)], "holds", "sag")


def _fault_row(name: str, label: str, summaries: list[dict], unit: str, check: str) -> None:
    """One row: counts, flagged runs, the faults and the check's values, over the clean run and the noisy ones."""
    entries = [s["rep_log"] if unit == "reps" else s["holds"]["holds"] for s in summaries]
    counts = [len(e) for e in entries]
    flagged = sum(bool(e) and all(x["faults"] for x in e) for e in entries)
    faults = sorted({f for e in entries for x in e for f in x["faults"]})
    values = [_fmt(x["checks"][check]) for e in entries for x in e]
    print(f"| {name} | {label} | {', '.join(map(str, counts))} | {flagged} of {len(entries)} runs | "
          f"{', '.join(faults) or 'none'} | {check}: {', '.join(values)} |")


def repcount_tables(folder: Path, seeds: int, noise: float) -> None:
    from posenet_cls.bench.reps import PRESETS, read_counts, repcount_frames
    from posenet_cls.coaching.exercises import BUILTIN
    from posenet_cls.coaching.form import lower_hips

    videos = [v for v in read_counts(folder) if v.exercise in PRESETS]
    per: dict[str, list[dict]] = {}
    frames_of = {}
    for v in videos:
        frames_of[v.name] = [(t, kp, None, 1.0) for t, kp in repcount_frames(v.path)]
        per.setdefault(PRESETS[v.exercise], []).extend(run(frames_of[v.name], BUILTIN[PRESETS[v.exercise]])["rep_log"])
    print(f"\n## RepCount: {len(videos)} videos with a preset, each check's values over the counted reps "
          "(2D, per-frame min-max normalised keypoints)\n")
    print("| exercise | videos | reps | check | bounds | p10 | median | p90 | failed |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|")
    for preset, reps in sorted(per.items()):
        n_videos = sum(PRESETS[v.exercise] == preset for v in videos)
        for c in BUILTIN[preset].checks:
            vals = [r["checks"][c.name] for r in reps if r["checks"][c.name] is not None]
            if c.kind == "range":  # the side a fault shows on: the highest value against max, the lowest against min
                vals = [v[1] if c.high is not None else v[0] for v in vals]
            q = np.percentile(vals, [10, 50, 90]) if vals else [np.nan] * 3
            failed = sum(c.name in r["faults"] for r in reps)
            print(f"| {preset} | {n_videos} | {len(reps)} | {c.name} | {c.bounds()} | {q[0]:.1f} | {q[1]:.1f} | "
                  f"{q[2]:.1f} | {failed / max(len(reps), 1):.0%} |")

    print(f"\n## RepCount: faults made from the real reps (clean run, then {seeds} seeds of noise {noise:g})\n")
    print("| exercise | made | reps counted | share of reps flagged by the check |")
    print("|---|---|---|---|")
    real = {v.name: run(frames_of[v.name], BUILTIN[PRESETS[v.exercise]])["rep_log"] for v in videos}
    cases = [("squat", "depth", "real", lambda name: None),
             ("squat", "depth", "shallow (knee flexion scaled: the median bottom reads 105 deg)",
              lambda name: renormalised(shallower(real[name], "depth", 105) or (lambda kp, a, t: kp))),
             ("push-up", "sag", "real", lambda name: None),
             ("push-up", "sag", "hips lowered 30 deg", lambda name: lambda kp, a, t: minmax(lower_hips(kp, 30, a)))]
    for preset, check, label, make in cases:
        chosen = [v for v in videos if PRESETS[v.exercise] == preset]
        counted, shares = [], []
        for s in range(seeds + 1):
            reps = [r for v in chosen
                    for r in run(frames_of[v.name], BUILTIN[preset], make(v.name), noise if s else 0.0, s)["rep_log"]]
            counted.append(len(reps))
            shares.append(f"{sum(check in r['faults'] for r in reps) / max(len(reps), 1):.0%}")
        print(f"| {preset} | {label} | {', '.join(map(str, counted))} | {check}: {', '.join(shares)} |")


def main() -> int:
    from posenet_cls.config import data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repcount", type=Path, default=None, help="RepCount folder (default: the shared data's)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--noise", type=float, default=1e-3)
    p.add_argument("--skip-repcount", action="store_true")
    args = p.parse_args()
    root = data_dir()
    clips = {name: clip_frames(root / "video" / f"{name}.mp4") for name in CLIPS}
    clip_tables(clips, args.seeds, args.noise)
    if not args.skip_repcount:
        repcount_tables(args.repcount or root / "repcount", args.seeds, args.noise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
