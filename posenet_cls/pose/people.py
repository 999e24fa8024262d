"""The people of a frame or photo, each with an integer ID kept while in view; one person is the N = 1 case.

:func:`make_tracker` is the one place a tracker is chosen: for one person, the backend's own
tracking (:class:`OnePersonTracker`, MediaPipe's or the onnx pipeline's, ID 0); for several,
:class:`PeopleTracker`, which works on :class:`posenet_cls.pose.blazepose.pipeline.OnnxPoseExtractor` (MediaPipe's solution
tracks one person only). Per frame, as MediaPipe's tracker does for one person, each tracked
person's region comes from the previous frame's landmarks, and the landmark network runs on all of
them in one call (on the CPU, split over the worker threads). The detector runs on every frame
while nobody is tracked, every ``search_every`` frames while fewer than ``max_people`` are, and
every ``redetect_every`` frames (a second) otherwise; a detection whose hips lie inside a tracked person's box is that person.
New detections are matched to recently lost people by an optimal assignment (scipy's
``linear_sum_assignment``) on hip distance, so a person who was hidden for up to ``keep_s`` gets
their ID back; after that, a new ID. When two tracks land on the same person (people crossing),
the track that moved less keeps them and the other is lost, so IDs are never swapped. There is no
scene-cut test as in single-person tracking: one person leaving changes half the frame, and a
track that lost its person is dropped by the landmark network's presence score anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.pose.common import check_rgb
from posenet_cls.schema import Landmark as L

MIN_VISIBILITY = 0.3  # joints seen at least this well make a person's box


@dataclass(frozen=True)
class TrackerConfig:
    """How people are found and kept: at most ``max_people``, the detector every ``redetect_every`` frames."""

    max_people: int = 2
    redetect_every: int = 30  # frames between detector runs while everyone is tracked
    search_every: int = 3  # frames between detector runs while fewer than max_people are tracked
    keep_s: float = 0.5  # a lost person's ID waits this long for them to come back
    same_person: float = 0.5  # tracks whose boxes overlap more than this (IoU) are one person
    match_distance: float = 0.75  # a detection this far from a lost person's hips (in their box's size) is someone else

    def check(self) -> None:
        """Refuse settings that cannot track, naming the option."""
        if not isinstance(self.max_people, int) or self.max_people < 1:
            raise PosenetError(f"max_people must be a whole number >= 1, got {self.max_people!r}")
        if self.redetect_every < 1 or self.search_every < 1:
            raise PosenetError(f"redetect_every and search_every must be >= 1, got {self.redetect_every}, {self.search_every}")
        if self.keep_s < 0:
            raise PosenetError(f"keep_s must be >= 0 seconds, got {self.keep_s}")


@dataclass
class Person:
    """One person in one frame: tracking ID, raw pose (33, 4), world landmarks (33, 3) or None, box (x0, y0, x1, y1)
    normalised to the image, and in a photo the attempt that found them (:data:`pose.common.ATTEMPTS`)."""

    id: int
    keypoints: np.ndarray = field(repr=False)
    world: np.ndarray | None = field(repr=False)
    box: tuple[float, float, float, float]
    attempt: str = ""


def pose_box(keypoints: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of a pose's well-seen joints (all joints if none is), normalised to the image."""
    seen = keypoints[:, 3] >= MIN_VISIBILITY
    xy = keypoints[seen if seen.any() else slice(None), :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float64)


