"""``posenet-cls extract``: BlazePose keypoints from a class-folder tree, a photo, a video or a webcam."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from ..cli import add_command
from ..errors import PosenetError

EXAMPLES = """\
  posenet-cls extract ../shared/data/yoga8 -o poses.csv          # class folders -> keypoint table
  posenet-cls extract ../shared/data/yoga8 -o poses.csv --workers 2
  posenet-cls extract photo.jpg --json                            # one photo -> 33 x (x, y, z, visibility)
  posenet-cls extract squat.mp4 -o squat.jsonl                    # one JSON line per frame
  posenet-cls extract --webcam 0 -o live.jsonl                    # Ctrl-C to stop

A folder run writes poses.csv (source, label, sha1, attempt, <landmark>_<x|y|z|visibility>)
and poses.report.json (files with no pose or unreadable, duplicates). Interrupted? Run the
same command again: it resumes from poses.csv.partial.
"""


def register(sub) -> None:
    p = add_command(sub, "extract", "Extract BlazePose keypoints from photos, videos or a webcam.", EXAMPLES)
    p.add_argument("source", nargs="?", help="class-folder tree (DATA_DIR/<label>/<photo>), photo or video file")
    p.add_argument("--webcam", type=int, metavar="N", help="read webcam number N instead of a file")
    p.add_argument("-o", "--out", help="output: .csv table for a folder (default poses.csv), .json/.jsonl otherwise")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes for a folder (default: all cores)")
    p.add_argument("--pose-model", default="full", help="full (default, ships with mediapipe), lite, heavy or a .task file")
    p.add_argument("--min-confidence", type=float, default=0.5, help="BlazePose detection/tracking confidence (default 0.5)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    if (args.source is None) == (args.webcam is None):
        raise PosenetError("give either a SOURCE path or --webcam N")
    if args.webcam is not None:
        return _video(args.webcam, args)
    source = Path(args.source)
    if source.is_dir():
        return _folder(source, args)
    if not source.exists():
        raise PosenetError(f"{source}: no such file or folder")
    from ..extract import is_video

    if is_video(source):
        return _video(source, args)
    return _photo(source, args)


def _folder(source: Path, args) -> int:
    from tqdm import tqdm

    from ..dataset import build_dataset

    out = Path(args.out or "poses.csv")

    def progress(results, total, resumed):
        bar = tqdm(results, total=total, initial=resumed, unit="photo", desc="extract", disable=None)
        for r in bar:
            yield r

    report = build_dataset(source, out, model=args.pose_model, workers=args.workers, progress=progress)
    if args.json:
        print(report.to_json())
        return 0
    print(f"{report.poses} poses from {report.files} files -> {out}" + (f" ({report.resumed} resumed)" if report.resumed else ""))
    print(f"attempts that found the pose: {report.attempts}")
    for kind in ("no_pose", "unreadable"):
        for item in getattr(report, kind):
            print(f"  {kind}: {item['source']}: {item['reason']}")
    for group in report.duplicates:
        print(f"  identical files: {', '.join(group)}")
    print(f"report: {out.with_name(out.stem + '.report.json')}")
    return 0


def pose_json(keypoints) -> list[list[float]] | None:
    """A (33, 4) pose as nested lists rounded for JSON, or None."""
    return None if keypoints is None else [[round(float(v), 6) for v in row] for row in keypoints]


def _photo(source: Path, args) -> int:
    from ..extract import extract_photo
    from ..schema import LANDMARK_NAMES

    found = extract_photo(source, model=args.pose_model)
    record = {"source": str(source), "pose": found.keypoints is not None, "attempt": found.attempt or None,
              "landmarks": list(LANDMARK_NAMES), "keypoints": pose_json(found.keypoints)}
    if args.out:
        Path(args.out).write_text(json.dumps(record) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(record))
    elif found.keypoints is None:
        print(f"{source}: no person found")
    else:
        print(f"{source}: pose found (attempt: {found.attempt}), 33 landmarks" + (f" -> {args.out}" if args.out else ""))
    return 0


def _video(source, args) -> int:
    from tqdm import tqdm

    from ..extract import VideoReader, extract_video

    total = None
    if not isinstance(source, int):
        with VideoReader(source) as video:
            total = video.frame_count
    tmp = Path(str(args.out) + ".tmp") if args.out else None
    frames = found = 0
    complete = False
    try:
        with open(tmp, "w", encoding="utf-8") if tmp else contextlib.nullcontext() as out:
            bar = tqdm(extract_video(source, model=args.pose_model, min_confidence=args.min_confidence),
                       total=total, unit="frame", desc="extract", disable=True if args.json else None)
            try:
                for fp in bar:
                    line = json.dumps({"frame": fp.frame, "timestamp_s": round(fp.timestamp_s, 4),
                                       "pose": fp.keypoints is not None, "keypoints": pose_json(fp.keypoints)})
                    frames += 1
                    found += fp.keypoints is not None
                    if out:
                        out.write(line + "\n")
                    if args.json:
                        print(line, flush=True)
            except KeyboardInterrupt:
                if not isinstance(source, int):
                    raise  # a file stopped half-way is not a result; a webcam stops this way
            complete = True
    finally:
        if tmp and tmp.exists():
            if complete:
                os.replace(tmp, args.out)
            else:
                tmp.unlink()
    if not args.json:
        name = f"webcam {source}" if isinstance(source, int) else str(source)
        print(f"{name}: person in {found}/{frames} frames" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
