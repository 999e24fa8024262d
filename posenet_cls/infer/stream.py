"""Pose classification over a video or webcam: track, classify, smooth, count, draw, encode; one person or several.

:class:`PersonSession` holds one person's state over a stream (smoothed probabilities, repetition
counter, pose segments); :class:`StreamSession` keeps one per tracking ID, so one person is the
``max_people=1`` case of several (ID 0, fed every frame). :func:`predict_video` runs a source through
them and yields one :class:`StreamFrame` per frame. Nothing here prints; the CLI turns results into lines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import mirror_keypoints, mirror_world
from posenet_cls.coaching.clip import ClipConfig
from posenet_cls.coaching.exercises import Exercise, ExerciseTracker, exercise_class
from posenet_cls.coaching.form import SHOW_S, form_text
from posenet_cls.pose.extract import PoseOptions, TrackedVideo
from posenet_cls.pose.people import Person
from posenet_cls.coaching.hints import class_hints, short_text
from posenet_cls.runtime import UNKNOWN, PoseRuntime
from posenet_cls.coaching.temporal import DEFAULT_WINDOW_S, CounterConfig, HoldTimer, ProbabilitySmoother, RepCounter, SegmentTracker

NO_PERSON = "no person"
PAIR_COUNTER = CounterConfig(up=-0.4, down=0.4)  # signal p(down) - p(up), smoothed


@dataclass
class FrameResult:
    """One frame's answer: ``label`` is a class, "unknown" or "no person"; probabilities are smoothed."""

    frame: int
    timestamp_s: float
    pose: bool
    label: str
    confidence: float
    probabilities: dict[str, float] | None
    reps: int | None = None
    keypoints: np.ndarray | None = field(default=None, repr=False)
    angles: dict[str, float] | None = None  # with an exercise: raw joint angles in degrees
    hold_s: float | None = None  # with a hold exercise or --hold: the current hold's duration
    longest_hold_s: float | None = None  # the longest hold so far
    exercise: str | None = None
    novelty: float | None = None  # smoothed, like the probabilities; None for a model without a novelty score
    hints: list[dict] | None = None  # form hints for the smoothed label (models with an angle profile)
    phase: str | None = None  # with an exercise: "down", "up", "holding" or None (not yet in a phase)
    form: dict | None = None  # with checks: the last rep's verdict for SHOW_S after it ({"rep", "values", "faults",
    # "messages"}), or a hold's last second
    show_class: bool = True  # the tag shows the pose class (False: an exercise the model has no class for)
    hold_exercise: bool = False  # the exercise times a hold (its tag shows the hold, not reps)

    def to_json(self) -> dict[str, object]:
        record: dict[str, object] = {
            "frame": self.frame, "timestamp_s": round(self.timestamp_s, 4), "pose": self.pose,
            "label": self.label, "confidence": round(self.confidence, 4),
            "probabilities": None if self.probabilities is None else {k: round(v, 4) for k, v in self.probabilities.items()},
        }
        if self.novelty is not None:
            record["novelty"] = round(self.novelty, 4)
        if self.hints:
            record["hints"] = self.hints
        if self.angles is not None:
            record["angles"] = {k: (round(v, 1) if np.isfinite(v) else None) for k, v in self.angles.items()}
        if self.reps is not None:
            record["reps"] = self.reps
        if self.exercise is not None:
            record["phase"] = self.phase
        if self.form is not None:
            record["form"] = self.form
        if self.hold_s is not None:
            record["hold_s"] = round(self.hold_s, 3)
            record["longest_hold_s"] = round(self.longest_hold_s or 0.0, 3)
        return record


@dataclass(frozen=True)
class StreamConfig:
    """What a stream does besides classifying each frame.

    ``window_s``: time constant of the smoothing (0: none); ``threshold``: the unknown threshold
    (None: the model's); ``rep_classes``: (UP, DOWN) classes whose alternation counts reps;
    ``exercise``: angle-based reps or a hold (:mod:`posenet_cls.coaching.exercises`); ``hold_class``:
    time how long the smoothed label equals that class; ``mirror``: selfie view, x flipped and left
    and right swapped first; ``show_class``: with an exercise, show the pose class in the tag and the text
    (None: only when the model has a class of the exercise's name); ``whole_clip``: the stream is a
    file, so at its end the ``auto`` exercise's summary counts the whole clip (None: decided by
    :class:`VideoStream`, files yes, webcams no).
    """

    window_s: float = DEFAULT_WINDOW_S
    threshold: float | None = None
    rep_classes: tuple[str, str] | None = None
    exercise: Exercise | None = None
    hold_class: str | None = None
    mirror: bool = False
    whole_clip: bool | None = None
    show_class: bool | None = None


