"""Annotated copies of photos and frames: the skeleton, a tag beside the person, a status line in a corner.

Input photos are RGB uint8 ``(H, W, 3)``; keypoints are a raw pose ``(33, 4)`` (x, y normalised to
the image, visibility in [0, 1]). Drawing is done with OpenCV on a copy; the photo is not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
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


TEXT_HEIGHT = 0.022  # of the frame's height: about 16 px on 720p, never under MIN_FONT_SCALE
MIN_FONT_SCALE = 0.4
TAG_WIDTH = 0.4  # a tag line longer than this share of the frame's width is wrapped, then shortened
TAG_LINES = 4  # lines in a person's tag at most
ID_COLOURS = ((0, 230, 118), (255, 171, 0), (41, 182, 246), (236, 64, 122), (171, 71, 188), (255, 238, 88))
ALPHA = 0.6  # opacity of the boxes behind text: the frame stays visible through them


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def overlap(self, other: Box) -> int:
        """Pixels this box shares with ``other``."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(w, 0) * max(h, 0)

    @property
    def area(self) -> int:
        return max(self.x1 - self.x0, 0) * max(self.y1 - self.y0, 0)


@dataclass(frozen=True)
class Layout:
    """Where the text goes: the person's tag (its lines and box) and the frame's status line, if any."""

    font_scale: float
    thickness: int
    line_height: int
    pad: int
    tag: list[str]
    tag_box: Box
    status: str | None
    status_box: Box | None


def _text_width(text: str, font_scale: float, thickness: int) -> int:
    import cv2

    return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][0]


def _wrap(lines: list[str], max_width: int, font_scale: float, thickness: int, max_lines: int) -> list[str]:
    """Lines broken at spaces to fit ``max_width`` pixels; past ``max_lines``, or a word too long, shortened with ...."""
    out: list[str] = []
    for line in lines:
        words, current = line.split(), ""
        for word in words:
            trial = f"{current} {word}".strip()
            if current and _text_width(trial, font_scale, thickness) > max_width:
                out.append(current)
                current = word
            else:
                current = trial
        out.append(current)
    if len(out) > max_lines:
        out = out[:max_lines]
        out[-1] += "..."
    fitted = []
    for line in out:
        while len(line) > 4 and _text_width(line, font_scale, thickness) > max_width:
            line = line[:-4].rstrip() + "..."
        fitted.append(line)
    return fitted


def person_box(keypoints: np.ndarray | None, shape: tuple[int, int]) -> Box | None:
    """The box around a pose's seen joints in pixels, with room above the top joint for the head."""
    if keypoints is None:
        return None
    h, w = shape
    seen = keypoints[:, 3] >= MIN_VISIBILITY
    if not seen.any():
        return None
    xy = keypoints[seen, :2] * (w, h)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    margin = 0.08 * max(y1 - y0, x1 - x0, 1.0)  # the nose is not the top of the head
    return Box(int(max(x0 - margin, 0)), int(max(y0 - 1.5 * margin, 0)), int(min(x1 + margin, w)), int(min(y1 + margin, h)))


def layout(shape: tuple[int, int], keypoints: np.ndarray | None, tag: list[str], status: str | None = None,
           avoid: tuple[Box, ...] = ()) -> Layout:
    """Place a person's tag beside the person (above, right, left, below: the first that fits the frame and
    covers none of the person, nor of ``avoid``: other people and their tags) and the status line in a
    corner away from them; text scaled to the frame."""
    h, w = shape
    font_scale = max(MIN_FONT_SCALE, TEXT_HEIGHT * h / 22.0)  # HERSHEY_SIMPLEX at scale 1 is ~22 px high
    thickness = max(1, int(font_scale * 2 + 0.5))
    line_height = int(round(30 * font_scale))
    pad = max(3, int(round(6 * font_scale)))
    # the first line (the label) is never cut: on a small photo the tag may use the whole width for it
    first = _text_width(tag[0], font_scale, thickness) if tag else 0
    lines = _wrap(tag, int(min(w - 2 * pad, max(TAG_WIDTH * w, first))), font_scale, thickness, TAG_LINES)
    tw = max([_text_width(line, font_scale, thickness) for line in lines] + [1]) + 2 * pad
    th = line_height * len(lines) + pad
    person = person_box(keypoints, shape)
    gap = pad

    def fits(b: Box) -> bool:
        return b.x0 >= 0 and b.y0 >= 0 and b.x1 <= w and b.y1 <= h

    def clamp_x(x: int) -> int:
        return int(min(max(x, 0), max(w - tw, 0)))

    def clamp_y(y: int) -> int:
        return int(min(max(y, 0), max(h - th, 0)))

    if person is None:
        candidates = [Box(0, 0, tw, th)]
    else:
        p = person
        candidates = [
            Box(clamp_x(p.x0), p.y0 - gap - th, clamp_x(p.x0) + tw, p.y0 - gap),  # above
            Box(p.x1 + gap, clamp_y(p.y0), p.x1 + gap + tw, clamp_y(p.y0) + th),  # right
            Box(p.x0 - gap - tw, clamp_y(p.y0), p.x0 - gap, clamp_y(p.y0) + th),  # left
            Box(clamp_x(p.x0), p.y1 + gap, clamp_x(p.x0) + tw, p.y1 + gap + th),  # below
            Box(0, 0, tw, th), Box(w - tw, 0, w, th),  # the top corners, when nothing else fits
        ]
    inside = [b for b in candidates if fits(b)] or [Box(0, 0, min(tw, w), min(th, h))]
    tag_box = min(inside, key=lambda b: (b.overlap(person) if person is not None else 0) + sum(b.overlap(a) for a in avoid))
    status_box = None
    if status:
        sw = _text_width(status, font_scale, thickness) + 2 * pad
        sh = line_height + pad
        corners = [Box(0, h - sh, sw, h), Box(w - sw, h - sh, w, h), Box(w - sw, 0, w, sh)]
        taken = [b for b in (person, tag_box, *avoid) if b is not None]
        status_box = min(corners, key=lambda b: sum(b.overlap(t) for t in taken))
    return Layout(font_scale, thickness, line_height, pad, lines, tag_box, status, status_box)


