"""What extraction made of each file: the outcome record, decoding a file's bytes, videos as frame jobs.

Shared by the local engine (:mod:`posenet_cls.pose.workers`), the batched onnx path
(:mod:`posenet_cls.pose.onnx_batch`) and the Ray engine, so that all three give the same outcomes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.io.video import is_video
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, NUM_WORLD_CHANNELS


class Status(str, Enum):
    """A file's (or video frame's) outcome; a str, so it compares, sorts and serialises as its value."""

    POSE = "pose"
    NO_POSE = "no_pose"
    UNREADABLE = "unreadable"
    FAILED = "failed"
    PENDING = "pending"  # read and decoded, BlazePose still to run
    VIDEO = "video"  # the Ray engine's end-of-video row

    __str__ = str.__str__
    __format__ = str.__format__


MAX_CRASHES = 2  # a file that kills the pose backend this many times while running alone is reported as failed


@dataclass
class FileResult:
    """What extraction made of one file or video frame: status is 'pose', 'no_pose', 'unreadable' or 'failed'.

    ``video`` is set on a video's frame rows (the video's path); a video's own result has it empty.
    """

    source: str
    label: str
    sha1: str
    status: str
    attempt: str = ""
    reason: str = ""
    keypoints: list[float] | None = None
    video: str = ""
    others: list[list[float]] | None = None  # with --max-people: the other people's poses, largest first
    world: list[float] | None = None  # the pose's world landmarks (33 x 3, metres), when the backend gives them
    others_world: list[list[float] | None] | None = None  # with --max-people: the others' world landmarks

    def poses(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Each person's (keypoints float32 (33, 4), world landmarks (33, 3) or None), the largest first."""
        keypoints = [self.keypoints, *(self.others or [])] if self.keypoints is not None else []
        worlds = [self.world, *(self.others_world or [None] * (len(keypoints) - 1))]
        return [(np.asarray(k, np.float32).reshape(NUM_LANDMARKS, NUM_CHANNELS),
                 None if w is None else np.asarray(w, np.float32).reshape(NUM_LANDMARKS, NUM_WORLD_CHANNELS))
                for k, w in zip(keypoints, worlds)]


@dataclass
class Decoded:
    """A file (or video frame) already read in this process: its result so far and its RGB image, None when final."""

    result: FileResult
    rgb: np.ndarray | None = None


Task = tuple[str, str, str]  # (root, path relative to root, label): read and decoded by the worker


Job = Task | Decoded


def read_failed(rel: str, label: str, error: OSError) -> FileResult:
    """The result of a file whose bytes could not be read."""
    return FileResult(rel, label, "", Status.UNREADABLE, reason=f"cannot read file ({error.strerror or error})")


def decode_file(rel: str, label: str, data: bytes) -> tuple[FileResult, np.ndarray | None]:
    """A file's bytes -> (its result so far, with the sha1; 'unreadable' when not a photo) and its RGB image or None."""
    from posenet_cls.io.images import decode_image

    sha1 = hashlib.sha1(data).hexdigest()
    try:
        return FileResult(rel, label, sha1, Status.PENDING), decode_image(data, rel)
    except PosenetError as e:
        return FileResult(rel, label, sha1, Status.UNREADABLE, reason=str(e).split(": ", 1)[-1]), None


def pose_result(pending: FileResult, found) -> FileResult:
    """A decoded file's result completed with what BlazePose found in it (an :class:`extract.PhotoPose`)."""
    if found.keypoints is None:
        return replace(pending, status=Status.NO_POSE,
                       reason=f"no person found ({len(found.tried)} attempts: {', '.join(found.tried)})")
    return replace(pending, status=Status.POSE, attempt=found.attempt, keypoints=found.keypoints.ravel().tolist(),
                   world=None if found.world is None else found.world.ravel().tolist())


def crash_reason(crashes: int) -> str:
    """The reason of a file reported as failed because the pose backend died on it."""
    return f"the pose backend crashed on this file ({crashes} times)"