class PersonSession:
    """One person's state over a stream: classify each frame's pose, smooth, count reps, time holds, keep segments."""

    def __init__(self, runtime: PoseRuntime, config: StreamConfig = StreamConfig()):
        window_s, threshold, rep_classes = config.window_s, config.threshold, config.rep_classes
        exercise, hold_class, mirror = config.exercise, config.hold_class, config.mirror
        self.config = config
        self.runtime = runtime
        self.threshold = runtime.unknown_threshold if threshold is None else threshold
        self.smoother = ProbabilitySmoother(window_s)
        self.novelty_smoother = ProbabilitySmoother(window_s)
        self.profile = runtime.metadata.get("angle_profile")
        self.segments = SegmentTracker()
        self.counter: RepCounter | None = None
        self._pair: tuple[int, int] | None = None
        if rep_classes is not None:
            missing = [c for c in rep_classes if c not in runtime.classes]
            if missing:
                raise PosenetError(
                    f"--reps: class '{missing[0]}' is not in the model (classes: {', '.join(runtime.classes)})"
                )
            if rep_classes[0] == rep_classes[1]:
                raise PosenetError("--reps needs two different classes: UP_CLASS DOWN_CLASS")
            self._pair = (runtime.classes.index(rep_classes[0]), runtime.classes.index(rep_classes[1]))
            self.counter = RepCounter(PAIR_COUNTER)
        self.rep_classes = rep_classes
        if rep_classes is not None and exercise is not None and exercise.kind != "hold":
            raise PosenetError("--reps and a reps --exercise both count repetitions; give one of them")
        if hold_class is not None and hold_class not in runtime.classes:
            classes = ", ".join(runtime.classes)
            raise PosenetError(f"--hold: class '{hold_class}' is not in the model (classes: {classes})")
        if hold_class is not None and exercise is not None and exercise.kind == "hold":
            raise PosenetError(f"--hold and the hold exercise '{exercise.name}' both time a hold; give one of them")
        self.tracker = (ExerciseTracker(exercise, whole_clip=ClipConfig() if config.whole_clip else None)
                        if exercise is not None else None)
        # With an exercise the tag speaks about it; the class shows where the model has one of its name (or asked)
        self.exercise_class, self.show_class = exercise_class(exercise, runtime.classes, config.show_class)
        self._form: dict | None = None  # the last rep's verdict, shown until _form_until
        self._form_until = -np.inf
        self.hold_class = hold_class
        self.class_timer = HoldTimer() if hold_class is not None else None
        self.mirror = mirror
        self.longest_hold_s = 0.0
        self.frames = 0
        self.frames_with_pose = 0
        self.last_t = 0.0

    def update(self, frame: int, t: float, keypoints: np.ndarray | None, world: np.ndarray | None = None,
               aspect: float = 1.0) -> FrameResult:
        """Classify one frame's pose (None: no person) and advance every timer.

        ``world`` (33, 3) are the frame's world landmarks, ``aspect`` its width / height (for 2D angles).
        """
        if self.mirror and keypoints is not None:
            keypoints = mirror_keypoints(keypoints)
            world = None if world is None else mirror_world(world)
        self.frames += 1
        self.last_t = t
        raw, novelty = (None, None) if keypoints is None else self.runtime.pose_scores(keypoints, world)
        smoothed = self.smoother.update(t, raw)
        novelty = self.novelty_smoother.update(t, None if novelty is None else np.array([novelty]))
        novelty = None if novelty is None else float(novelty[0])
        hints = None
        if smoothed is None:
            label, confidence, probs = NO_PERSON, 0.0, None
        else:
            self.frames_with_pose += keypoints is not None
            label, confidence = self.runtime.decide(smoothed, self.threshold, novelty)[:2]
            probs = dict(zip(self.runtime.classes, smoothed.tolist()))
            if self.tracker is None or label == self.exercise_class:  # a class's profile describes that class only
                hints = class_hints(keypoints, label, self.profile)
        self.segments.update(t, label)
        reps = None
        if self.counter is not None and self._pair is not None:
            up, down = self._pair
            signal = None if smoothed is None else float(smoothed[down] - smoothed[up])
            self.counter.update(t, signal, valid=smoothed is not None and keypoints is not None)
            reps = self.counter.count
        angles = hold_s = phase = None
        if self.tracker is not None:
            state = self.tracker.update(t, keypoints, world, aspect)
            angles, hold_s, phase = state.angles, state.hold_s, state.phase
            reps = state.reps if self.tracker.counts_reps else reps
            if state.form is not None:  # a rep's verdict stays up for SHOW_S; a hold's is live
                self._form, self._form_until = state.form, t + (SHOW_S if self.tracker.counts_reps else 0.0)
        if self.class_timer is not None:
            hold_s = self.class_timer.update(t, label == self.hold_class)
        if hold_s is not None:
            self.longest_hold_s = max(self.longest_hold_s, hold_s)
        return FrameResult(frame=frame, timestamp_s=t, pose=keypoints is not None, label=label, confidence=confidence,
                           probabilities=probs, reps=reps, keypoints=keypoints, angles=angles, hold_s=hold_s,
                           longest_hold_s=None if hold_s is None else self.longest_hold_s,
                           exercise=None if self.tracker is None else self.tracker.exercise.name, novelty=novelty,
                           hints=hints, phase=phase, form=self._form if t <= self._form_until else None,
                           show_class=self.show_class,
                           hold_exercise=self.tracker is not None and not self.tracker.counts_reps)

    def summary(self, end_s: float | None = None) -> dict[str, object]:
        """What happened in the stream: frames, pose segments, reps (--reps, --exercise) and holds."""
        out: dict[str, object] = {
            "summary": True,
            "frames": self.frames,
            "frames_with_pose": self.frames_with_pose,
            "segments": self.segments.summary(end_s if end_s is not None else self.last_t),
        }
        if self.counter is not None:
            out["rep_classes"] = list(self.rep_classes or ())
            out.update(self.counter.summary())
        if self.tracker is not None:
            exercise = self.tracker.summary()
            if self.counter is not None:  # a hold exercise beside --reps: the class pair's reps stay
                exercise = {k: v for k, v in exercise.items() if k not in ("reps", "rep_log")}
            out.update(exercise)
            out["show_class"] = self.show_class  # the text shows the pose segments only then
        if self.class_timer is not None:
            out["hold_class"] = self.hold_class
            out["holds"] = self.class_timer.finish()
        if self.tracker is not None or self.class_timer is not None:  # the same keys whatever is held
            out["hold_target"] = self.hold_class or (self.tracker.exercise.name if "holds" in out else None)
            out.setdefault("holds", HoldTimer().finish())
        return out


