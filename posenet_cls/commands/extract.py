"""``posenet-cls extract``: BlazePose keypoints from a class-folder tree, a photo, a video or a webcam."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from posenet_cls.commands._parsing import add_backend_arguments, add_command, add_max_people_argument, pose_options
from posenet_cls.pose.outcomes import Status
from posenet_cls.io.files import atomic_path, write_text_atomic
from posenet_cls.errors import PosenetError

EXAMPLES = """\
  posenet-cls extract ../shared/data/yoga8 -o poses.csv          # class folders -> keypoint table
  posenet-cls extract ../shared/data/yoga8 -o poses.csv --workers 2
  posenet-cls extract photo.jpg --json                            # one photo -> 33 x (x, y, z, visibility)
  posenet-cls extract squat.mp4 -o squat.jsonl                    # one JSON line per frame
  posenet-cls extract --webcam 0 -o live.jsonl                    # Ctrl-C to stop
  posenet-cls extract ../shared/data/yoga8 -o poses.parquet        # the same table as Parquet
  posenet-cls extract ../shared/data/yoga8 -o poses.csv --backend onnx --batch 64   # BlazePose on onnxruntime
  posenet-cls extract ../shared/data/yoga8 -o shards.parquet --engine ray               # local Ray
  posenet-cls extract s3://bucket/photos -o shards.parquet --engine ray --address HEAD:6379
  posenet-cls extract DIR -o shards.parquet --engine ray --backend onnx --num-gpus-per-worker 0.25
  posenet-cls extract group_photos/ -o poses.csv --max-people 3  # a row per person, with a 'person' column
  posenet-cls extract class.mp4 -o people.jsonl --max-people 4   # per frame: people with tracking IDs

