"""``posenet-cls predict``: which pose is the person in, per photo or per video frame? Label, confidence, annotated copy."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from posenet_cls.commands._parsing import add_backend_arguments, add_command, add_max_people_argument, use_max_people
from posenet_cls.pose.outcomes import Status
from posenet_cls.errors import PosenetError

EXAMPLES = """\
  posenet-cls predict ../shared/data/yoga8                       # every photo, shipped model
  posenet-cls predict photo.jpg                                  # one photo
  posenet-cls predict photos/ --model model.onnx -o annotated/   # your own exported model
  posenet-cls predict photos/ --json > predictions.jsonl         # one JSON object per photo
  posenet-cls predict photos/ --threshold 0.7 --no-annotate
  posenet-cls predict squat.mp4                                   # video: smoothed label per frame
  posenet-cls predict flow.mp4 --json > frames.jsonl              # one line per frame, summary last
  posenet-cls predict workout.mp4 --reps Standing Squatting       # count UP_CLASS -> DOWN_CLASS -> UP_CLASS
  posenet-cls predict --webcam 0                                  # live window when a display exists; q or Esc stops
  posenet-cls predict squat.mp4 --exercise squat --json           # count squats from knee angles, no training
  posenet-cls predict workout.mp4 --exercise auto                 # count any repeated movement: no name, no thresholds
  posenet-cls predict plank.mp4 --exercise plank                  # time a plank hold
  posenet-cls predict --webcam 0 --exercise push-up --mirror      # front camera: left means the user's left
  posenet-cls predict flow.mp4 --hold Vrukshasana                 # how long the tree pose is held
  posenet-cls predict wall.mp4 --exercises my.toml --exercise wall-sit   # your own exercise file
  posenet-cls predict --list-exercises                            # the presets and their thresholds
  posenet-cls predict photos/ --backend onnx --batch 64           # BlazePose on onnxruntime, batched
  posenet-cls predict class.mp4 --max-people 4 --exercise auto --json   # up to 4 people: an ID, label, count each

