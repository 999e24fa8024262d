"""The benchmark's settings: which sections run, how long each measurement may take, on how much data."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field


from posenet_cls.errors import PosenetError


SECTIONS = ("classifiers", "extraction", "backends", "end_to_end")


BATCHES = (1, 64, 4096)


POSE_BATCHES = (1, 16, 64, 256)  # photos per network call of the onnxruntime BlazePose


TARGETS = {"photos, static mode": 1.3, "video frames, tracking mode": 1.5}  # onnx over MediaPipe, issue 9


PEOPLE_TARGET = 1.6  # two people's time per frame over one person's, at most (issue 16)


ARTICLE = "svc-poly"  # the reference of the classifier rows


KNN_CHUNK = 256  # k-NN predicts in chunks: its distance arrays grow with batch x training rows


Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure; the defaults give the README's figures, :data:`QUICK` a smoke run."""

    calls: int = 20000  # single-pose calls per classifier backend, at most
    seconds: float = 2.0  # time budget of one latency or throughput measurement (at least a few calls run)
    repeats: int = 1  # runs of each extraction / end-to-end measurement; the fastest is kept
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # extraction rows use 1..workers
    limit: int | None = None  # photos, spread over the classes (None: all)
    max_frames: int | None = None  # video frames (None: all)
    batches: tuple[int, ...] = BATCHES
    pose_batches: tuple[int, ...] = POSE_BATCHES  # batch sizes of the onnxruntime BlazePose rows
    epochs: int | None = None  # MLP epochs at most (None: TrainConfig's)
    sections: tuple[str, ...] = SECTIONS

    def check(self) -> None:
        """Refuse settings that cannot measure anything, naming the option."""
        for name in ("calls", "repeats", "workers"):
            if getattr(self, name) < 1:
                raise PosenetError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.seconds > 0:
            raise PosenetError(f"--seconds must be positive, got {self.seconds}")
        if not self.pose_batches or min(self.pose_batches) < 1:
            raise PosenetError(f"pose batch sizes must be at least 1, got {list(self.pose_batches)}")
        if self.limit is not None and self.limit < 2:
            raise PosenetError(f"--limit must be at least 2 photos, got {self.limit}")
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise PosenetError(f"unknown section '{sorted(unknown)[0]}' (choose from {', '.join(SECTIONS)})")


# 48 photos: 6 per class of yoga8, enough for the 5-fold split the classifier rows train on (24 was not)
QUICK = BenchConfig(calls=200, seconds=0.05, repeats=1, limit=48, max_frames=20, epochs=20, pose_batches=(1, 16))