def _text_box(out: np.ndarray, box: Box, lines: list[str], lay: Layout, colour: tuple[int, int, int]) -> None:
    """Text on a translucent box: the frame shows through it."""
    import cv2

    x0, y0, x1, y1 = max(box.x0, 0), max(box.y0, 0), min(box.x1, out.shape[1]), min(box.y1, out.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    region = out[y0:y1, x0:x1]
    region[:] = (region * (1 - ALPHA) + np.array(colour) * ALPHA).astype(np.uint8)
    for i, line in enumerate(lines):
        baseline = box.y0 + lay.pad + int(round(22 * lay.font_scale)) + i * lay.line_height
        cv2.putText(out, line, (box.x0 + lay.pad, baseline), cv2.FONT_HERSHEY_SIMPLEX, lay.font_scale, LABEL_COLOUR,
                    lay.thickness, cv2.LINE_AA)


def annotate(
    rgb: np.ndarray, keypoints: np.ndarray | None, text: str | list[str], unknown: bool = False, copy: bool = True,
    status: str | None = None,
) -> np.ndarray:
    """The RGB photo with the skeleton (when a pose is given), ``text`` (a line or lines) in a tag beside the
    person, and ``status`` (frames per second, say) in a corner; the text never covers the person where the
    frame has room elsewhere.

    Draws on a copy unless ``copy=False`` (a video frame that is not used again).
    """
    out = np.ascontiguousarray(rgb).copy() if copy or not rgb.flags.c_contiguous else rgb
    h, w = out.shape[:2]
    if keypoints is not None:
        _skeleton(out, keypoints, EDGE_COLOUR)
    lay = layout((h, w), keypoints, [text] if isinstance(text, str) else list(text), status)
    _text_box(out, lay.tag_box, lay.tag, lay, UNKNOWN_BOX_COLOUR if unknown else BOX_COLOUR)
    if lay.status_box is not None and lay.status:
        _text_box(out, lay.status_box, [lay.status], lay, BOX_COLOUR)
    return out


def _skeleton(out: np.ndarray, keypoints: np.ndarray, colour: tuple[int, int, int]) -> None:
    """A pose's bones in ``colour`` and its joints, drawn in place."""
    import cv2

    h, w = out.shape[:2]
    thickness = max(1, int(round(2 * max(h, w) / 640.0)))
    pts = np.round(keypoints[:, :2] * (w, h)).astype(np.int32)
    seen = keypoints[:, 3] >= MIN_VISIBILITY
    for a, b in sorted(SKELETON_EDGES):
        if seen[a] and seen[b]:
            cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), colour, thickness, cv2.LINE_AA)
    for i in np.flatnonzero(seen):
        cv2.circle(out, tuple(map(int, pts[i])), thickness + 1, JOINT_COLOUR, -1, cv2.LINE_AA)


def id_colour(person_id: int) -> tuple[int, int, int]:
    """A colour of its own for each tracking ID (RGB), bright on dark and light frames."""
    return ID_COLOURS[person_id % len(ID_COLOURS)]


@dataclass(frozen=True)
class PersonTag:
    """One person to draw: pose (33, 4), tag lines, whether the answer is unknown, tracking ID."""

    keypoints: np.ndarray
    lines: list[str]
    unknown: bool
    id: int


def annotate_people(rgb: np.ndarray, people: list[PersonTag], status: str | None = None, copy: bool = True) -> np.ndarray:
    """Several people: each skeleton in its ID's colour, each tag beside its person and clear of everyone else."""
    out = np.ascontiguousarray(rgb).copy() if copy or not rgb.flags.c_contiguous else rgb
    h, w = out.shape[:2]
    for person in people:
        _skeleton(out, person.keypoints, id_colour(person.id))
    boxes = [person_box(p.keypoints, (h, w)) for p in people]
    placed: list[Box] = []
    for i, person in enumerate(people):
        others = tuple(b for j, b in enumerate(boxes) if j != i and b is not None) + tuple(placed)
        lay = layout((h, w), person.keypoints, person.lines, None, others)
        _text_box(out, lay.tag_box, lay.tag, lay, UNKNOWN_BOX_COLOUR if person.unknown else BOX_COLOUR)
        top = Box(lay.tag_box.x0, lay.tag_box.y0, lay.tag_box.x0 + max(2, lay.pad // 2), lay.tag_box.y1)
        out[top.y0:top.y1, top.x0:top.x1] = id_colour(person.id)  # the tag's edge in the person's colour
        placed.append(lay.tag_box)
    if status:
        avoid = tuple(b for b in boxes if b is not None) + tuple(placed)
        lay = layout((h, w), None, [""], status, avoid)
        if lay.status_box is not None:
            _text_box(out, lay.status_box, [status], lay, BOX_COLOUR)
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