Each photo gets a line 'PATH: LABEL CONFIDENCE'. LABEL is 'unknown' when the top probability
is under the threshold (stored in the model; the shipped model's is explained in the README).
Annotated copies (skeleton, label, confidence) keep each photo's name under the output folder.
Photos with no person and files that are not images get one line each; they stop nothing.
Videos and webcams: BlazePose tracking, probabilities smoothed over --window seconds (an
exponential moving average with that time constant), an annotated H.264 MP4 in the output
folder (skeleton, label, confidence, reps, FPS) and a summary of pose segments at the end.
--exercise counts reps (or times a hold) from joint angles with up/down thresholds and hysteresis;
with --json each frame gains "angles", "reps" and "hold_s", and the summary "reps", "rep_log", "holds".
"""


def register(sub) -> None:
    from posenet_cls.config import DEFAULT_OUT_DIR
    from posenet_cls.coaching.temporal import DEFAULT_WINDOW_S

    p = add_command(sub, "predict", "Classify poses in photos, videos or a webcam with an ONNX model (default: the shipped one).", EXAMPLES)
    p.add_argument("source", nargs="?", help="a photo, a folder (searched recursively) or a video file")
    p.add_argument("--webcam", type=int, metavar="N", help="classify webcam number N live")
    p.add_argument("--model", help="ONNX model from posenet-cls export (default: checkpoints/pose_mlp.onnx)")
    p.add_argument("-o", "--out-dir", default=DEFAULT_OUT_DIR, help=f"folder for annotated copies (default {DEFAULT_OUT_DIR}/)")
    p.add_argument("--no-annotate", action="store_true", help="do not write annotated copies")
    p.add_argument("--threshold", type=float, default=None, help="answer 'unknown' under this top probability (default: the model's)")
    p.add_argument("--json", action="store_true", help="print one JSON object per photo")
    p.add_argument("--workers", type=int, default=None, help="pose extraction processes (default: all cores for 16+ photos)")
    p.add_argument("--pose-model", default="full", help="BlazePose model: full (default), lite, heavy or a .task file")
    add_backend_arguments(p)
    add_max_people_argument(p, "each with a tracking ID, label and count")
    video = p.add_argument_group("videos and webcams")
    video.add_argument("--window", type=float, default=DEFAULT_WINDOW_S, metavar="SECONDS",
                       help=f"smoothing time constant in seconds (default {DEFAULT_WINDOW_S}; 0 = none)")
    video.add_argument("--reps", nargs=2, metavar=("UP_CLASS", "DOWN_CLASS"),
                       help="count repetitions that alternate between two of the model's classes")
    video.add_argument("--exercise", metavar="NAME",
                       help="count reps or time a hold of an exercise preset (see --list-exercises); "
                            "auto counts any repeated movement")
    video.add_argument("--exercises", metavar="FILE", help="extra exercises from a .toml or .json file (one table each)")
    video.add_argument("--hold", metavar="CLASS", help="time how long the smoothed label stays CLASS")
    video.add_argument("--mirror", action="store_true",
                       help="selfie view (front camera): flip x and swap left and right, so 'left' is the user's left")
    video.add_argument("--list-exercises", action="store_true", help="list the exercises (presets and --exercises) and exit")
    video.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                       help="live window with the annotated frames (default: when a display exists)")
    p.set_defaults(func=run)


def _exercise_options(args):
    """The exercise chosen with --exercise (presets plus --exercises FILE), or None."""
    from posenet_cls.coaching.exercises import BUILTIN, find_exercise, load_exercises

    extra = load_exercises(args.exercises) if args.exercises else {}
    if args.list_exercises:
        for exercise in {**BUILTIN, **extra}.values():
            print(exercise.table_row())
        return None
    if args.exercises and not args.exercise:
        raise PosenetError("--exercises adds exercises; choose one with --exercise NAME")
    return find_exercise(args.exercise, extra) if args.exercise else None


def run(args) -> int:
    from posenet_cls.io.video import is_video
    from posenet_cls.infer.photos import load_model, predict_photos

    args.exercise_spec = _exercise_options(args)
    if args.list_exercises:
        return 0
    if (args.source is None) == (args.webcam is None):
        raise PosenetError("give either a SOURCE (photo, folder or video) or --webcam N")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise PosenetError(f"--threshold must be between 0 and 1, got {args.threshold}")
    use_max_people(args)
    runtime = load_model(args.model)
    if args.webcam is not None or is_video(args.source):
        return _people_video(args, runtime) if args.max_people > 1 else _video(args, runtime)
    used = [o for o, v in (("--exercise", args.exercise), ("--hold", args.hold), ("--mirror", args.mirror)) if v]
    if used:
        raise PosenetError(f"{used[0]} is for videos and webcams; {args.source} is not a video")
    out_dir = None if args.no_annotate else args.out_dir
    if args.max_people > 1:
        return _people_photos(args, runtime, out_dir)
    counts: Counter[str] = Counter()
    for r in predict_photos(args.source, runtime, args.threshold, out_dir, args.pose_model, args.workers,
                            args.backend, args.batch, args.device):
        counts[r.status if r.status != Status.POSE else ("unknown" if r.label == "unknown" else "classified")] += 1
        if args.json:
            print(json.dumps(r.to_json()), flush=True)
        elif r.status == "pose":
            extra = f" (best {r.best})" if r.label != r.best else ""
            hint = f"; {r.hints[0]['text']}" if r.hints else ""
            print(f"{r.source}: {r.label} {r.confidence:.2f}{extra}{hint}", flush=True)
        elif r.status == "no_pose":
            print(f"{r.source}: no person found", flush=True)
        else:
            print(f"{r.source}: skipped, {r.reason}", flush=True)
    total = sum(counts.values())
    summary = (f"{total} file(s): {counts['classified']} classified, {counts['unknown']} unknown, "
               f"{counts['no_pose']} without a person, {counts['unreadable']} unreadable")
    if out_dir is not None and counts["classified"] + counts["unknown"]:
        summary += f"; annotated copies in {out_dir}/"
    print(summary, file=sys.stderr)
    if counts[Status.UNREADABLE] == total:
        raise PosenetError(f"{args.source}: none of the {total} file(s) could be read as a photo")
    return 0


def _stream_setup(args):
    """(source, annotated video path or None, frame count or None, StreamConfig) of a video or webcam run."""
    from pathlib import Path

    from posenet_cls.infer.stream import StreamConfig
    from posenet_cls.io.video import VideoReader

    source = args.webcam if args.webcam is not None else Path(args.source)
    name = f"webcam{source}" if isinstance(source, int) else source.stem
    out_video = None if args.no_annotate else Path(args.out_dir) / f"{name}.mp4"
    total = None
    if not isinstance(source, int):
        with VideoReader(source) as video:
            total = video.frame_count
    config = StreamConfig(args.window, args.threshold, tuple(args.reps) if args.reps else None, args.exercise_spec,
                          args.hold, args.mirror)
    return source, out_video, total, config


def _consume(stream, args, source, out_video, total, postfix) -> dict:
    """Run a stream to its end under a progress bar (or print its JSON lines); returns the summary, printed with --json."""
    from tqdm import tqdm

    bar = tqdm(stream, total=total, unit="frame", desc="predict", disable=True if args.json else None)
    try:
        for result in bar:
            if args.json:
                print(json.dumps(result.to_json()), flush=True)
            else:
                bar.set_postfix_str(postfix(result))
    except KeyboardInterrupt:
        if not isinstance(source, int):
            raise  # a webcam stops with Ctrl-C; the summary still follows
    finally:
        bar.close()
    summary = stream.session.summary()
    if out_video is not None and out_video.exists():
        summary["annotated"] = str(out_video)
    if args.json:
        print(json.dumps(summary), flush=True)
    return summary


def _video(args, runtime) -> int:
    from posenet_cls.infer.stream import predict_video
    from posenet_cls.pose.extract import PoseOptions

    source, out_video, total, config = _stream_setup(args)
    stream = predict_video(source, runtime, config, pose=PoseOptions(args.backend, args.pose_model, device=args.device),
                           out_video=out_video, show=args.show)
    summary = _consume(stream, args, source, out_video, total, lambda r: (
        r.label + (f", reps {r.reps}" if r.reps is not None else "")
        + (f", hold {r.hold_s:.1f}s" if r.hold_s is not None else "")))
    if args.json:
        return 0
    print(f"{summary['frames']} frames, a person in {summary['frames_with_pose']}")
    _print_session(summary)
    if "annotated" in summary:
        print(f"annotated video: {summary['annotated']}")
    return 0


def _print_session(summary: dict, indent: str = "") -> None:
    """The text summary of one person's stream: pose segments, reps and their log, holds."""
    for seg in summary["segments"]:
        print(f"{indent}  {seg['start_s']:7.2f}s - {seg['end_s']:7.2f}s  {seg['label']} ({seg['duration_s']:.2f}s)")
    if "rep_classes" in summary:
        print(f"{indent}reps ({' -> '.join(summary['rep_classes'])}): {summary['reps']}")
    elif "exercise" in summary and summary["hold_target"] != summary["exercise"]:  # not a hold exercise
        print(f"{indent}{summary['exercise']}: {summary['reps']} rep(s)")
    in_degrees = summary.get("exercise") != "auto"  # auto's signal has no unit: its range says nothing here
    for rep in summary.get("rep_log", []) if "exercise" in summary else []:
        print(f"{indent}  rep {rep['index']}: {rep['start_s']:.2f}s - {rep['end_s']:.2f}s, "
              + (f"range {rep['range_of_motion']:.0f} deg, " if in_degrees else "")
              + f"down {rep['time_down_s']:.2f}s, up {rep['time_up_s']:.2f}s")
    if summary.get("hold_target"):
        holds, target = summary["holds"], summary["hold_target"]
        print(f"{indent}{target} held: longest {holds['longest_hold_s']:.2f}s, total {holds['total_hold_s']:.2f}s "
              f"in {len(holds['holds'])} hold(s)")


def _photo_counts(status: str, labels: list[str]) -> str:
    return status if status != Status.POSE else ("unknown" if all(label == "unknown" for label in labels) else "classified")


def _people_photos(args, runtime, out_dir) -> int:
    """Photos with several people: one line (or JSON object) per photo, one entry per person."""
    from posenet_cls.infer.people import predict_people_photos
    from posenet_cls.pose.extract import PoseOptions

    counts: Counter[str] = Counter()
    people = 0
    pose = PoseOptions(args.backend, args.pose_model, device=args.device, batch=args.batch)
    for r in predict_people_photos(args.source, runtime, args.max_people, args.threshold, out_dir, pose):
        counts[_photo_counts(r.status, [p.label for p in r.people])] += 1
        people += len(r.people)
        if args.json:
            print(json.dumps(r.to_json()), flush=True)
        elif r.status == Status.POSE:
            print(f"{r.source}: " + "; ".join(f"#{p.person} {p.label} {p.confidence:.2f}" for p in r.people), flush=True)
        elif r.status == Status.NO_POSE:
            print(f"{r.source}: no person found", flush=True)
        else:
            print(f"{r.source}: skipped, {r.reason}", flush=True)
    total = sum(counts.values())
    print(f"{total} file(s), {people} people: {counts['classified']} with a class, {counts['unknown']} all unknown, "
          f"{counts['no_pose']} without a person, {counts['unreadable']} unreadable"
          + (f"; annotated copies in {out_dir}/" if out_dir is not None and people else ""), file=sys.stderr)
    if counts[Status.UNREADABLE] == total:
        raise PosenetError(f"{args.source}: none of the {total} file(s) could be read as a photo")
    return 0


def _people_video(args, runtime) -> int:
    """A video or webcam with several people: JSON lines with a people list, a summary per ID."""
    from posenet_cls.infer.people import PeopleStream
    from posenet_cls.pose.extract import PoseOptions

    source, out_video, total, config = _stream_setup(args)
    stream = PeopleStream(source, runtime, args.max_people, config,
                          PoseOptions(args.backend, args.pose_model, device=args.device), out_video, args.show)
    summary = _consume(stream, args, source, out_video, total, lambda r: ", ".join(
        f"#{p.id} {x.label}" + (f" {x.reps}" if x.reps is not None else "") for p, x in r.people) or "no person")
    if args.json:
        return 0
    print(f"{summary['frames']} frames, {len(summary['people'])} people")
    for person in summary["people"]:
        print(f"person #{person['id']}: frames {person['first_frame']}-{person['last_frame']}, seen in {person['frames']}")
        _print_session(person, "  ")
    if "annotated" in summary:
        print(f"annotated video: {summary['annotated']}")
    return 0
