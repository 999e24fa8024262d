"""Test helper: videos assembled from real photos (imported by bare name, as pytest puts tests/ on sys.path)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from posenet_cls.io.images import load_image


def make_video(path: Path, photos: Iterable[Path], frames_each: int, fps: float = 10.0,
               size: tuple[int, int] = (480, 640)) -> None:
    """A test video of real photos, each letterboxed to ``size`` (height, width) and held for ``frames_each`` frames."""
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for photo in photos:
        rgb = load_image(photo)
        scale = min(w / rgb.shape[1], h / rgb.shape[0])
        small = cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)))
        frame = np.zeros((h, w, 3), np.uint8)
        y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
        frame[y : y + small.shape[0], x : x + small.shape[1]] = small
        for _ in range(frames_each):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
