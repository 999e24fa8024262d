"""Joint angles, defined once by landmark name: elbows, knees, hips, shoulders and the trunk's lean.

A joint angle is the angle at vertex ``b`` between the segments to ``a`` and ``c``, in degrees
(180 = straight, smaller = more bent). It is measured in 2D image space from a raw pose batch
``(N, 33, 4)`` (x scaled by the image's width/height ratio so a square is square) or, when the
caller passes MediaPipe's world landmarks ``(N, 33, 3)`` (metres, hip-centred, y down), in 3D.
``trunk_lean`` is the angle between mid-hip -> mid-shoulder and straight up: 0 upright, 90
horizontal (plank, push-up), 180 upside down. An angle's visibility is the minimum visibility of
the landmarks it uses.
"""

from __future__ import annotations

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import LEFT_RIGHT_PAIRS, NUM_LANDMARKS, Landmark

L = Landmark

# name -> (end a, vertex b, end c); the right side is derived from the left by the schema's pairs.
_LEFT_JOINTS: dict[str, tuple[Landmark, Landmark, Landmark]] = {
    "left_elbow": (L.LEFT_SHOULDER, L.LEFT_ELBOW, L.LEFT_WRIST),
    "left_shoulder": (L.LEFT_HIP, L.LEFT_SHOULDER, L.LEFT_ELBOW),
    "left_hip": (L.LEFT_SHOULDER, L.LEFT_HIP, L.LEFT_KNEE),
    "left_knee": (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE),
}
_TWIN = {left: right for left, right in LEFT_RIGHT_PAIRS}

JOINT_ANGLES: dict[str, tuple[Landmark, Landmark, Landmark]] = {}
for _name, _joints in _LEFT_JOINTS.items():
    JOINT_ANGLES[_name] = _joints
    JOINT_ANGLES[_name.replace("left_", "right_")] = tuple(_TWIN[j] for j in _joints)  # type: ignore[assignment]

SHOULDERS = (L.LEFT_SHOULDER, L.RIGHT_SHOULDER)
HIPS = (L.LEFT_HIP, L.RIGHT_HIP)
TRUNK_LEAN = "trunk_lean"
ANGLE_NAMES: tuple[str, ...] = (*JOINT_ANGLES, TRUNK_LEAN)
# Side-less names ("knee") that exercises combine over both sides.
BASE_NAMES: tuple[str, ...] = tuple(name.removeprefix("left_") for name in _LEFT_JOINTS)


def angle_landmarks(name: str) -> tuple[Landmark, ...]:
    """The landmarks an angle is measured from."""
    if name == TRUNK_LEAN:
        return (*SHOULDERS, *HIPS)
    if name not in JOINT_ANGLES:
        raise PosenetError(f"unknown angle '{name}'; known angles: {', '.join(ANGLE_NAMES)}")
    return JOINT_ANGLES[name]


def _check(keypoints: np.ndarray, world: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_LANDMARKS, 4):
        raise PosenetError(f"keypoints must have shape (N, {NUM_LANDMARKS}, 4), got {kp.shape}")
    if world is None:
        return kp, None
    w = np.asarray(world, dtype=np.float64)
    if w.shape != (kp.shape[0], NUM_LANDMARKS, 3):
        raise PosenetError(f"world landmarks must have shape ({kp.shape[0]}, {NUM_LANDMARKS}, 3), got {w.shape}")
    return kp, w


def _between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors u and v (..., D); NaN where either has zero length."""
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def joint_angles(
    keypoints: np.ndarray,
    names: list[str] | tuple[str, ...] | None = None,
    world: np.ndarray | None = None,
    aspect: float = 1.0,
) -> dict[str, np.ndarray]:
    """Named angles (degrees, (N,) each) of a raw pose batch (N, 33, 4); 3D from ``world`` (N, 33, 3) when given.

    ``aspect`` is the image's width / height, so 2D angles are those seen in pixels.
    """
    kp, w = _check(keypoints, world)
    if w is not None:
        points = w
    else:
        points = kp[..., :2].copy()
        points[..., 0] *= aspect
    up = np.zeros(points.shape[-1])
    up[1] = -1.0  # y points down in the image and in MediaPipe's world frame
    out: dict[str, np.ndarray] = {}
    for name in ANGLE_NAMES if names is None else names:
        if name == TRUNK_LEAN:
            trunk = points[:, list(SHOULDERS)].mean(axis=1) - points[:, list(HIPS)].mean(axis=1)
            out[name] = _between(trunk, np.broadcast_to(up, trunk.shape))
            continue
        a, b, c = angle_landmarks(name)
        out[name] = _between(points[:, a] - points[:, b], points[:, c] - points[:, b])
    return out


def angle_visibility(keypoints: np.ndarray, names: list[str] | tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Per angle, the minimum visibility (N,) of the landmarks it is measured from."""
    kp, _ = _check(keypoints, None)
    names = ANGLE_NAMES if names is None else names
    return {name: kp[:, list(angle_landmarks(name)), 3].min(axis=1) for name in names}
