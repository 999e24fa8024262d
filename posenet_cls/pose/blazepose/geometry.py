"""Geometry around BlazePose's networks: letterbox, rotated crops, and landmarks projected back.

Pure functions on arrays, batch-first. A region of interest (ROI) is float64 ``(N, 5)``: centre x,
centre y, width, height in PIXELS of its image, and rotation in radians (clockwise on screen, as
MediaPipe's ``NormalizedRect.rotation``). Image sizes are ``(N, 2)`` as (width, height). Landmark
arrays are ``(N, K, C)`` with x, y first. The maths follows MediaPipe 0.10.21's calculators:
ImageToTensor (keep aspect ratio, OpenCV perspective warp, bilinear), AlignmentPointsRects, RectTransformation
(x1.25, square long side), TensorsToLandmarks, RefineLandmarksFromHeatmap, LandmarkLetterboxRemoval,
LandmarkProjection and WorldLandmarkProjection.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

LANDMARK_SIZE = 256  # landmark network input, px
NUM_POINTS = 39  # 33 landmarks + 2 auxiliary (ROI) points + 4 unused
NUM_VALUES = 5  # x, y, z, visibility, presence
AUX_POINTS = slice(33, 35)  # the auxiliary points: body centre, then size/rotation point
ROI_SCALE = 1.25  # RectTransformation scale_x/scale_y in 0.10.21's pose graphs (older graphs: 1.5)
TARGET_ANGLE = math.pi / 2  # rotation_vector_target_angle_degrees: 90
HEATMAP_KERNEL = 9  # 0.10.21 leaves kernel_size at its default (older graphs set 7)
HEATMAP_MIN_CONFIDENCE = 0.5
BORDER_ZERO = cv2.BORDER_CONSTANT  # the detector's letterbox
BORDER_REPLICATE = cv2.BORDER_REPLICATE  # the landmark crop (ImageToTensor's default)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32 in and out."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):  # a large negative logit gives exp -> inf and 0, as in C++
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def normalize_radians(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi), as MediaPipe's NormalizeRadians."""
    return angle - 2 * math.pi * np.floor((angle + math.pi) / (2 * math.pi))


def image_sizes(images: list[np.ndarray]) -> np.ndarray:
    """(N, 2) float64 (width, height) of a list of HWC images."""
    return np.array([(im.shape[1], im.shape[0]) for im in images], dtype=np.float64).reshape(-1, 2)


def full_image_rois(sizes: np.ndarray) -> np.ndarray:
    """The whole-image ROI of each image (what the detector looks at)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    n = len(sizes)
    return np.column_stack([sizes[:, 0] / 2, sizes[:, 1] / 2, sizes[:, 0], sizes[:, 1], np.zeros(n)])


def pad_rois(rois: np.ndarray, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow ROIs to the tensor's aspect ratio (letterbox); returns (padded ROIs, padding (N, 4) left, top, right, bottom).

    The padding is a fraction of the padded ROI on each side, as ImageToTensor's LETTERBOX_PADDING.
    """
    rois = np.array(rois, dtype=np.float64)
    tensor_aspect = out_h / out_w
    roi_aspect = rois[:, 3] / rois[:, 2]
    taller = tensor_aspect > roi_aspect  # pad above and below
    vertical = np.where(taller, (1.0 - roi_aspect / tensor_aspect) / 2.0, 0.0)
    horizontal = np.where(taller, 0.0, (1.0 - tensor_aspect / roi_aspect) / 2.0)
    new_w = np.where(taller, rois[:, 2], rois[:, 3] / tensor_aspect)
    new_h = np.where(taller, rois[:, 2] * tensor_aspect, rois[:, 3])
    rois[:, 2], rois[:, 3] = new_w, new_h
    return rois, np.column_stack([horizontal, vertical, horizontal, vertical])


def crop_matrices(rois: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """(N, 3, 3) maps from image pixels to tensor pixels for ROIs (already padded), exactly as ImageToTensor builds them.

    MediaPipe maps the four corners of ``cv2.boxPoints`` of the rotated ROI onto the tensor's
    corners with ``cv2.getPerspectiveTransform``; the map is affine up to rounding.
    """
    out = np.empty((len(rois), 3, 3), dtype=np.float64)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], dtype=np.float32)
    for i, (cx, cy, w, h, rot) in enumerate(rois):
        corners = cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(rot) * 180.0 / math.pi))
        out[i] = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    return out


