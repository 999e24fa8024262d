"""Annotated copies of photos: the BlazePose skeleton and the predicted label with its confidence.

Input photos are RGB uint8 ``(H, W, 3)``; keypoints are a raw pose ``(33, 4)`` (x, y normalised to
the image, visibility in [0, 1]). Drawing is done with OpenCV on a copy; the photo is not changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import SKELETON_EDGES

MIN_VISIBILITY = 0.3  # joints MediaPipe thinks are less visible than this are not drawn
EDGE_COLOUR = (0, 230, 118)  # RGB
JOINT_COLOUR = (255, 82, 82)
LABEL_COLOUR = (255, 255, 255)
BOX_COLOUR = (30, 30, 30)
UNKNOWN_BOX_COLOUR = (160, 30, 30)


def annotate(
    rgb: np.ndarray, keypoints: np.ndarray | None, text: str | list[str], unknown: bool = False, copy: bool = True
) -> np.ndarray:
    """The RGB photo with the skeleton (when a pose is given) and ``text`` (a line or lines) boxed at the top left.

    Draws on a copy unless ``copy=False`` (a video frame that is not used again).
    """
    import cv2

    out = np.ascontiguousarray(rgb).copy() if copy or not rgb.flags.c_contiguous else rgb
    h, w = out.shape[:2]
    scale = max(h, w) / 640.0
    thickness = max(1, int(round(2 * scale)))
    if keypoints is not None:
        pts = np.round(keypoints[:, :2] * (w, h)).astype(np.int32)
        seen = keypoints[:, 3] >= MIN_VISIBILITY
        for a, b in sorted(SKELETON_EDGES):
            if seen[a] and seen[b]:
                cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), EDGE_COLOUR, thickness, cv2.LINE_AA)
        for i in np.flatnonzero(seen):
            cv2.circle(out, tuple(map(int, pts[i])), thickness + 1, JOINT_COLOUR, -1, cv2.LINE_AA)
    lines = [text] if isinstance(text, str) else list(text)
    font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, 0.9 * scale)
    sizes = [cv2.getTextSize(line, font, font_scale, thickness) for line in lines]
    tw = max(w_ for (w_, _), _ in sizes)
    th = max(h_ for (_, h_), _ in sizes)
    base = max(b for _, b in sizes)
    pad = max(4, int(6 * scale))
    step = th + base + pad
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, step * len(lines) + pad), UNKNOWN_BOX_COLOUR if unknown else BOX_COLOUR, -1)
    for i, line in enumerate(lines):
        cv2.putText(out, line, (pad, pad + th + i * step), font, font_scale, LABEL_COLOUR, thickness, cv2.LINE_AA)
    return out


def write_image(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an RGB photo in the format its suffix names (PNG when OpenCV cannot write that suffix); returns the path."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if not cv2.haveImageWriter(str(path)):
        path = path.with_name(path.name + ".png")
    ok, data = cv2.imencode(path.suffix, bgr)
    if not ok:
        raise PosenetError(f"{path}: cannot encode the annotated image")
    try:
        path.write_bytes(data.tobytes())
    except OSError as e:
        raise PosenetError(f"{path}: cannot write file ({e.strerror or e})") from None
    return path