def hips(keypoints: np.ndarray) -> np.ndarray:
    """The mid-hip point (x, y) of a pose, normalised to the image."""
    return (keypoints[L.LEFT_HIP, :2].astype(np.float64) + keypoints[L.RIGHT_HIP, :2]) / 2


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (the detector's NMS measure)."""
    from posenet_cls.pose.blazepose.anchors import iou

    return float(iou(np.asarray(a)[None], np.asarray(b))[0])


def box_size(box: np.ndarray) -> float:
    """A box's longer side: the unit in which a person's movement is measured."""
    return float(max(box[2] - box[0], box[3] - box[1], 1e-6))


def _inside(point: np.ndarray, box: np.ndarray, margin: float = 0.1) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return bool(box[0] - margin * w <= point[0] <= box[2] + margin * w and box[1] - margin * h <= point[1] <= box[3] + margin * h)


class _Track:
    """One person's state: ID, the region for the next frame, the landmark filters, where they were last seen."""

    def __init__(self, track_id: int, roi: np.ndarray):
        from posenet_cls.pose.blazepose.pipeline import PoseFilters

        self.id = track_id
        self.roi: np.ndarray | None = roi
        self.filters = PoseFilters()
        self.box: np.ndarray | None = None
        self.hips: np.ndarray | None = None
        self.last_seen = -np.inf
        self.moved = 0.0  # how far the hips moved this frame, in box sizes
        self.pose: tuple[np.ndarray, np.ndarray] | None = None  # (keypoints, world) of the last frame seen

    def lost(self) -> None:
        self.roi = None
        self.filters.lost()


class PeopleTracker:
    """Tracks up to ``config.max_people`` people through the frames of one sequence; :meth:`frame` per frame."""

    def __init__(self, extractor, config: TrackerConfig = TrackerConfig()):
        config.check()
        self.extractor = extractor
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frames = 0
        self._tick = 1

    @property
    def alive_ids(self) -> set[int]:
        """IDs tracked now or lost for at most ``keep_s`` (they may come back)."""
        return {tr.id for tr in self._tracks}

    def _run_landmarks(self, rgb: np.ndarray, tracks: list[_Track], t: float, t_us: int, size: np.ndarray) -> None:
        """Landmarks for every track with a region, in one network call; a track without a person is lost."""
        from posenet_cls.pose.blazepose import geometry as geo

        found = self.extractor.landmarks_in(rgb, np.stack([tr.roi for tr in tracks]))
        for track, pose in zip(tracks, found):
            if pose is None:
                track.lost()
                continue
            keypoints, world, aux = track.filters.apply(t_us, *pose, size[0])
            track.roi = geo.landmark_rois(aux[None, 0, :2], aux[None, 1, :2], size)[0]
            box, centre = pose_box(keypoints), hips(keypoints)
            track.moved = 0.0 if track.hips is None else float(np.linalg.norm(centre - track.hips)) / box_size(box)
            track.box, track.hips, track.last_seen = box, centre, t
            track.pose = (keypoints.astype(np.float32), world.astype(np.float32))

    def _drop_duplicates(self, live: list[_Track]) -> list[_Track]:
        """Of two tracks on one person, keep the one that moved less (the other jumped onto them)."""
        kept: list[_Track] = []
        for track in sorted(live, key=lambda tr: tr.moved):
            if any(box_iou(track.box, other.box) > self.config.same_person for other in kept):
                track.lost()
                continue
            kept.append(track)
        return kept

    def _match_lost(self, detections: list[tuple[np.ndarray, np.ndarray, float]]) -> list[tuple[_Track | None, np.ndarray]]:
        """Each new detection with the lost track it continues (optimal assignment on hip distance), or None."""
        from scipy.optimize import linear_sum_assignment

        lost = [tr for tr in self._tracks if tr.roi is None and tr.hips is not None]
        pairs: list[tuple[_Track | None, np.ndarray]] = [(None, roi) for roi, _, _ in detections]
        if not lost or not detections:
            return pairs
        cost = np.array([[np.linalg.norm(centre - tr.hips) / box_size(tr.box) for tr in lost] for _, centre, _ in detections])
        for d, k in zip(*linear_sum_assignment(cost)):
            if cost[d, k] <= self.config.match_distance:
                pairs[d] = (lost[k], detections[d][0])
        return pairs

    def frame(self, rgb: np.ndarray, timestamp_s: float) -> list[Person]:
        """The people in the next frame of the sequence, by ID."""
        from posenet_cls.pose.blazepose import geometry as geo
        from posenet_cls.pose.blazepose.pipeline import FRAME_US

        check_rgb(rgb)
        cfg = self.config
        t = float(timestamp_s)
        self._tick += 1
        t_us = self._tick * FRAME_US
        size = geo.image_sizes([rgb])
        tracked = [tr for tr in self._tracks if tr.roi is not None]
        if tracked:
            self._run_landmarks(rgb, tracked, t, t_us, size)
        live = self._drop_duplicates([tr for tr in tracked if tr.roi is not None])
        every = cfg.search_every if len(live) < cfg.max_people else cfg.redetect_every
        if not live or self._frames % every == 0:
            found = self.extractor.detect_people(rgb, cfg.max_people + len(live))
            new = [d for d in found if not any(_inside(d[1], tr.box) for tr in live)]
            new = new[: cfg.max_people - len(live)]
            starting = []
            for track, roi in self._match_lost(new):
                if track is None:
                    track = _Track(self._next_id, roi)
                    self._next_id += 1
                    self._tracks.append(track)
                track.roi = roi
                starting.append(track)
            if starting:
                self._run_landmarks(rgb, starting, t, t_us, size)
                live = self._drop_duplicates(live + [tr for tr in starting if tr.roi is not None])
        self._frames += 1
        self._tracks = [tr for tr in self._tracks if tr.roi is not None or t - tr.last_seen <= cfg.keep_s]
        return [Person(tr.id, *tr.pose, tuple(float(v) for v in tr.box)) for tr in sorted(live, key=lambda tr: tr.id)]

    def photo(self, rgb: np.ndarray) -> list[Person]:
        """The people in one photo (static mode), the largest first; IDs are 0, 1, ... in that order."""
        check_rgb(rgb)
        found = self.extractor.detect_people(rgb, self.config.max_people)
        poses = self.extractor.landmarks_in(rgb, np.stack([roi for roi, _, _ in found])) if found else []
        people: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for pose in poses:
            if pose is None:
                continue
            box = pose_box(pose[0])
            if any(box_iou(box, other) > self.config.same_person for _, _, other in people):
                continue  # two detections of one person
            people.append((pose[0], pose[1], box))
        people.sort(key=lambda p: -(p[2][2] - p[2][0]) * (p[2][3] - p[2][1]))
        return [_person(i, kp, world) for i, (kp, world, _) in enumerate(people)]


class OnePersonTracker:
    """One person (ID 0) through the frames of one sequence, with the backend's own tracking; photos with its retries."""

    alive_ids = frozenset({0})  # one person's state lives through frames without them

    def __init__(self, extractor):
        self.extractor = extractor

    def frame(self, rgb: np.ndarray, timestamp_s: float) -> list[Person]:
        """The person in the next frame of the sequence, or [] when nobody is tracked."""
        found = self.extractor.frame(rgb, timestamp_s)
        return [] if found is None else [_person(0, *found)]

    def photo(self, rgb: np.ndarray) -> list[Person]:
        """The person in one photo (static mode, with the backend's retries), or []."""
        found = self.extractor.photo(rgb)
        return [] if found.keypoints is None else [_person(0, found.keypoints, found.world, found.attempt)]


def _person(person_id: int, keypoints: np.ndarray, world: np.ndarray | None, attempt: str = "") -> Person:
    return Person(person_id, keypoints.astype(np.float32), None if world is None else world.astype(np.float32),
                  tuple(float(v) for v in pose_box(keypoints)), attempt)


def make_tracker(extractor, max_people: int = 1) -> OnePersonTracker | PeopleTracker:
    """The tracker for ``max_people`` on ``extractor``: the backend's own for one, :class:`PeopleTracker` (onnx) for more."""
    if max_people == 1:
        return OnePersonTracker(extractor)
    return PeopleTracker(extractor, TrackerConfig(max_people=max_people))
