"""Several people per video or photo (``--max-people N``): one tracking ID, one label, one count each.

:class:`PeopleSession` keeps a :class:`posenet_cls.infer.stream.VideoSession` per ID, so smoothing,
"unknown", repetitions, holds, form hints and pose segments run per person with their own state;
:class:`PeopleStream` tracks the people of a video (:class:`posenet_cls.pose.people.PeopleTracker`)
and feeds them. :func:`predict_people_photos` gives one answer per person in each photo.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.infer.stream import FrameResult, FrameSink, StreamConfig, VideoSession, display_available, overlay_lines
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.extract import PoseOptions, make_extractor
from posenet_cls.pose.people import Person, PeopleTracker, TrackerConfig, people_in_photo
from posenet_cls.runtime import UNKNOWN, PoseRuntime

PERSON_KEYS = ("label", "confidence", "probabilities", "novelty", "reps", "hold_s", "longest_hold_s", "hints")


def multi_person_options(pose: PoseOptions) -> PoseOptions:
    """The pose options several people need: the onnx backend (MediaPipe's solution tracks one person)."""
    return replace(pose, backend="onnx")


@dataclass
class PeopleFrame:
    """One frame with several people: each person's ID, box and :class:`FrameResult`."""

    frame: int
    timestamp_s: float
    people: list[tuple[Person, FrameResult]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out = []
        for person, result in self.people:
            record = result.to_json()
            entry: dict[str, object] = {"id": person.id, "box": [round(v, 4) for v in person.box]}
            entry.update({k: record[k] for k in PERSON_KEYS if k in record})
            out.append(entry)
        return {"frame": self.frame, "timestamp_s": round(self.timestamp_s, 4), "people": out}


class PeopleSession:
    """Per-ID state over a stream: a :class:`VideoSession` for each person, fed while their ID lives."""

    def __init__(self, runtime: PoseRuntime, config: StreamConfig = StreamConfig()):
        self.runtime, self.config = runtime, config
        VideoSession(runtime, config)  # refuse bad settings before the first frame
        self.sessions: dict[int, VideoSession] = {}
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.seen: dict[int, int] = {}
        self.frames = 0

    def update(self, frame: int, t: float, people: list[Person], alive: set[int], aspect: float = 1.0) -> PeopleFrame:
        """Classify each person of one frame; IDs still alive but not seen this frame get a frame without a person."""
        self.frames += 1
        out = PeopleFrame(frame, t)
        here = {p.id for p in people}
        for person in people:
            if person.id not in self.sessions:
                self.sessions[person.id] = VideoSession(self.runtime, self.config)
            session = self.sessions[person.id]
            self.first.setdefault(person.id, frame)
            self.last[person.id] = frame
            self.seen[person.id] = self.seen.get(person.id, 0) + 1
            out.people.append((person, session.update(frame, t, person.keypoints, person.world, aspect)))
        for person_id in sorted(alive - here):
            if person_id in self.sessions:
                self.sessions[person_id].update(frame, t, None)
        return out

    def summary(self) -> dict[str, object]:
        """Frames, and per person: ID, first and last frame, frames seen, reps, rep log, segments, holds."""
        people = []
        for person_id in sorted(self.sessions):
            s = self.sessions[person_id].summary()
            entry = {"id": person_id, "first_frame": self.first[person_id], "last_frame": self.last[person_id],
                     "frames": self.seen[person_id]}
            entry.update({k: v for k, v in s.items() if k not in ("summary", "frames", "frames_with_pose")})
            people.append(entry)
        return {"summary": True, "frames": self.frames, "people": people}


class PeopleStream:
    """The frames of one video file or webcam with up to ``max_people`` people: iterate for :class:`PeopleFrame`;
    ``session`` holds the state. Annotated frames go to ``out_video`` (H.264) and, with ``show``, to a window."""

    def __init__(self, source: str | Path | int, runtime: PoseRuntime, max_people: int,
                 config: StreamConfig = StreamConfig(), pose: PoseOptions = PoseOptions(),
                 out_video: str | Path | None = None, show: bool | None = None):
        self.tracker_config = TrackerConfig(max_people=max_people)
        self.tracker_config.check()
        self.source, self.runtime, self.config, self.out_video = source, runtime, config, out_video
        self.pose = replace(multi_person_options(pose), tracking=True)
        self.pose.check()
        self.show = display_available() if show is None else (show and display_available())
        self.session = PeopleSession(runtime, config)

    def __iter__(self) -> Iterator[PeopleFrame]:
        from posenet_cls.infer.draw import PersonTag, annotate_people

        with VideoReader(self.source) as video, make_extractor(self.pose) as extractor, \
                FrameSink(self.out_video, video.fps, self.show, video.is_webcam) as sink:
            tracker = PeopleTracker(extractor, self.tracker_config)
            for index, t, rgb in video:
                people = tracker.frame(rgb, t)
                result = self.session.update(index, t, people, tracker.alive_ids, rgb.shape[1] / rgb.shape[0])
                yield result
                if sink.wanted:
                    tags = [PersonTag(p.keypoints, [f"#{p.id} " + line if i == 0 else line
                                                    for i, line in enumerate(overlay_lines(r))],
                                      r.label == UNKNOWN, p.id) for p, r in result.people]
                    counts = ", ".join(f"#{p.id} {r.reps}" for p, r in result.people if r.reps is not None)
                    status = " | ".join(x for x in (f"{sink.fps:.0f} FPS" if sink.fps else "",
                                                    f"{len(people)} people", f"reps {counts}" if counts else "") if x)
                    if sink.put(annotate_people(rgb, tags, status, copy=False)):
                        break
                sink.tick()
            sink.completed = True


@dataclass
class PersonResult:
    """One person in a photo: index (0 = the largest), box, and the single-person answer fields."""

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

    def to_json(self) -> dict[str, object]:
        return {"person": self.person, "box": [round(v, 4) for v in self.box], "label": self.label,
                "confidence": self.confidence, "best": self.best, "probabilities": self.probabilities,
                "novelty": self.novelty, "unknown_reason": self.unknown_reason, "hints": self.hints}


def classify_people(people: list[Person], runtime: PoseRuntime, threshold: float | None = None) -> list[PersonResult]:
    """Each person of a photo classified as a single photo would be."""
    from posenet_cls.coaching.hints import class_hints

    out = []
    for person in people:
        probs, novelty = runtime.pose_scores(person.keypoints)
        probs = probs.copy()
        pred = runtime.decide(probs, threshold, novelty)
        out.append(PersonResult(person.id, person.box, pred.label, round(pred.confidence, 6), pred.best,
                                {c: round(float(p), 6) for c, p in zip(runtime.classes, probs)},
                                None if novelty is None else round(novelty, 4), pred.reason,
                                class_hints(person.keypoints, pred.label, runtime.metadata.get("angle_profile")),
                                person.keypoints))
    return out


@dataclass
class PhotoPeople:
    """One file with several people: status 'pose' (one entry per person), 'no_pose' or 'unreadable'."""

    source: str
    status: str
    people: list[PersonResult] = field(default_factory=list)
    reason: str = ""
    annotated: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "status": self.status, "people": [p.to_json() for p in self.people],
                "reason": self.reason, "annotated": self.annotated}


def predict_people_photos(source: str | Path, runtime: PoseRuntime, max_people: int, threshold: float | None = None,
                          out_dir: str | Path | None = None, pose: PoseOptions = PoseOptions()) -> Iterator[PhotoPeople]:
    """One :class:`PhotoPeople` per file under ``source``, in sorted order; annotated copies go to ``out_dir``."""
    from posenet_cls.pose.outcomes import Status
    from posenet_cls.infer.draw import PersonTag, annotate_people, write_image
    from posenet_cls.infer.photos import find_photos, label_text
    from posenet_cls.coaching.hints import short_text
    from posenet_cls.io.images import load_image

    root, names = find_photos(source)
    options = replace(multi_person_options(pose), tracking=False)
    options.check()
    with make_extractor(options) as extractor:
        for name in names:
            path = root / name
            try:
                rgb = load_image(path)
            except PosenetError as err:
                yield PhotoPeople(str(path), Status.UNREADABLE, reason=str(err))
                continue
            people = classify_people(people_in_photo(rgb, extractor, max_people), runtime, threshold)
            if not people:
                yield PhotoPeople(str(path), Status.NO_POSE, reason="no person found")
                continue
            result = PhotoPeople(str(path), Status.POSE, people)
            if out_dir is not None:
                tags = [PersonTag(p.keypoints, [f"#{p.person} {label_text(p)}"]
                                  + ([short_text(p.hints[0])] if p.hints else []), p.label == UNKNOWN, p.person)
                        for p in people]
                result.annotated = str(write_image(annotate_people(rgb, tags), Path(out_dir) / name))
            yield result
