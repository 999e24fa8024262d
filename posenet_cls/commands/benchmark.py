"""``posenet-cls benchmark``: every classifier backend and every stage, timed side by side in one run."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from posenet_cls.commands._parsing import add_command

DEFAULT_OUT = "benchmark"
DEFAULT_VIDEO = Path("video") / "squat_1rep.mp4"  # under the data folder
REPS = "reps"  # not a timing section: counts against true counts, with its own --data
SECTION_FLAGS = {"classifiers": "classifiers", "extraction": "extraction", "backends": "backends",
                 "end-to-end": "end_to_end"}

EXAMPLES = """\
  posenet-cls benchmark                                   # yoga8 and the squat clip; takes minutes
  posenet-cls benchmark --quick                           # a smoke run: few photos, frames and calls
  posenet-cls benchmark --data poses.csv --only classifiers
  posenet-cls benchmark --only backends                   # MediaPipe vs the onnxruntime BlazePose, batch 1..256
  posenet-cls benchmark --data photos/ --video clip.mp4 --workers 4 --out bench/
  posenet-cls benchmark --json > benchmark.json
  posenet-cls benchmark --only reps                       # rep counting on the data folder's repcount/ (MAE, OBO)
  posenet-cls benchmark --only reps --data clips/         # your videos: clips/counts.csv (name,exercise,count) + clips/NAME.mp4
  posenet-cls benchmark --only reps --folds               # also each half of a two-fold split by person

Sections: classifiers (onnxruntime MLP, torch MLP, SVC, the article's raw-coordinate SVC, k-NN,
trained on one seeded split and timed on the same held-out poses), extraction (static and
tracking mode, ours next to a bare MediaPipe loop, 1..N workers), backends (photos/s and tracking
frames/s of MediaPipe and of the onnxruntime BlazePose at batch 1, 16, 64, 256, and read + decode
alone; skipped with a note until `python -m posenet_cls.pose.blazepose` has made the networks) and
end to end (photos/s from file to label, video frames/s). Each row's 'vs' is its figure over the reference row's, measured
in the same run. Writes OUT/benchmark.md and OUT/benchmark.json.
reps (runs alone): counts repetitions with --exercise auto (auto: the file counter, which sees the
whole clip; live: the online counter of webcams) and with the matching preset on a folder in
RepCount's format (counts.csv + poses/NAME.npy) or of videos with a counts.csv, and prints MAE and
OBO per exercise and overall beside published figures, with rep-level misses, double counts and
extras where counts.csv has rep_frames. Writes OUT/reps.md and OUT/reps.json.
"""


def register(sub) -> None:
    p = add_command(sub, "benchmark", "Time every classifier backend and pipeline stage side by side.", EXAMPLES)
    p.add_argument("--data", help="class-folder tree, or keypoint table .csv, .parquet or shard folder "
                        "(default: the data folder's yoga8)")
    p.add_argument("--video", help="video for the tracking and video rows (default: the data folder's "
                   f"{DEFAULT_VIDEO.as_posix()}, skipped when missing)")
    p.add_argument("--no-video", action="store_true", help="skip the video rows")
    p.add_argument("-o", "--out", default=DEFAULT_OUT,
                   help=f"folder for benchmark.md and benchmark.json (default {DEFAULT_OUT}/)")
    p.add_argument("--only", action="append", choices=sorted([*SECTION_FLAGS, REPS]),
                   help="run only this section (repeatable; reps runs alone)")
    p.add_argument("--workers", type=int, help="extraction rows use 1..N worker processes (default: all cores)")
    p.add_argument("--limit", type=int, help="use N photos spread over the classes (default: all)")
    p.add_argument("--calls", type=int, help="single-pose calls per classifier backend, at most (default 20000)")
    p.add_argument("--seconds", type=float, help="time budget of one latency or throughput measurement (default 2)")
    p.add_argument("--repeats", type=int, help="runs of each extraction and end-to-end row, fastest kept (default 1)")
    p.add_argument("--quick", action="store_true", help="few photos, frames, epochs and calls: a smoke run")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the markdown tables")
    p.add_argument("--folds", action="store_true",
                   help="--only reps: also the tables of each half of a two-fold split by person (stuN_ prefix)")
    p.set_defaults(func=run)


def command_line(args) -> str:
    """The command line that reproduces this run (the options given, in a fixed order)."""
    parts = ["posenet-cls", "benchmark"]
    for name in ("data", "video", "out", "workers", "limit", "calls", "seconds", "repeats"):
        value = getattr(args, name)
        if value is not None and not (name == "out" and value == DEFAULT_OUT):
            parts += [f"--{name}", str(value)]
    for section in args.only or ():
        parts += ["--only", section]
    parts += [f"--{flag.replace('_', '-')}" for flag in ("no_video", "quick", "folds", "json") if getattr(args, flag)]
    return shlex.join(parts)


def resolve_video(video: str | None, no_video: bool, data_root: Path) -> Path | None:
    """The video to time: the one given (which must exist), else the data folder's squat clip when present."""
    from posenet_cls.errors import PosenetError

    if no_video:
        return None
    if video is not None:
        if not Path(video).is_file():
            raise PosenetError(f"{video}: no such video file")
        return Path(video)
    default = data_root / DEFAULT_VIDEO
    return default if default.is_file() else None