def overlay_lines(result: FrameResult, fps: float | None = None) -> list[str]:
    """The person's tag on a frame: label and confidence, the first hint, reps, hold time (``fps``: also a line).

    With an exercise the tag speaks about it: its name, reps and phase (or the hold), the last rep's form
    for a second after it; the pose class only where ``show_class``.
    """
    if result.exercise is not None:
        lines = _exercise_lines(result)
        return lines + ([f"{fps:.0f} FPS"] if fps else [])
    if not result.pose:
        lines = [NO_PERSON]
    else:
        lines = [f"{result.label} {result.confidence:.0%}"] + ([short_text(result.hints[0])] if result.hints else [])
    if result.reps is not None:
        named = result.exercise and result.hold_s is None  # a hold exercise shows its hold, not reps
        lines.append(f"{result.exercise} reps: {result.reps}" if named else f"reps: {result.reps}")
    if result.hold_s is not None:
        lines.append(f"hold: {result.hold_s:.1f} s (best {result.longest_hold_s or 0.0:.1f} s)")
    if fps:
        lines.append(f"{fps:.0f} FPS")
    return lines


def _exercise_lines(result: FrameResult) -> list[str]:
    """An exercise's tag: ``squat: 3 reps, down``; ``rep 3: good form`` for SHOW_S after a rep; the class if shown."""
    if result.hold_exercise:
        head = f"{result.exercise}: " + (f"holding {result.hold_s:.1f} s" if result.hold_s else "not holding") \
            + f" (best {result.longest_hold_s or 0.0:.1f} s)"
    else:
        head = f"{result.exercise}: {result.reps} rep{'s' if result.reps != 1 else ''}" \
            + (f", {result.phase}" if result.phase else "")
        if result.hold_s is not None:  # --hold CLASS beside a reps exercise
            head += f"; hold {result.hold_s:.1f} s"
    lines = [head if result.pose else f"{head} ({NO_PERSON})"]
    if result.hold_exercise and result.reps is not None:  # --reps UP DOWN beside a hold exercise
        lines.append(f"reps: {result.reps}")
    if result.form is not None:
        lines.append((f"rep {result.form['rep']}: " if "rep" in result.form else "") + form_text(result.form))
    if result.show_class and result.pose:
        lines.append(f"{result.label} {result.confidence:.0%}")
        if result.hints:
            lines.append(short_text(result.hints[0]))
    return lines


