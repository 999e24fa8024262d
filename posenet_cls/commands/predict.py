"""``posenet-cls predict``: which pose is the person in, per photo or per video frame? Label, confidence, annotated copy."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from posenet_cls.commands._parsing import add_backend_arguments, add_command, add_max_people_argument, pose_options
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
--exercise counts reps (or times a hold) from joint angles with up/down thresholds and hysteresis
and judges each rep's form (the exercise's checks); the tag and the text then speak about the exercise,
and the pose class shows only where the model has that class (or with --show-class). With --json each
frame gains "angles", "reps", "phase", "form" and "hold_s", the summary "reps", "rep_log" (each rep's
"checks" and "faults"), "form" and "holds". On a photo, --exercise gives its phase and one-frame checks.
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
                       help="count reps or time a hold of an exercise preset (see --list-exercises), with form "
                            "checks per rep; auto counts any repeated movement")
    video.add_argument("--exercises", metavar="FILE", help="extra exercises from a .toml or .json file (one table each)")
    video.add_argument("--hold", metavar="CLASS", help="time how long the smoothed label stays CLASS")
    video.add_argument("--mirror", action="store_true",
                       help="selfie view (front camera): flip x and swap left and right, so 'left' is the user's left")
    video.add_argument("--list-exercises", action="store_true", help="list the exercises (presets and --exercises) and exit")
    video.add_argument("--show-class", action="store_true",
                       help="with --exercise: show the pose class too (default: only when the model has a class "
                            "of the exercise's name; --json always has it)")
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
            for row in exercise.check_rows():
                print(row)
        return None
    if args.exercises and not args.exercise:
        raise PosenetError("--exercises adds exercises; choose one with --exercise NAME")
    return find_exercise(args.exercise, extra) if args.exercise else None


def run(args) -> int:
    from posenet_cls.io.video import is_video
    from posenet_cls.infer.photos import load_model

    args.exercise_spec = _exercise_options(args)
    if args.list_exercises:
        return 0
    if (args.source is None) == (args.webcam is None):
        raise PosenetError("give either a SOURCE (photo, folder or video) or --webcam N")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise PosenetError(f"--threshold must be between 0 and 1, got {args.threshold}")
    options = pose_options(args)
    runtime = load_model(args.model)
    if args.webcam is not None or is_video(args.source):
        return _video(args, runtime, options)
    auto = args.exercise_spec is not None and args.exercise_spec.kind == "auto"  # a photo has no repetitions
    used = [o for o, v in (("--exercise auto", auto), ("--hold", args.hold), ("--mirror", args.mirror)) if v]
    if used:
        raise PosenetError(f"{used[0]} is for videos and webcams; {args.source} is not a video")
    return _photos(args, runtime, options)


def _photo_line(r) -> str:
    """The text line of one photo: its label (one person) or each person's (several)."""
    if r.status == Status.NO_POSE:
        return f"{r.source}: no person found"
    if r.status != Status.POSE:
        return f"{r.source}: skipped, {r.reason}"
    if r.several:
        return f"{r.source}: " + "; ".join(f"#{p.person} {_person_text(p)}" for p in r.people)
    return f"{r.source}: {_person_text(r.people[0])}"


def _person_text(p) -> str:
    """One person of a photo: the label (best class, first hint); with --exercise the exercise's phase and form
    first, the class only where shown."""
    from posenet_cls.coaching.exercises import exercise_text
    from posenet_cls.coaching.form import form_text

    extra = f" (best {p.best})" if p.label != p.best else ""
    hint = f"; {p.hints[0]['text']}" if p.hints else ""
    label = f"{p.label} {p.confidence:.2f}{extra}{hint}"
    if p.exercise is None:
        return label
    form = f", {form_text(p.exercise)}" if p.exercise["values"] else ""
    return exercise_text(p.exercise) + form + (f" ({label})" if p.show_class else "")


def _photos(args, runtime, options) -> int:
    """Photos: one line (or JSON object) per file, a summary on stderr."""
    from posenet_cls.infer.photos import predict_photos

    out_dir = None if args.no_annotate else args.out_dir
    counts: Counter[str] = Counter()
    people = 0
    for r in predict_photos(args.source, runtime, args.threshold, out_dir, options, args.workers,
                            args.exercise_spec, True if args.show_class else None):
        labels = [p.label for p in r.people]
        counts[r.status if r.status != Status.POSE else
               ("unknown" if all(label == "unknown" for label in labels) else "classified")] += 1
        people += len(r.people)
        print(json.dumps(r.to_json()) if args.json else _photo_line(r), flush=True)
    total = sum(counts.values())
    if options.several:
        summary = (f"{total} file(s), {people} people: {counts['classified']} with a class, {counts['unknown']} all "
                   f"unknown, {counts['no_pose']} without a person, {counts['unreadable']} unreadable")
    else:
        summary = (f"{total} file(s): {counts['classified']} classified, {counts['unknown']} unknown, "
                   f"{counts['no_pose']} without a person, {counts['unreadable']} unreadable")
    if out_dir is not None and people:
        summary += f"; annotated copies in {out_dir}/"
    print(summary, file=sys.stderr)
    if counts[Status.UNREADABLE] == total:
        raise PosenetError(f"{args.source}: none of the {total} file(s) could be read as a photo")
    return 0