def run(args) -> int:
    from dataclasses import replace

    from posenet_cls.bench.config import QUICK, BenchConfig
    from posenet_cls.bench.report import render_markdown, write_report
    from posenet_cls.bench.run import run_benchmark
    from posenet_cls.config import data_dir

    if args.only and REPS in args.only:
        return _reps(args)
    if args.folds:
        from posenet_cls.errors import PosenetError

        raise PosenetError("--folds is for --only reps (it splits the counted videos by person)")
    base = QUICK if args.quick else BenchConfig()
    options = ("workers", "limit", "calls", "seconds", "repeats")
    given = {k: getattr(args, k) for k in options if getattr(args, k) is not None}
    if args.only:
        given["sections"] = tuple(dict.fromkeys(SECTION_FLAGS[s] for s in args.only))
    config = replace(base, **given)
    data = Path(args.data) if args.data else data_dir() / "yoga8"
    video = resolve_video(args.video, args.no_video, data_dir())
    progress = _progress()
    cmd = command_line(args)
    report = run_benchmark(data, video, config, progress)
    md, js = write_report(report, cmd, args.out)
    if args.json:
        print(json.dumps({"command": cmd, **report}))
    else:
        print(render_markdown(report, cmd), end="")
    progress(f"written: {md}, {js}")
    return 0



def _reps(args) -> int:
    """``--only reps``: count the data folder's videos and score the counts."""
    from posenet_cls.bench.report import write_files
    from posenet_cls.bench.reps import render_reps_markdown, rep_rows
    from posenet_cls.config import data_dir
    from posenet_cls.errors import PosenetError

    if set(args.only) != {REPS}:
        raise PosenetError("--only reps runs alone (its --data is a folder of counts, not photos)")
    progress = _progress()
    cmd = command_line(args)
    report = rep_rows(Path(args.data) if args.data else data_dir() / "repcount", progress, folds=args.folds)
    markdown = render_reps_markdown(report, cmd)
    md, js = write_files(args.out, {"reps.md": markdown, "reps.json": json.dumps({"command": cmd, **report}, indent=1)})
    if args.json:
        print(json.dumps({"command": cmd, **report}))
    else:
        print(markdown, end="")
    progress(f"written: {md}, {js}")
    return 0


def _progress():
    """The benchmark's progress lines on stderr, each with the seconds since this call."""
    start = time.perf_counter()

    def progress(line: str) -> None:
        print(f"benchmark [{time.perf_counter() - start:4.0f}s] {line}", file=sys.stderr, flush=True)

    return progress