def video_result(rel: str, label: str, sha1: str, frames: Iterable[str]) -> FileResult:
    """A video's own outcome from its frames' statuses: 'pose' when a person is in any frame."""
    statuses = list(frames)
    found, crashed = statuses.count(Status.POSE), statuses.count(Status.FAILED)
    note = f"; the pose backend crashed on {crashed} of them" if crashed else ""
    if found:
        return FileResult(rel, label, sha1, Status.POSE, reason=f"a person in {found} of {len(statuses)} frames{note}")
    return FileResult(rel, label, sha1, Status.NO_POSE, reason=f"no person found in any of {len(statuses)} frames{note}")


def _file_sha1(path: Path) -> str:
    """The sha1 of a file's bytes, read in pieces (a video may be large)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def video_frames(root: str, rel: str, label: str, ends: dict[str, tuple[str, str, int]],
                 path: Path | None = None) -> Iterator[Decoded]:
    """A video's frames as pending jobs (static mode, like photos); then ``ends[rel]`` = (label, sha1, frame count).

    A video that cannot be read is one final, unreadable job. ``path``: where its bytes are, when not
    at ``root/rel`` (a local copy of a file behind a URI).
    """
    from posenet_cls.io.video import VideoReader

    path = path if path is not None else Path(root) / rel
    try:
        sha1 = _file_sha1(path)
    except OSError as e:
        yield Decoded(read_failed(rel, label, e))
        return
    frames = 0
    try:
        with VideoReader(path) as video:
            for index, _t, rgb in video:
                yield Decoded(FileResult(f"{rel}#{index:06d}", label, sha1, Status.PENDING, video=rel), rgb)
                frames += 1
    except PosenetError as e:
        if not frames:
            yield Decoded(FileResult(rel, label, sha1, Status.UNREADABLE, reason=str(e).split(": ", 1)[-1]))
            return
    ends[rel] = (label, sha1, frames)  # a video that breaks off keeps the frames already read


def with_videos(tasks: Iterable[Task],
                extract: Callable[[Iterator[Job]], Iterable[FileResult]]) -> Iterator[FileResult]:
    """``extract``'s results for ``tasks``, every video run as its frames: the frames' results, then the video's own."""
    ends: dict[str, tuple[str, str, int]] = {}
    frames: dict[str, dict[str, str]] = defaultdict(dict)

    def jobs() -> Iterator[Job]:
        for root, rel, label in tasks:
            if is_video(rel):
                yield from video_frames(root, rel, label, ends)
            else:
                yield root, rel, label

    def finished() -> Iterator[FileResult]:
        for rel, (label, sha1, count) in list(ends.items()):
            if len(frames[rel]) == count:
                del ends[rel]
                yield video_result(rel, label, sha1, frames.pop(rel).values())

    for result in extract(jobs()):
        yield result
        if result.video:
            frames[result.video][result.source] = result.status
        yield from finished()
    yield from finished()


def job_result(job: Job) -> FileResult:
    """The result a job starts from (sha1 read here for a file the worker never got to hash)."""
    if isinstance(job, Decoded):
        return job.result
    root, rel, label = job
    try:
        return FileResult(rel, label, _file_sha1(Path(root) / rel), Status.PENDING)
    except OSError as e:
        return read_failed(rel, label, e)


def read_and_decode(task: Job) -> tuple[FileResult, np.ndarray | None]:
    """Read, hash and decode one file: (its result so far, 'unreadable' when not a photo, and its RGB or None).

    Never raises for a bad file; both engines' local paths read files through here.
    A :class:`posenet_cls.pose.outcomes.Decoded` job (a video frame) is already read: it is passed through.
    """
    if isinstance(task, Decoded):
        return task.result, task.rgb
    root, rel, label = task
    try:
        data = (Path(root) / rel).read_bytes()
    except OSError as e:
        return read_failed(rel, label, e), None
    return decode_file(rel, label, data)