def warp_crops(
    images: list[np.ndarray], matrices: np.ndarray, out_w: int, out_h: int, border: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Bilinear crops uint8 ``(N, out_h, out_w, 3)`` of each image through its :func:`crop_matrices` map.

    ``cv2.warpPerspective`` as MediaPipe calls it: ``warpAffine`` with the same (affine) map rounds
    sample positions differently and moves landmarks ~10x further from MediaPipe's, for 0.2 ms less.
    """
    if out is None:
        out = np.empty((len(images), out_h, out_w, 3), dtype=np.uint8)
    for i, (image, matrix) in enumerate(zip(images, matrices)):
        cv2.warpPerspective(
            image, matrix, (out_w, out_h), dst=out[i], flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0
        )
    return out


def to_tensor(crops: np.ndarray, low: float, high: float, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 crops -> float32 NHWC scaled from [0, 255] to [low, high]."""
    scale = np.float32((high - low) / 255.0)
    out = np.multiply(crops, scale, out=out, dtype=np.float32)
    if low:
        out += np.float32(low)
    return out


def remove_letterbox(points: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Points (N, K, >=2) normalised to a letterboxed tensor -> normalised to the unpadded ROI (z, if any, scales as x)."""
    left, top, right, bottom = (padding[:, i, None] for i in range(4))
    out = np.array(points, dtype=np.float32)
    out[..., 0] = (points[..., 0] - left) / (1.0 - left - right)
    out[..., 1] = (points[..., 1] - top) / (1.0 - top - bottom)
    if points.shape[-1] > 2:
        out[..., 2] = points[..., 2] / (1.0 - left - right)
    return out


def alignment_rois(centre: np.ndarray, scale_point: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """ROIs from two alignment points normalised to the image (N, 2): centred on the first, side twice the distance.

    Rotation turns the centre->scale-point vector upright (AlignmentPointsRectsCalculator); no
    margin is added here (see :func:`expand_rois`).
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64) * sizes
    s = np.asarray(scale_point, dtype=np.float64) * sizes
    side = 2.0 * np.hypot(s[:, 0] - c[:, 0], s[:, 1] - c[:, 1])
    rotation = normalize_radians(TARGET_ANGLE - np.arctan2(-(s[:, 1] - c[:, 1]), s[:, 0] - c[:, 0]))
    return np.column_stack([c[:, 0], c[:, 1], side, side, rotation])


def expand_rois(rois: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """RectTransformation with square_long: a square on the longer side, times ``scale``."""
    rois = np.array(rois, dtype=np.float64)
    side = np.maximum(rois[:, 2], rois[:, 3]) * scale
    rois[:, 2] = side
    rois[:, 3] = side
    return rois


def landmark_rois(centre: np.ndarray, scale_point: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The landmark network's ROI from a detection's keypoints 0 and 1, or from the auxiliary landmarks (N, 2) each."""
    return expand_rois(alignment_rois(centre, scale_point, sizes))


def decode_landmarks(raw: np.ndarray, size: int = LANDMARK_SIZE) -> np.ndarray:
    """Raw landmark tensor (N, 195) -> float32 (N, 39, 5): x, y, z normalised to the crop, sigmoid visibility, presence."""
    pts = np.asarray(raw, dtype=np.float32).reshape(-1, NUM_POINTS, NUM_VALUES).copy()
    pts[..., :3] /= np.float32(size)
    pts[..., 3:] = sigmoid(pts[..., 3:])
    return pts


def refine_from_heatmap(
    points: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """Move x, y of (N, K, >=2) crop-normalised points to the sigmoid-weighted mean of a kernel x kernel heatmap window.

    ``heatmap`` is raw logits (N, H, W, K). A point moves only when the window's top confidence
    reaches ``min_confidence``. Like MediaPipe, the cell is the truncated (toward zero) position,
    points left of or above the map or right of it stay, and a point below the map is refined
    over the part of the window that still overlaps it (MediaPipe tests the column twice).
    """
    n, hm_h, hm_w, k = heatmap.shape
    out = np.array(points, dtype=np.float32)
    col = np.trunc(out[..., 0] * hm_w).astype(np.int64)  # (N, K)
    row = np.trunc(out[..., 1] * hm_h).astype(np.int64)
    inside = (col >= 0) & (col < hm_w) & (row >= 0)
    half = (kernel - 1) // 2
    offsets = np.arange(-half, half + 1)
    rows = row[..., None] + offsets  # (N, K, kernel)
    cols = col[..., None] + offsets
    row_ok = (rows >= 0) & (rows < hm_h)
    col_ok = (cols >= 0) & (cols < hm_w)
    valid = row_ok[..., :, None] & col_ok[..., None, :] & inside[..., None, None]  # (N, K, kr, kc)
    r = np.clip(rows, 0, hm_h - 1)[..., :, None]
    c = np.clip(cols, 0, hm_w - 1)[..., None, :]
    nn = np.arange(n)[:, None, None, None]
    kk = np.arange(k)[None, :, None, None]
    conf = sigmoid(heatmap[nn, r, c, kk]) * valid  # (N, K, kr, kc)
    total = conf.sum(axis=(2, 3))
    top = conf.max(axis=(2, 3))
    wrow = (conf * rows[..., :, None]).sum(axis=(2, 3))
    wcol = (conf * cols[..., None, :]).sum(axis=(2, 3))
    move = inside & (top >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1)
    out[..., 0] = np.where(move, wcol / hm_w / safe, out[..., 0])
    out[..., 1] = np.where(move, wrow / hm_h / safe, out[..., 1])
    return out


def project_landmarks(points: np.ndarray, rois: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Points (N, K, >=3) normalised to the (unpadded) ROI -> normalised to the image; z scales as x."""
    sizes = np.asarray(sizes, dtype=np.float64)
    x = points[..., 0].astype(np.float64) - 0.5
    y = points[..., 1].astype(np.float64) - 0.5
    cos = np.cos(rois[:, 4])[:, None]
    sin = np.sin(rois[:, 4])[:, None]
    width = (rois[:, 2] / sizes[:, 0])[:, None]
    height = (rois[:, 3] / sizes[:, 1])[:, None]
    out = np.array(points, dtype=np.float32)
    out[..., 0] = (cos * x - sin * y) * width + (rois[:, 0] / sizes[:, 0])[:, None]
    out[..., 1] = (sin * x + cos * y) * height + (rois[:, 1] / sizes[:, 1])[:, None]
    out[..., 2] = points[..., 2] * width
    return out


def project_world(world: np.ndarray, rois: np.ndarray) -> np.ndarray:
    """World landmarks (N, K, 3) in the crop's frame -> the image's frame (x, y turned by the ROI's rotation)."""
    cos = np.cos(rois[:, 4])[:, None]
    sin = np.sin(rois[:, 4])[:, None]
    out = np.array(world, dtype=np.float32)
    out[..., 0] = cos * world[..., 0] - sin * world[..., 1]
    out[..., 1] = sin * world[..., 0] + cos * world[..., 1]
    return out
