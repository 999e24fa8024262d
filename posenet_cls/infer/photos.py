"""Photos -> people -> classes: the library behind ``posenet-cls predict`` (no printing here).

A photo or a folder (walked recursively, so a class-folder tree works too) is run through
BlazePose (:func:`posenet_cls.pose.workers.extract_tasks`, with its retries; up to
``max_people`` people each) and an exported ONNX classifier (:class:`posenet_cls.runtime.PoseRuntime`).
Every file gets one :class:`PhotoResult`: each person's class (or "unknown"), "no_pose" or
"unreadable"; nothing stops on a bad file. One person is the ``max_people=1`` case.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.config import CHECKPOINTS
from posenet_cls.pose.outcomes import Status
from posenet_cls.io.files import list_files
from posenet_cls.io.images import load_image
from posenet_cls.errors import PosenetError
from posenet_cls.coaching.exercises import Exercise, exercise_class, exercise_photo, exercise_text
from posenet_cls.coaching.form import form_text
from posenet_cls.coaching.hints import class_hints, short_text
from posenet_cls.pose.extract import PoseOptions
from posenet_cls.pose.people import Person, pose_box
from posenet_cls.runtime import NOVEL, UNKNOWN, PoseRuntime
from posenet_cls.schema import LANDMARK_NAMES, SCHEMA_VERSION

DEFAULT_MODEL = CHECKPOINTS / "pose_mlp.onnx"
POOL_MIN_PHOTOS = 16  # below this, starting worker processes costs more than it saves


@dataclass
class PersonResult:
    """One person in a photo: index (0 = the largest), box, class or "unknown", and the form hints of that class."""

    person: int
    box: tuple[float, float, float, float]
    label: str
    confidence: float
    best: str
    probabilities: dict[str, float]
    novelty: float | None
    unknown_reason: str | None
    hints: list[dict] | None
    keypoints: np.ndarray = field(repr=False)
    exercise: dict | None = None  # with --exercise: coaching.exercises.exercise_photo's phase and checks
    show_class: bool = True  # the annotated copy shows the class (False: an exercise the model has no class for)

    def to_json(self) -> dict[str, object]:
        out = {"person": self.person, "box": [round(v, 4) for v in self.box], "label": self.label,
               "confidence": self.confidence, "best": self.best, "probabilities": self.probabilities,
               "novelty": self.novelty, "unknown_reason": self.unknown_reason, "hints": self.hints}
        return out if self.exercise is None else {**out, "exercise": self.exercise}


@dataclass
class PhotoResult:
    """One file's outcome: status 'pose' (one :class:`PersonResult` per person), 'no_pose' or 'unreadable'.

    The one person's fields (``label``, ``confidence``, ...) read the first, largest person; ``several``
    (more than one person was asked for) shapes the JSON.
    """

    source: str
    status: str
    people: list[PersonResult] = field(default_factory=list)
    attempt: str = ""
    reason: str = ""
    annotated: str | None = None
    several: bool = False

    def _first(self, name: str):
        return getattr(self.people[0], name) if self.people else None

    label = property(lambda self: self._first("label"))
    confidence = property(lambda self: self._first("confidence"))
    best = property(lambda self: self._first("best"))
    probabilities = property(lambda self: self._first("probabilities"))
    novelty = property(lambda self: self._first("novelty"))
    unknown_reason = property(lambda self: self._first("unknown_reason"))
    hints = property(lambda self: self._first("hints"))
    keypoints = property(lambda self: self._first("keypoints"))
    exercise = property(lambda self: self._first("exercise"))

    def to_json(self) -> dict:
        """JSON-safe fields (keypoints left out): one person's flat, several people as a list."""
        if self.several:
            return {"source": self.source, "status": self.status, "people": [p.to_json() for p in self.people],
                    "reason": self.reason, "annotated": self.annotated}
        out = {"source": self.source, "status": self.status, "label": self.label, "confidence": self.confidence,
               "best": self.best, "probabilities": self.probabilities, "novelty": self.novelty,
               "unknown_reason": self.unknown_reason, "attempt": self.attempt, "reason": self.reason,
               "annotated": self.annotated, "hints": self.hints}
        return out if self.exercise is None else {**out, "exercise": self.exercise}


