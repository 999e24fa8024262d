"""The BlazePose landmark schema, defined once: names, order, left/right pairs, skeleton, channels.

A raw pose is float32 ``(33, 4)`` and a batch ``(N, 33, 4)``: rows follow :class:`Landmark`
(MediaPipe's order), columns follow :data:`CHANNELS`: ``x`` and ``y`` normalised to the image
width and height (0..1 inside the image, top-left origin), ``z`` depth on roughly the scale of
``x`` (smaller is nearer the camera, hips near 0), ``visibility`` in [0, 1]. World landmarks are
float32 ``(33, 3)`` (batch ``(N, 33, 3)``), columns :data:`WORLD_CHANNELS`: metres, origin between
the hips, x to the image's right, y down, z away from the camera (BlazePose's ``pose_world_landmarks``).
"""

from __future__ import annotations

import enum

import numpy as np

SCHEMA_VERSION = 1


class Landmark(enum.IntEnum):
    """The 33 BlazePose landmarks in MediaPipe's order."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


L = Landmark
NUM_LANDMARKS = len(Landmark)
CHANNELS: tuple[str, ...] = ("x", "y", "z", "visibility")
NUM_CHANNELS = len(CHANNELS)
WORLD_CHANNELS: tuple[str, ...] = ("world_x", "world_y", "world_z")
NUM_WORLD_CHANNELS = len(WORLD_CHANNELS)
LANDMARK_NAMES: tuple[str, ...] = tuple(lm.name.lower() for lm in Landmark)

# Left/right pairs, derived from the names so a new landmark cannot be forgotten here.
LEFT_RIGHT_PAIRS: tuple[tuple[Landmark, Landmark], ...] = tuple(
    (lm, Landmark[lm.name.replace("LEFT", "RIGHT")])
    for lm in Landmark
    if "LEFT" in lm.name
)

# The body's skeleton as MediaPipe draws it (mediapipe.solutions.pose.POSE_CONNECTIONS).
SKELETON_EDGES: frozenset[tuple[Landmark, Landmark]] = frozenset(
    {
        (L.NOSE, L.LEFT_EYE_INNER), (L.LEFT_EYE_INNER, L.LEFT_EYE), (L.LEFT_EYE, L.LEFT_EYE_OUTER),
        (L.LEFT_EYE_OUTER, L.LEFT_EAR), (L.NOSE, L.RIGHT_EYE_INNER),
        (L.RIGHT_EYE_INNER, L.RIGHT_EYE), (L.RIGHT_EYE, L.RIGHT_EYE_OUTER),
        (L.RIGHT_EYE_OUTER, L.RIGHT_EAR), (L.MOUTH_LEFT, L.MOUTH_RIGHT),
        (L.LEFT_SHOULDER, L.RIGHT_SHOULDER), (L.LEFT_SHOULDER, L.LEFT_ELBOW),
        (L.LEFT_ELBOW, L.LEFT_WRIST), (L.LEFT_WRIST, L.LEFT_PINKY), (L.LEFT_WRIST, L.LEFT_INDEX),
        (L.LEFT_WRIST, L.LEFT_THUMB), (L.LEFT_PINKY, L.LEFT_INDEX),
        (L.RIGHT_SHOULDER, L.RIGHT_ELBOW), (L.RIGHT_ELBOW, L.RIGHT_WRIST),
        (L.RIGHT_WRIST, L.RIGHT_PINKY), (L.RIGHT_WRIST, L.RIGHT_INDEX),
        (L.RIGHT_WRIST, L.RIGHT_THUMB), (L.RIGHT_PINKY, L.RIGHT_INDEX),
        (L.LEFT_SHOULDER, L.LEFT_HIP), (L.RIGHT_SHOULDER, L.RIGHT_HIP),
        (L.LEFT_HIP, L.RIGHT_HIP), (L.LEFT_HIP, L.LEFT_KNEE), (L.RIGHT_HIP, L.RIGHT_KNEE),
        (L.LEFT_KNEE, L.LEFT_ANKLE), (L.RIGHT_KNEE, L.RIGHT_ANKLE),
        (L.LEFT_ANKLE, L.LEFT_HEEL), (L.RIGHT_ANKLE, L.RIGHT_HEEL),
        (L.LEFT_HEEL, L.LEFT_FOOT_INDEX), (L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX),
        (L.LEFT_ANKLE, L.LEFT_FOOT_INDEX), (L.RIGHT_ANKLE, L.RIGHT_FOOT_INDEX),
    }
)


# Limb segments from the body outwards, left side: (parent, child, landmarks that move with the child).
_LEFT_LIMBS: tuple[tuple[Landmark, Landmark, tuple[Landmark, ...]], ...] = (
    (L.LEFT_SHOULDER, L.LEFT_ELBOW, (L.LEFT_ELBOW, L.LEFT_WRIST, L.LEFT_PINKY, L.LEFT_INDEX, L.LEFT_THUMB)),
    (L.LEFT_ELBOW, L.LEFT_WRIST, (L.LEFT_WRIST, L.LEFT_PINKY, L.LEFT_INDEX, L.LEFT_THUMB)),
    (L.LEFT_HIP, L.LEFT_KNEE, (L.LEFT_KNEE, L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX)),
    (L.LEFT_KNEE, L.LEFT_ANKLE, (L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX)),
)
_TWINS = {**{left: right for left, right in LEFT_RIGHT_PAIRS}, **{right: left for left, right in LEFT_RIGHT_PAIRS}}
# Both sides' segments, in pairs (upper arm, forearm, thigh, shin), each (parent, child, moving landmarks).
LIMB_SEGMENTS: tuple[tuple[tuple[Landmark, Landmark, tuple[Landmark, ...]], ...], ...] = tuple(
    (seg, (_TWINS[seg[0]], _TWINS[seg[1]], tuple(_TWINS[m] for m in seg[2]))) for seg in _LEFT_LIMBS
)
# The four whole limbs, each (the joint it hangs from, its landmarks): arms from the shoulders, legs from the hips.
WHOLE_LIMBS: tuple[tuple[Landmark, tuple[Landmark, ...]], ...] = tuple(
    (parent, moving) for pair in LIMB_SEGMENTS for parent, _, moving in pair
    if parent in (L.LEFT_SHOULDER, L.RIGHT_SHOULDER, L.LEFT_HIP, L.RIGHT_HIP)
)
# Everything above the hips that moves with the shoulders when the torso is longer or shorter.
UPPER_BODY: tuple[Landmark, ...] = tuple(lm for lm in Landmark if lm < L.LEFT_HIP)


def mirror_permutation() -> np.ndarray:
    """Index array that swaps every left landmark with its right twin: ``pose[mirror_permutation()]``."""
    perm = np.arange(NUM_LANDMARKS)
    for left, right in LEFT_RIGHT_PAIRS:
        perm[left], perm[right] = right, left
    return perm


def landmark_columns() -> list[str]:
    """Table column names ``<landmark>_<channel>`` for all 33 landmarks, in array order."""
    return [f"{name}_{ch}" for name in LANDMARK_NAMES for ch in CHANNELS]


def world_columns() -> list[str]:
    """Table column names ``<landmark>_world_<x|y|z>`` of the 33 world landmarks, in array order."""
    return [f"{name}_{ch}" for name in LANDMARK_NAMES for ch in WORLD_CHANNELS]


def mirror_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Raw poses (..., 33, 4) seen in a mirror: x -> 1 - x and every left landmark swapped with its right twin."""
    out = np.asarray(keypoints)[..., mirror_permutation(), :].copy()
    out[..., 0] = 1.0 - out[..., 0]
    return out


def mirror_world(world: np.ndarray) -> np.ndarray:
    """World landmarks (..., 33, 3) seen in a mirror: x negated, every left landmark swapped with its right twin."""
    out = np.asarray(world)[..., mirror_permutation(), :].copy()
    out[..., 0] = -out[..., 0]
    return out
