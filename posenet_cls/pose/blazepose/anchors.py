"""The BlazePose detector's SSD anchors, and its raw outputs decoded into one detection per image.

Follows MediaPipe's ``pose_detection_cpu.pbtxt``: ``SsdAnchorsCalculator`` (5 layers, strides 8,
16, 32, 32, 32, fixed anchor size), ``TensorsToDetectionsCalculator`` (x, y, w, h then 4 keypoints,
scaled by 224, sigmoid scores clipped at 100) and ``NonMaxSuppressionCalculator`` (weighted, IoU
0.3) of which the pose graph uses only the first detection (several people: :func:`detections`). Coordinates are normalised to the
letterboxed 224x224 detector input; keypoint 0 is the mid-hip centre, keypoint 1 encodes the body's
size and rotation.
"""

from __future__ import annotations

import math

import numpy as np

DETECTOR_SIZE = 224
STRIDES: tuple[int, ...] = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
NUM_KEYPOINTS = 4
BOX_COORDS = 4 + 2 * NUM_KEYPOINTS  # x, y, w, h, then (x, y) per keypoint
SCORE_CLIP = 100.0
NMS_IOU = 0.3


def ssd_anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres float32 ``(A, 2)`` (x, y in [0, 1]) in the detector's output order; A = 2254 at 224 px.

    Layers with the same stride share one feature map; each layer adds two anchors per cell (aspect
    ratio 1 and the interpolated scale), and with a fixed anchor size only the centres matter.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        per_cell = 2 * (same - layer)
        cells = math.ceil(size / strides[layer])
        grid = (np.arange(cells, dtype=np.float64) + ANCHOR_OFFSET) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
        layer = same
    return np.concatenate(centres).astype(np.float32)


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, size: int = DETECTOR_SIZE) -> np.ndarray:
    """Raw box regressions ``(..., A, 12)`` -> float32 ``(..., A, 12)``: xmin, ymin, xmax, ymax, then 4 (x, y) keypoints."""
    raw = np.asarray(raw, dtype=np.float32)
    scale = np.float32(size)
    centre = raw[..., 0:2] / scale + anchors
    half = raw[..., 2:4] / scale / np.float32(2.0)
    keypoints = raw[..., 4:].reshape(*raw.shape[:-1], NUM_KEYPOINTS, 2) / scale + anchors[:, None, :]
    return np.concatenate(
        [centre - half, centre + half, keypoints.reshape(*raw.shape[:-1], 2 * NUM_KEYPOINTS)], axis=-1
    )


def scores_from_logits(logits: np.ndarray) -> np.ndarray:
    """Raw detector logits ``(..., A, 1)`` -> float32 scores ``(..., A)`` (clipped at +-100, sigmoid)."""
    x = np.clip(np.asarray(logits, dtype=np.float32)[..., 0], -SCORE_CLIP, SCORE_CLIP)
    with np.errstate(over="ignore"):  # exp(100) overflows float32 to inf, and the score to 0, as in MediaPipe
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each of ``boxes`` (M, 4) with ``box`` (4,), as MediaPipe's INTERSECTION_OVER_UNION."""
    ix0 = np.maximum(boxes[:, 0], box[0])
    iy0 = np.maximum(boxes[:, 1], box[1])
    ix1 = np.minimum(boxes[:, 2], box[2])
    iy1 = np.minimum(boxes[:, 3], box[3])
    inter = np.where((ix1 >= ix0) & (iy1 >= iy0), (ix1 - ix0) * (iy1 - iy0), np.float32(0.0))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    union = areas + area - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), np.float32(0.0))


def detections(boxes: np.ndarray, scores: np.ndarray, min_score: float,
               max_count: int = 1) -> list[tuple[np.ndarray, float]]:
    """One image's detections after MediaPipe's weighted NMS, best first: (decoded row (12,), score) each.

    ``boxes`` is :func:`decode_boxes` output (A, 12), ``scores`` (A,). Each output is the top-scoring
    remaining box averaged, weighted by score, with every remaining box whose IoU with it exceeds
    0.3 (itself included); it keeps the top box's score, and those boxes leave the pool.
    """
    keep = (scores >= min_score) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    out: list[tuple[np.ndarray, float]] = []
    while len(scores) and len(out) < max_count:
        top = int(np.argmax(scores))
        cluster = iou(boxes[:, :4], boxes[top, :4]) > NMS_IOU
        cluster[top] = True
        weights = scores[cluster].astype(np.float64)
        merged = (boxes[cluster].astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()
        out.append((merged.astype(np.float32), float(scores[top])))
        boxes, scores = boxes[~cluster], scores[~cluster]
    return out


def best_detection(boxes: np.ndarray, scores: np.ndarray, min_score: float) -> tuple[np.ndarray, float] | None:
    """The first detection of :func:`detections` (the one the pose graph uses), or None under ``min_score``."""
    found = detections(boxes, scores, min_score, 1)
    return found[0] if found else None
