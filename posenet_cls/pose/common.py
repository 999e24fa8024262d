"""What both BlazePose backends share: the pose types, the photo retries and their inverse maps, scene cuts.

Poses are float32 ``(33, 4)`` arrays in the layout of :mod:`posenet_cls.schema`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import mirror_keypoints, mirror_world

PAD_MARGIN = 0.1  # measured on yoga8: a 10% margin rescues more photos than 25% or 50%
ATTEMPTS: tuple[str, ...] = ("plain", "pad", "mirror", "pad+mirror")  # what every photo gets, in this order
# Asked for by name only: rescued poses that enter a training table weakened the novelty rule (docs/extraction.md).
EXTRA_ATTEMPTS: tuple[str, ...] = ("turned",)
# What predict tries on a photo: a pose it finds only labels that photo, so "turned" is safe there.
PREDICT_ATTEMPTS: tuple[str, ...] = (*ATTEMPTS, "turned")
TURN_AGREEMENT = 0.03  # "turned": the quarter turns either way must agree this well (median x, y difference)
CUT_THRESHOLD = 25.0  # mean grey-level change of a 32x32 thumbnail; camera motion stays far below


@dataclass
class PhotoPose:
    """The pose found in a photo (``keypoints`` is None when no person was found) and which attempt found it."""

    keypoints: np.ndarray | None
    attempt: str
    world: np.ndarray | None = None  # (33, 3) metres, hip-centred, when the backend gives them
    tried: tuple[str, ...] = ()  # when no person was found: the attempts made


@dataclass
class FramePose:
    """A video frame's pose: ``keypoints`` (33, 4) or None when no person is tracked."""

    frame: int
    timestamp_s: float
    keypoints: np.ndarray | None
    world: np.ndarray | None = None