def display_available() -> bool:
    """A window can be opened (an X or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


PERSON_KEYS = ("label", "confidence", "probabilities", "novelty", "reps", "phase", "form", "hold_s", "longest_hold_s",
               "hints")


@dataclass
class StreamFrame:
    """One frame: each person seen (ID, box, :class:`FrameResult`) and the no-person results of IDs not seen
    but still alive; ``several``: more than one person may be tracked (it shapes the JSON)."""

    frame: int
    timestamp_s: float
    several: bool
    people: list[tuple[Person, FrameResult]] = field(default_factory=list)
    missing: dict[int, FrameResult] = field(default_factory=dict)

    @property
    def result(self) -> FrameResult:
        """The one person's result (ID 0, a 'no person' result when not seen): the ``max_people=1`` answer."""
        return self.people[0][1] if self.people and self.people[0][0].id == 0 else self.missing[0]

    def to_json(self) -> dict[str, object]:
        """One person: the :class:`FrameResult`'s fields; several: frame, time and a list of people by ID."""
        if not self.several:
            return self.result.to_json()
        out = []
        for person, result in self.people:
            record = result.to_json()
            entry: dict[str, object] = {"id": person.id, "box": [round(v, 4) for v in person.box]}
            entry.update({k: record[k] for k in PERSON_KEYS if k in record})
            out.append(entry)
        return {"frame": self.frame, "timestamp_s": round(self.timestamp_s, 4), "people": out}


class StreamSession:
    """A stream's state: a :class:`PersonSession` per tracking ID, fed while the ID lives (one person: ID 0, always)."""

    def __init__(self, runtime: PoseRuntime, config: StreamConfig = StreamConfig(), max_people: int = 1):
        self.runtime, self.config, self.several = runtime, config, max_people > 1
        first = PersonSession(runtime, config)  # refuses bad settings before the first frame
        self.sessions: dict[int, PersonSession] = {} if self.several else {0: first}
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.seen: dict[int, int] = {}
        self.frames = 0

    def update(self, frame: int, t: float, people: list[Person], alive: set[int] | frozenset[int],
               aspect: float = 1.0) -> StreamFrame:
        """Classify each person of one frame; IDs still alive but not seen this frame get a frame without a person."""
        self.frames += 1
        out = StreamFrame(frame, t, self.several)
        for person in people:
            session = self.sessions.setdefault(person.id, PersonSession(self.runtime, self.config))
            self.first.setdefault(person.id, frame)
            self.last[person.id] = frame
            self.seen[person.id] = self.seen.get(person.id, 0) + 1
            out.people.append((person, session.update(frame, t, person.keypoints, person.world, aspect)))
        for person_id in sorted(set(alive) - {p.id for p in people}):
            if person_id in self.sessions:
                out.missing[person_id] = self.sessions[person_id].update(frame, t, None)
        return out

    def summary(self) -> dict[str, object]:
        """One person: their session's summary. Several: frames, and per ID the first and last frame, frames seen
        and the session's summary (reps, rep log, segments, holds)."""
        if not self.several:
            return self.sessions[0].summary()
        people = []
        for person_id in sorted(self.sessions):
            s = self.sessions[person_id].summary()
            entry = {"id": person_id, "first_frame": self.first[person_id], "last_frame": self.last[person_id],
                     "frames": self.seen[person_id]}
            entry.update({k: v for k, v in s.items() if k not in ("summary", "frames", "frames_with_pose")})
            people.append(entry)
        return {"summary": True, "frames": self.frames, "people": people}