A folder run writes poses.csv (source, label, sha1, attempt, <landmark>_<x|y|z|visibility>,
<landmark>_world_<x|y|z>: world landmarks in metres, hip-centred) and poses.report.json (files with no pose or unreadable, duplicates). Interrupted? Run the
same command again: it resumes from poses.csv.partial.
--engine ray writes a folder of Parquet shards (read by train, evaluate and convert like a
table), decodes in Ray tasks and runs BlazePose in an actor pool; photos and videos (one row
per frame, source VIDEO#FRAME); a rerun skips the shards already written.
"""


def register(sub) -> None:
    p = add_command(sub, "extract", "Extract BlazePose keypoints from photos, videos or a webcam.", EXAMPLES)
    p.add_argument("source", nargs="?", help="class-folder tree (DATA_DIR/<label>/<photo>), photo or video file")
    p.add_argument("--webcam", type=int, metavar="N", help="read webcam number N instead of a file")
    p.add_argument("-o", "--out", help="output: .csv table for a folder (default poses.csv), .json/.jsonl otherwise")
    p.add_argument("--workers", type=int, help="worker processes for a folder, or Ray actors (default: all cores)")
    p.add_argument("--pose-model", default="full", help="full (default, ships with mediapipe), lite, heavy or a .task file")
    p.add_argument("--min-confidence", type=float, default=0.5, help="BlazePose detection/tracking confidence (default 0.5)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local worker processes (default) or Ray Data (a folder or URI, into Parquet shards)")
    p.add_argument("--address", help="--engine ray: the Ray cluster to use, HOST:PORT, ray://HOST:PORT or auto "
                   "(default: start Ray on this machine)")
    add_backend_arguments(p)
    add_max_people_argument(p, "a table gains a 'person' column, 0 = the largest")
    p.add_argument("--num-gpus-per-worker", type=float, default=0.0, metavar="F",
                   help="--engine ray: GPUs per actor, fractions share one (default 0: CPU)")
    p.add_argument("--shard-files", type=int, default=100, metavar="N",
                   help="--engine ray: files per Parquet shard, the unit of resuming (default 100)")
    p.set_defaults(func=run)


def run(args) -> int:
    if (args.source is None) == (args.webcam is None):
        raise PosenetError("give either a SOURCE path or --webcam N")
    if args.max_people > 1 and args.engine == "ray":
        raise PosenetError("--max-people N > 1 runs with --engine local only")
    options = pose_options(args, min_confidence=args.min_confidence)
    if args.engine == "ray":
        return _ray(args)
    if args.address or args.num_gpus_per_worker:
        raise PosenetError("--address and --num-gpus-per-worker need --engine ray")
    if args.webcam is not None:
        return _video(args.webcam, args, options)
    source = Path(args.source)
    if source.is_dir():
        return _folder(source, args, options)
    if not source.exists():
        raise PosenetError(f"{source}: no such file or folder")
    from posenet_cls.io.video import is_video

    return _video(source, args, options) if is_video(source) else _photo(source, args, options)


def _folder(source: Path, args, options) -> int:
    from tqdm import tqdm

    from posenet_cls.data.dataset import build_dataset

    out = Path(args.out or "poses.csv")

    def progress(results, total, resumed):
        yield from tqdm(results, total=total, initial=resumed, unit="photo", desc="extract", disable=None)

    report = build_dataset(source, out, options, workers=args.workers or os.cpu_count(), progress=progress)
    return _print_report(report, out, args)


def _ray(args) -> int:
    from tqdm import tqdm

    from posenet_cls.data.ray_engine import RayConfig, extract_ray

    if args.webcam is not None or ("://" not in args.source and not Path(args.source).is_dir()):
        raise PosenetError(f"{args.source or 'webcam'}: --engine ray reads a class-folder tree (a folder or a URI)")
    out = Path(args.out or "poses.parquet")
    config = RayConfig(address=args.address, backend=args.backend, model=args.pose_model, min_confidence=args.min_confidence,
                       workers=args.workers, num_gpus_per_worker=args.num_gpus_per_worker, shard_files=args.shard_files)

    def progress(total, resumed, chunks):
        bar = tqdm(total=total, initial=resumed, unit="file", desc="extract (ray)", disable=True if args.json else None)
        return bar.update

    report = extract_ray(args.source, out, config, progress=progress)
    return _print_report(report, out, args)


def _print_report(report, out: Path, args) -> int:
    """The extraction report as JSON or as a few lines."""
    if args.json:
        print(report.to_json())
        return 0
    print(f"{report.poses} poses from {report.files} files -> {out}" + (f" ({report.resumed} resumed)" if report.resumed else ""))
    print(f"attempts that found the pose: {report.attempts}")
    for kind in (Status.NO_POSE, Status.UNREADABLE, Status.FAILED):
        for item in getattr(report, kind):
            print(f"  {kind}: {item['source']}: {item['reason']}")
    for item in report.videos:
        print(f"  video: {item['source']}: {item['reason']}")
    for group in report.duplicates:
        print(f"  identical files: {', '.join(group)}")
    print(f"report: {out.with_name(out.stem + '.report.json')}")
    return 0


def pose_json(keypoints) -> list[list[float]] | None:
    """A (33, 4) pose or (33, 3) world landmarks as nested lists rounded for JSON, or None."""
    return None if keypoints is None else [[round(float(v), 6) for v in row] for row in keypoints]


def _person_json(person, key: str) -> dict:
    return {key: person.id, "box": [round(v, 4) for v in person.box], "keypoints": pose_json(person.keypoints),
            "world": pose_json(person.world)}


def _photo(source: Path, args, options) -> int:
    """One photo: its pose (one person) or its people, the largest first (several)."""
    from posenet_cls.pose.extract import extract_photo
    from posenet_cls.schema import LANDMARK_NAMES

    people = extract_photo(source, options)
    if options.several:
        record = {"source": str(source), "pose": bool(people), "landmarks": list(LANDMARK_NAMES),
                  "people": [_person_json(p, "person") for p in people]}
        text = f"{source}: {len(people)} people found"
    else:
        person = people[0] if people else None
        record = {"source": str(source), "pose": person is not None, "attempt": person.attempt if person else None,
                  "landmarks": list(LANDMARK_NAMES), "keypoints": pose_json(person.keypoints if person else None),
                  "world": pose_json(person.world if person else None)}
        text = f"{source}: no person found" if person is None else f"{source}: pose found (attempt: {person.attempt}), 33 landmarks"
    if args.out:
        write_text_atomic(args.out, json.dumps(record) + "\n")
    if args.json:
        print(json.dumps(record))
    else:
        print(text + (f" -> {args.out}" if args.out and people else ""))
    return 0


def _frame_json(f, several: bool) -> dict:
    """One frame's JSON line: its pose (one person) or its people with tracking IDs (several)."""
    head = {"frame": f.frame, "timestamp_s": round(f.timestamp_s, 4)}
    if several:
        return {**head, "people": [_person_json(p, "id") for p in f.people]}
    person = f.people[0] if f.people else None
    return {**head, "pose": person is not None, "keypoints": pose_json(person.keypoints if person else None),
            "world": pose_json(person.world if person else None)}


def _video(source, args, options) -> int:
    """A video or webcam: one JSON line per frame, written (atomically) only for a complete run."""
    from tqdm import tqdm

    from posenet_cls.pose.extract import TrackedVideo

    frames = seen = 0
    ids: set[int] = set()
    with contextlib.ExitStack() as stack:
        out = open(stack.enter_context(atomic_path(args.out)), "w", encoding="utf-8") if args.out else None
        if out is not None:
            stack.enter_context(out)
        video = stack.enter_context(TrackedVideo(source, options))
        bar = tqdm(video, total=video.frame_count, unit="frame", desc="extract", disable=True if args.json else None)
        try:
            for f in bar:
                line = json.dumps(_frame_json(f, options.several))
                frames += 1
                seen += bool(f.people)
                ids.update(p.id for p in f.people)
                if out:
                    out.write(line + "\n")
                if args.json:
                    print(line, flush=True)
        except KeyboardInterrupt:
            if not isinstance(source, int):
                raise  # a file stopped half-way is not a result; a webcam stops this way
    if not args.json:
        name = f"webcam {source}" if isinstance(source, int) else str(source)
        found = f"{len(ids)} people (IDs), someone in {seen}/{frames} frames" if options.several else \
            f"person in {seen}/{frames} frames"
        print(f"{name}: {found}" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
