"""Photos -> poses -> classes: the library behind ``posenet-cls predict`` (no printing here).

A photo or a folder (walked recursively, so a class-folder tree works too) is run through
BlazePose (:mod:`posenet_cls.pose.extract`, with its retries) and an exported ONNX classifier
(:class:`posenet_cls.runtime.PoseRuntime`). Every file gets one :class:`PhotoResult`: a class
(or "unknown" under the threshold), "no_pose" or "unreadable"; nothing stops on a bad file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from posenet_cls.config import CHECKPOINTS
from posenet_cls.pose.outcomes import Status
from posenet_cls.io.files import list_files
from posenet_cls.errors import PosenetError
from posenet_cls.coaching.hints import class_hints, short_text
from posenet_cls.runtime import NOVEL, UNKNOWN, PoseRuntime
from posenet_cls.schema import LANDMARK_NAMES, SCHEMA_VERSION

DEFAULT_MODEL = CHECKPOINTS / "pose_mlp.onnx"
POOL_MIN_PHOTOS = 16  # below this, starting worker processes costs more than it saves


@dataclass
class PhotoResult:
    """One file's outcome: status 'pose' (with label, confidence, probabilities), 'no_pose' or 'unreadable'."""

    source: str
    status: str
    label: str | None = None
    confidence: float | None = None
    best: str | None = None
    probabilities: dict[str, float] | None = None
    novelty: float | None = None
    unknown_reason: str | None = None
    attempt: str = ""
    reason: str = ""
    annotated: str | None = None
    hints: list[dict] | None = None
    keypoints: np.ndarray | None = None

    def to_json(self) -> dict:
        """JSON-safe fields (keypoints left out)."""
        d = asdict(self)
        d.pop("keypoints")
        return d


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
    pose_model: str = "full",
    workers: int | None = None,
    backend: str = "mediapipe",
    batch: int = 16,
    device: str = "auto",
) -> Iterator[PhotoResult]:
    """One result per file under ``source``, in sorted order; annotated copies go to ``out_dir`` when given.

    ``backend`` ``onnx``: BlazePose on onnxruntime, ``batch`` photos per call on ``device`` (``workers``
    then counts decoding threads).
    """
    from posenet_cls.pose.workers import extract_tasks
    from posenet_cls.pose.common import PREDICT_ATTEMPTS

    root, names = find_photos(source)
    if workers is None:
        workers = 1 if len(names) < POOL_MIN_PHOTOS else (os.cpu_count() or 1)
    workers = max(1, min(workers, len(names)))
    tasks = [(str(root), name, "") for name in names]
    order = {name: i for i, name in enumerate(names)}
    waiting: dict[int, PhotoResult] = {}
    nxt = 0
    # Results come in completion order; they are yielded in file order.
    for found in extract_tasks(tasks, pose_model, workers, backend, batch, device, attempts=PREDICT_ATTEMPTS):
        waiting[order[found.source]] = _classify(found, root, runtime, threshold, out_dir)
        while nxt in waiting:
            yield waiting.pop(nxt)
            nxt += 1


def _classify(found, root: Path, runtime: PoseRuntime, threshold: float | None, out_dir) -> PhotoResult:
    """Turn one extraction result into a prediction, writing its annotated copy."""
    source = str(root / found.source)
    if found.status != "pose":
        return PhotoResult(source, found.status, reason=found.reason)
    keypoints = np.asarray(found.keypoints, dtype=np.float32).reshape(33, 4)
    probs, novelty = runtime.pose_scores(keypoints)
    probs = probs.copy()  # the runtime overwrites its buffer on the next call
    pred = runtime.decide(probs, threshold, novelty)
    result = PhotoResult(
        source, Status.POSE, pred.label, round(pred.confidence, 6), pred.best,
        {c: round(float(p), 6) for c, p in zip(runtime.classes, probs)},
        None if novelty is None else round(novelty, 4), pred.reason, found.attempt, keypoints=keypoints,
    )
    result.hints = class_hints(keypoints, pred.label, runtime.metadata.get("angle_profile"))
    if out_dir is not None:
        result.annotated = str(annotate_photo(root / found.source, result, Path(out_dir) / found.source))
    return result


def label_text(result: PhotoResult) -> str:
    """The text written on an annotated photo: 'label 0.97', or 'unknown (best 0.41)', 'unknown (unlike Triangle)'."""
    if result.label == UNKNOWN and result.unknown_reason == NOVEL:
        return f"{UNKNOWN} (unlike {result.best})"
    if result.label == UNKNOWN:
        return f"{UNKNOWN} ({result.best} {result.confidence:.2f})"
    return f"{result.label} {result.confidence:.2f}"


def annotate_photo(photo: str | Path, result: PhotoResult, out: str | Path) -> Path:
    """Write a copy of ``photo`` with its skeleton and label to ``out``; returns the written path."""
    from posenet_cls.infer.draw import annotate, write_image
    from posenet_cls.io.images import load_image

    rgb = load_image(photo)
    lines = [label_text(result)] + ([short_text(result.hints[0])] if result.hints else [])
    return write_image(annotate(rgb, result.keypoints, lines, result.label == UNKNOWN), out)