class VideoStream:
    """The frames of one video file or webcam, classified: iterate for :class:`StreamFrame`; ``session`` holds the
    state (read its ``summary()`` once the frames are consumed). ``pose.max_people`` people are tracked.
    Annotated frames go to ``out_video`` (H.264) and, with ``show`` (None: when a display exists), to a live window."""

    def __init__(self, source: str | Path | int, runtime: PoseRuntime, config: StreamConfig = StreamConfig(),
                 pose: PoseOptions = PoseOptions(), out_video: str | Path | None = None, show: bool | None = None):
        self.source, self.runtime, self.config, self.out_video = source, runtime, config, out_video
        self.pose = replace(pose, tracking=True)
        if config.whole_clip is None:  # a file is seen whole at its end; a webcam never ends
            config = self.config = replace(config, whole_clip=not isinstance(source, int))
        self.pose.check()
        self.show = display_available() if show is None else (show and display_available())
        self.session = StreamSession(runtime, config, pose.max_people)

    def __iter__(self) -> Iterator[StreamFrame]:
        with TrackedVideo(self.source, self.pose) as video, \
                FrameSink(self.out_video, video.fps, self.show, video.is_webcam) as sink:
            for f in video:
                result = self.session.update(f.frame, f.timestamp_s, f.people, f.alive, f.rgb.shape[1] / f.rgb.shape[0])
                yield result
                if sink.wanted and sink.put(self._draw(f.rgb, result, sink.fps)):
                    break
                sink.tick()
            sink.completed = True

    def _draw(self, rgb: np.ndarray, frame: StreamFrame, fps: float | None) -> np.ndarray:
        """The annotated frame: one person's tag and skeleton, or each person's in their ID's colour."""
        from posenet_cls.infer.draw import PersonTag, annotate, annotate_people

        if self.config.mirror:  # selfie view: the mirrored poses on the mirrored frame
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        rate = f"{fps:.0f} FPS" if fps else ""
        if not frame.several:
            r = frame.result
            return annotate(rgb, r.keypoints, overlay_lines(r), unknown=r.label == UNKNOWN and r.show_class, copy=False,
                            status=rate or None)
        tags = [PersonTag(r.keypoints, [f"#{p.id} " + line if i == 0 else line for i, line in enumerate(overlay_lines(r))],
                          r.label == UNKNOWN and r.show_class, p.id) for p, r in frame.people]
        counts = ", ".join(f"#{p.id} {r.reps}" for p, r in frame.people if r.reps is not None)
        status = " | ".join(x for x in (rate, f"{len(frame.people)} people", f"reps {counts}" if counts else "") if x)
        return annotate_people(rgb, tags, status, copy=False)


class FrameSink:
    """Where annotated frames go: an H.264 file (kept only when the run completes, or from a webcam) and/or
    a live window; also measures frames per second. Use as a context manager and set ``completed``."""

    def __init__(self, out_video: str | Path | None, fps: float, show: bool, is_webcam: bool):
        self.out_video, self.rate, self.show, self.is_webcam = out_video, fps, show, is_webcam
        self.wanted = out_video is not None or show
        self.completed = False
        self.fps: float | None = None
        self._writer = None
        self._last = time.perf_counter()

    def __enter__(self) -> FrameSink:
        return self

    def put(self, image: np.ndarray) -> bool:
        """Write and show one annotated frame; True when the user pressed q or Esc in the window."""
        if self.out_video is not None:
            if self._writer is None:
                from posenet_cls.io.writer import VideoWriter

                self._writer = VideoWriter(self.out_video, self.rate, image.shape[1], image.shape[0])
            self._writer.write(image)
        return bool(self.show and show_frame(image))

    def tick(self) -> None:
        """One frame done: update the frames-per-second average."""
        now = time.perf_counter()
        fps_now = 1.0 / max(now - self._last, 1e-6)
        self.fps = fps_now if self.fps is None else 0.9 * self.fps + 0.1 * fps_now
        self._last = now

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close(keep=self.completed or self.is_webcam)
        if self.show:
            import cv2

            cv2.destroyAllWindows()


def predict_video(source: str | Path | int, runtime: PoseRuntime, config: StreamConfig = StreamConfig(),
                  pose: PoseOptions = PoseOptions(), out_video: str | Path | None = None,
                  show: bool | None = None) -> VideoStream:
    """Classify every frame of a video file or webcam (up to ``pose.max_people`` people): a :class:`VideoStream`."""
    return VideoStream(source, runtime, config, pose, out_video, show)


def show_frame(rgb: np.ndarray) -> bool:
    """Show a frame in the live window; True when the user pressed q or Esc."""
    import cv2

    cv2.imshow("posenet-cls", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)