def load_model(path: str | Path | None = None) -> PoseRuntime:
    """The ONNX classifier at ``path`` (default: the shipped model), checked against this landmark schema."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if path == DEFAULT_MODEL and not path.is_file():
        raise PosenetError(f"{path}: the shipped model is missing; rebuild it with python scripts/train_default_model.py")
    runtime = PoseRuntime(path)
    if runtime.schema_version != SCHEMA_VERSION or runtime.landmarks != LANDMARK_NAMES:
        raise PosenetError(
            f"{path}: made for landmark schema version {runtime.schema_version}, "
            f"this posenet-cls uses version {SCHEMA_VERSION}; export the model again"
        )
    return runtime


def find_photos(source: str | Path) -> tuple[Path, list[str]]:
    """(root, relative paths) of a photo, or of every file under a folder (recursively, sorted, hidden skipped)."""
    source = Path(source)
    if source.is_file():
        return source.parent, [source.name]
    if not source.is_dir():
        raise PosenetError(f"{source}: no such file or folder")
    found = list_files(source)
    if not found:
        raise PosenetError(f"{source}: the folder holds no files")
    return source, found


def predict_photos(
    source: str | Path,
    runtime: PoseRuntime,
    threshold: float | None = None,
    out_dir: str | Path | None = None,
    pose: PoseOptions = PoseOptions(),
    workers: int | None = None,
    exercise: Exercise | None = None,
    show_class: bool | None = None,
) -> Iterator[PhotoResult]:
    """One result per file under ``source``, in sorted order; annotated copies go to ``out_dir`` when given.

    ``pose``: how BlazePose runs (backend, up to ``max_people`` people per photo; one person is tried with
    :data:`posenet_cls.pose.common.PREDICT_ATTEMPTS` unless it names its attempts). ``workers``: pose
    processes for MediaPipe, decoding threads for onnx (default: all cores for 16+ photos). ``exercise``: each
    person also gets that exercise's phase and one-frame checks, and class hints only for the exercise's own class;
    ``show_class`` as in :class:`posenet_cls.infer.stream.StreamConfig`.
    """
    from posenet_cls.pose.common import PREDICT_ATTEMPTS
    from posenet_cls.pose.workers import extract_tasks

    root, names = find_photos(source)
    if workers is None:
        workers = 1 if len(names) < POOL_MIN_PHOTOS else (os.cpu_count() or 1)
    workers = max(1, min(workers, len(names)))
    tasks = [(str(root), name, "") for name in names]
    order = {name: i for i, name in enumerate(names)}
    waiting: dict[int, PhotoResult] = {}
    nxt = 0
    # Results come in completion order; they are yielded in file order.
    for found in extract_tasks(tasks, replace(pose, attempts=pose.attempts or PREDICT_ATTEMPTS), workers):
        waiting[order[found.source]] = _classify(found, root, runtime, threshold, out_dir, pose.several, exercise,
                                                 show_class)
        while nxt in waiting:
            yield waiting.pop(nxt)
            nxt += 1


def classify_people(people: list[Person], runtime: PoseRuntime, threshold: float | None = None,
                    exercise: Exercise | None = None, aspect: float = 1.0,
                    show_class: bool | None = None) -> list[PersonResult]:
    """Each person of a photo classified, with the form hints of their class; with an ``exercise``, its phase and
    one-frame checks (``aspect``: the photo's width / height), and hints only where the class is the exercise's."""
    own, shown = exercise_class(exercise, runtime.classes, show_class)
    out = []
    for person in people:
        probs, novelty = runtime.pose_scores(person.keypoints, person.world)
        probs = probs.copy()  # the runtime overwrites its buffer on the next call
        pred = runtime.decide(probs, threshold, novelty)
        hinted = exercise is None or pred.label == own  # a class's profile describes that class only
        out.append(PersonResult(person.id, person.box, pred.label, round(pred.confidence, 6), pred.best,
                                {c: round(float(p), 6) for c, p in zip(runtime.classes, probs)},
                                None if novelty is None else round(novelty, 4), pred.reason,
                                class_hints(person.keypoints, pred.label, runtime.metadata.get("angle_profile"))
                                if hinted else [], person.keypoints,
                                None if exercise is None else exercise_photo(exercise, person.keypoints, person.world,
                                                                             aspect), shown))
    return out


def _classify(found, root: Path, runtime: PoseRuntime, threshold: float | None, out_dir, several: bool,
              exercise: Exercise | None = None, show_class: bool | None = None) -> PhotoResult:
    """Turn one extraction result into a prediction per person, writing its annotated copy."""
    source = str(root / found.source)
    if found.status != Status.POSE:
        return PhotoResult(source, found.status, reason=found.reason, several=several)
    people = [Person(i, kp, w, tuple(float(v) for v in pose_box(kp))) for i, (kp, w) in enumerate(found.poses())]
    # the photo itself: exercise angles are measured in pixels (as on a video's frames), and the copy is drawn on it
    rgb = load_image(root / found.source) if exercise is not None or out_dir is not None else None
    aspect = 1.0 if rgb is None else rgb.shape[1] / rgb.shape[0]
    result = PhotoResult(source, Status.POSE, classify_people(people, runtime, threshold, exercise, aspect, show_class),
                         found.attempt, several=several)
    if out_dir is not None:
        result.annotated = str(annotate_photo(rgb, result, Path(out_dir) / found.source))
    return result


def label_text(result: PersonResult) -> str:
    """The text written on an annotated photo: 'label 0.97', or 'unknown (best 0.41)', 'unknown (unlike Triangle)'."""
    if result.label == UNKNOWN and result.unknown_reason == NOVEL:
        return f"{UNKNOWN} (unlike {result.best})"
    if result.label == UNKNOWN:
        return f"{UNKNOWN} ({result.best} {result.confidence:.2f})"
    return f"{result.label} {result.confidence:.2f}"


def annotate_photo(rgb: np.ndarray, result: PhotoResult, out: str | Path) -> Path:
    """Write a copy of the photo ``rgb`` with each person's skeleton and label to ``out``; returns the written path."""
    from posenet_cls.infer.draw import PersonTag, annotate, annotate_people, write_image

    def lines(p: PersonResult) -> list[str]:
        text = ([label_text(p)] if p.show_class else []) + ([short_text(p.hints[0])] if p.hints else [])
        if p.exercise is not None:  # the exercise first, as on a video's tag
            text = [exercise_text(p.exercise)] + ([form_text(p.exercise)] if p.exercise["values"] else []) + text
        return [(f"#{p.person} " if result.several and i == 0 else "") + line for i, line in enumerate(text)]

    if not result.several:
        p = result.people[0]
        return write_image(annotate(rgb, p.keypoints, lines(p), p.label == UNKNOWN and p.show_class), out)
    tags = [PersonTag(p.keypoints, lines(p), p.label == UNKNOWN and p.show_class, p.person) for p in result.people]
    return write_image(annotate_people(rgb, tags), out)