def pad_to_square(rgb: np.ndarray, margin: float = PAD_MARGIN) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Centre the photo on a black square ``margin`` larger on each side; returns (image, (side, x0, y0))."""
    h, w = rgb.shape[:2]
    side = int(round(max(h, w) * (1 + 2 * margin)))
    y0, x0 = (side - h) // 2, (side - w) // 2
    out = np.zeros((side, side, 3), dtype=rgb.dtype)
    out[y0 : y0 + h, x0 : x0 + w] = rgb
    return out, (side, x0, y0)


def unpad_landmarks(keypoints: np.ndarray, frame: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """Map landmarks found on :func:`pad_to_square`'s output back to the original photo's frame."""
    side, x0, y0 = frame
    h, w = shape
    out = keypoints.copy()
    out[..., 0] = (keypoints[..., 0] * side - x0) / w
    out[..., 1] = (keypoints[..., 1] * side - y0) / h
    out[..., 2] = keypoints[..., 2] * side / w  # z is on the scale of x
    return out


def is_scene_cut(previous_thumb: np.ndarray | None, rgb: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether RGB frame ``rgb`` is a scene cut after the frame of ``previous_thumb``, and its own thumbnail.

    A cut: the frame differs from the previous one far more than motion does (mean grey-level
    change of a 32x32 thumbnail over :data:`CUT_THRESHOLD`); a tracker would keep fitting the old
    region to the new scene for frames on end. ``previous_thumb`` is None for a first frame (never
    a cut); the thumbnail returned (int16 (32, 32)) is the ``previous_thumb`` of the next frame.
    """
    import cv2

    step = max(1, min(rgb.shape[:2]) // 64)  # subsample first: an area resize of a full frame costs ms
    small = np.ascontiguousarray(rgb[::step, ::step])
    thumb = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    thumb = thumb.astype(np.int16)
    cut = previous_thumb is not None and float(np.abs(previous_thumb - thumb).mean()) > CUT_THRESHOLD
    return cut, thumb


def check_rgb(rgb: np.ndarray) -> None:
    """Refuse anything but an RGB uint8 image (H, W, 3), naming what came instead."""
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        shape = getattr(rgb, "shape", None)
        raise PosenetError(f"expected an RGB uint8 image of shape (H, W, 3), got {shape} {getattr(rgb, 'dtype', '')}")


Found = tuple[np.ndarray, "np.ndarray | None"]  # (keypoints (33, 4), world (33, 3) or None) on the image given


def unturn(found: Found, quarter_turns: int, shape: tuple[int, int]) -> Found:
    """A pose found on the photo turned ``quarter_turns`` (1 or 3) times counter-clockwise (``np.rot90``),
    mapped back to the photo of ``shape`` (height, width): x, y turned back, z rescaled, world turned back."""
    keypoints, world = found
    kp = keypoints.astype(np.float32).copy()
    x, y = keypoints[:, 0].copy(), keypoints[:, 1].copy()
    kp[:, 0], kp[:, 1] = (1 - y, x) if quarter_turns == 1 else (y, 1 - x)
    kp[:, 2] = keypoints[:, 2] * shape[0] / shape[1]  # z is on x's scale, and x was the height
    if world is not None:
        w = world.astype(np.float32).copy()
        w[:, 0], w[:, 1] = (-world[:, 1], world[:, 0]) if quarter_turns == 1 else (world[:, 1], -world[:, 0])
        world = w
    return kp, world


def _turned(images: list[np.ndarray], find: Callable[[list[np.ndarray]], list[Found | None]]) -> list[Found | None]:
    """The "turned" attempt: the padded photo a quarter turn either way (a body lying or reaching sideways stands
    up for the detector); kept only when both turns find the same pose, which a stray guess on a hard photo does not."""
    padded = [pad_to_square(im) for im in images]
    left = find([np.ascontiguousarray(np.rot90(sq, 1)) for sq, _ in padded])
    right = find([np.ascontiguousarray(np.rot90(sq, 3)) for sq, _ in padded])
    out: list[Found | None] = []
    for im, (sq, frame), a, b in zip(images, padded, left, right):
        if a is None or b is None:
            out.append(None)
            continue
        (ka, wa), (kb, _) = unturn(a, 1, sq.shape[:2]), unturn(b, 3, sq.shape[:2])
        ka, kb = (unpad_landmarks(k, frame, im.shape[:2]) for k in (ka, kb))
        agree = float(np.median(np.abs(ka[:, :2] - kb[:, :2]))) < TURN_AGREEMENT
        out.append(((ka + kb) / 2, wa) if agree else None)
    return out


def check_attempts(attempts: Sequence[str]) -> None:
    """Refuse a photo attempt no backend knows, naming it and the known ones."""
    unknown = set(attempts) - set(ATTEMPTS) - set(EXTRA_ATTEMPTS)
    if unknown:
        raise PosenetError(f"unknown extraction attempt {min(unknown)!r}; choose from {', '.join(ATTEMPTS + EXTRA_ATTEMPTS)}")


def photos_with_retries(images: Sequence[np.ndarray], find: Callable[[list[np.ndarray]], list[Found | None]],
                        attempts: tuple[str, ...] | None = None, retries: bool = True) -> list[PhotoPose]:
    """The pose in each RGB uint8 photo: ``find`` on all, then each retry (padded, mirrored; "turned" when
    asked for) on those still without one.

    ``find`` is a backend's static-mode call on a list of images. Landmarks found on a padded,
    mirrored or turned copy are mapped back to the original photo (mirroring also swaps left and right back).
    """
    images = list(images)
    for rgb in images:
        check_rgb(rgb)
    if attempts is None:
        attempts = ATTEMPTS if retries else ATTEMPTS[:1]
    check_attempts(attempts)
    results: list[PhotoPose | None] = [None] * len(images)
    pending = list(range(len(images)))
    for attempt in attempts:
        if not pending:
            break
        if attempt == "turned":
            for i, found in zip(pending, _turned([images[i] for i in pending], find)):
                if found is not None:
                    results[i] = PhotoPose(found[0].astype(np.float32), attempt,
                                           found[1].astype(np.float32) if found[1] is not None else None)
            pending = [i for i in pending if results[i] is None]
            continue
        mirrored = "mirror" in attempt
        frames, inputs = [], []
        for i in pending:
            image, frame = pad_to_square(images[i]) if "pad" in attempt else (images[i], None)
            frames.append(frame)
            inputs.append(np.ascontiguousarray(image[:, ::-1]) if mirrored else image)
        for i, frame, found in zip(pending, frames, find(inputs)):
            if found is None:
                continue
            keypoints, world = found
            if mirrored:  # a mirror's mirror is the original frame
                keypoints = mirror_keypoints(keypoints)
                world = mirror_world(world) if world is not None else None
            if frame is not None:
                keypoints = unpad_landmarks(keypoints, frame, images[i].shape[:2])
            results[i] = PhotoPose(keypoints.astype(np.float32), attempt,
                                   world.astype(np.float32) if world is not None else None)
        pending = [i for i in pending if results[i] is None]
    return [r if r is not None else PhotoPose(None, "", tried=tuple(attempts)) for r in results]
