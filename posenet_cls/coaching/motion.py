"""The movement both ``auto`` counters see: the x, y of the body's joints, each axis min-max normalised per frame.

Neither the camera's distance, the person's place in the image, the image's aspect ratio nor any
absolute angle matters (RepCount's keypoints come normalised that way).
"""

from __future__ import annotations

import numpy as np

from posenet_cls.schema import Landmark as L

MOTION_JOINTS: tuple[L, ...] = (
    L.NOSE, L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_ELBOW, L.RIGHT_ELBOW, L.LEFT_WRIST, L.RIGHT_WRIST,
    L.LEFT_HIP, L.RIGHT_HIP, L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE,
)


def motion_features(points: np.ndarray) -> np.ndarray:
    """x, y of :data:`MOTION_JOINTS`, each axis min-max normalised per frame: (..., 33, >=2) -> (..., 26)."""
    xy = np.asarray(points, dtype=np.float64)[..., list(MOTION_JOINTS), :2]
    low, high = xy.min(axis=-2, keepdims=True), xy.max(axis=-2, keepdims=True)
    out = (xy - low) / np.maximum(high - low, 1e-6)
    return out.reshape(*out.shape[:-2], 2 * len(MOTION_JOINTS))