def _video(args, runtime, options) -> int:
    """A video or webcam: a progress bar (or JSON lines, summary last), then the summary as text."""
    from pathlib import Path

    from tqdm import tqdm

    from posenet_cls.infer.stream import StreamConfig, predict_video
    from posenet_cls.io.video import VideoReader

    source = args.webcam if args.webcam is not None else Path(args.source)
    name = f"webcam{source}" if isinstance(source, int) else source.stem
    out_video = None if args.no_annotate else Path(args.out_dir) / f"{name}.mp4"
    total = None
    if not isinstance(source, int):
        with VideoReader(source) as video:
            total = video.frame_count
    config = StreamConfig(args.window, args.threshold, tuple(args.reps) if args.reps else None, args.exercise_spec,
                          args.hold, args.mirror, show_class=True if args.show_class else None)
    stream = predict_video(source, runtime, config, options, out_video, args.show)
    bar = tqdm(stream, total=total, unit="frame", desc="predict", disable=True if args.json else None)
    try:
        for frame in bar:
            if args.json:
                print(json.dumps(frame.to_json()), flush=True)
            else:
                bar.set_postfix_str(_progress_text(frame))
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
        return 0
    if options.several:
        print(f"{summary['frames']} frames, {len(summary['people'])} people")
        for person in summary["people"]:
            print(f"person #{person['id']}: frames {person['first_frame']}-{person['last_frame']}, seen in {person['frames']}")
            _print_session(person, "  ")
    else:
        print(f"{summary['frames']} frames, a person in {summary['frames_with_pose']}")
        _print_session(summary)
    if "annotated" in summary:
        print(f"annotated video: {summary['annotated']}")
    return 0


def _progress_text(frame) -> str:
    """The progress bar's note: the one person's label, reps and hold, or each person's label and reps."""
    if frame.several:
        return ", ".join(f"#{p.id} {r.exercise if r.exercise is not None and not r.show_class else r.label}"
                         + (f" {r.reps}" if r.reps is not None else "") for p, r in frame.people) or "no person"
    r = frame.result
    name = r.exercise if r.exercise is not None and not r.show_class else r.label
    return name + (f", reps {r.reps}" if r.reps is not None else "") + (f", hold {r.hold_s:.1f}s" if r.hold_s is not None else "")


def _print_session(summary: dict, indent: str = "") -> None:
    """The text summary of one person's stream: pose segments (unless an exercise hides the class), reps and their
    log with each rep's form, holds."""
    if summary.get("show_class", True):
        for seg in summary["segments"]:
            print(f"{indent}  {seg['start_s']:7.2f}s - {seg['end_s']:7.2f}s  {seg['label']} ({seg['duration_s']:.2f}s)")
    form = summary.get("form")
    if "rep_classes" in summary:
        print(f"{indent}reps ({' -> '.join(summary['rep_classes'])}): {summary['reps']}")
    elif "exercise" in summary and summary["hold_target"] != summary["exercise"]:  # not a hold exercise
        print(f"{indent}{summary['exercise']}: {summary['reps']} rep(s)" + (_form_line(form, "reps") if form else ""))
    in_degrees = summary.get("exercise") != "auto"  # auto's signal has no unit: its range says nothing here
    for rep in summary.get("rep_log", []) if "exercise" in summary else []:
        print(f"{indent}  rep {rep['index']}: {rep['start_s']:.2f}s - {rep['end_s']:.2f}s, "
              + (f"range {rep['range_of_motion']:.0f} deg, " if in_degrees else "")
              + f"down {rep['time_down_s']:.2f}s, up {rep['time_up_s']:.2f}s" + _checks_text(rep))
    if summary.get("hold_target"):
        holds, target = summary["holds"], summary["hold_target"]
        print(f"{indent}{target} held: longest {holds['longest_hold_s']:.2f}s, total {holds['total_hold_s']:.2f}s "
              f"in {len(holds['holds'])} hold(s)" + (_form_line(form, "holds") if form and target == summary.get("exercise") else ""))
        for i, hold in enumerate(holds["holds"], start=1) if "checks" in (holds["holds"] or [{}])[0] else ():
            print(f"{indent}  hold {i}: {hold['start_s']:.2f}s - {hold['end_s']:.2f}s{_checks_text(hold)}")


def _form_line(form: dict, unit: str) -> str:
    """``, 5 clean; most common fault: depth`` after the rep count."""
    common = form.get("most_common_fault")
    return f", {form[f'clean_{unit}']} clean" + (f"; most common fault: {common}" if common else "")


def _checks_text(entry: dict) -> str:
    """A rep's (or hold's) measured checks and its verdict: ``; depth 62.5, tempo 1.03: good form``."""
    if "checks" not in entry:
        return ""
    values = ", ".join(f"{name} {v[0]:g}..{v[1]:g}" if isinstance(v, list) else f"{name} {'-' if v is None else f'{v:g}'}"
                       for name, v in entry["checks"].items())
    return f"; {values}: " + (f"fault: {', '.join(entry['faults'])}" if entry["faults"] else "good form")
