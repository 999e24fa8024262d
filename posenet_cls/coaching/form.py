"""Form checks declared with an exercise, evaluated once per rep (or over a hold).

A check reads one measure of the rep and passes when it lies within ``[low, high]`` (either bound may be
open). Its kinds:

- ``bottom`` / ``top``: an angle at the rep's turning point (the counted signal's extreme toward ``down``:
  knee depth of a squat) or at the top it started from (the extreme toward ``up`` in the 2 s before the
  rep left it, after the previous rep ended: elbow lockout of a push-up).
- ``range``: an angle held within the bounds on every frame of the rep (or the hold): the body line of a
  push-up or a plank. The lowest and the highest value are reported.
- ``asymmetry``: |left - right| of a side-less angle at the bottom (both sides seen, else not measured).
- ``tempo``: seconds of one phase from the rep log: ``down`` (time_down_s), ``up`` (time_up_s) or ``rep``
  (start to end).

Angles are the joint angles of :mod:`posenet_cls.coaching.angles` plus ``body_line``: how far the hip
lies off the shoulder-ankle line, in degrees (180 minus the shoulder-hip-ankle angle), positive when the
hips sag (below the line, toward the floor) and negative when they pike. Side-less names are combined
with the exercise's side rule. ``space = "world"`` measures in 3D from MediaPipe's world landmarks when
the frame has them (else in the image). Values are smoothed like the counted signal.

Shapes: a raw pose (33, 4), x and y normalised to the image; world landmarks (33, 3) in metres, y down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from posenet_cls.coaching.angles import ANGLE_NAMES, BASE_NAMES, angle_visibility, joint_angles
from posenet_cls.coaching.temporal import ProbabilitySmoother, Rep
from posenet_cls.errors import PosenetError
from posenet_cls.schema import NUM_LANDMARKS
from posenet_cls.schema import Landmark as L

CHECK_KINDS = ("bottom", "top", "range", "asymmetry", "tempo")
TEMPO_PHASES = ("down", "up", "rep")
BODY_LINE = "body_line"
LINES = {"left_body_line": (L.LEFT_SHOULDER, L.LEFT_HIP, L.LEFT_ANKLE),
         "right_body_line": (L.RIGHT_SHOULDER, L.RIGHT_HIP, L.RIGHT_ANKLE)}
CHECK_ANGLES: tuple[str, ...] = (*BASE_NAMES, BODY_LINE, *ANGLE_NAMES, *LINES)
TOP_WINDOW_S = 2.0  # a rep's top is looked for this long before it left the top
BUFFER_S = 30.0  # frames older than this are dropped (a rep or a hold's live verdict needs no more)
SHOW_S = 1.0  # the annotated video shows a rep's verdict this long after the rep


@dataclass(frozen=True)
class FormCheck:
    """One check: what is measured (``kind``, ``angle`` or ``phase``), the bounds that pass and the message of a fault."""

    name: str
    kind: str
    message: str
    angle: str | None = None
    phase: str | None = None
    low: float | None = None
    high: float | None = None
    space: str = "image"

    def passes(self, value: float | tuple[float, float] | None) -> bool | None:
        """True or False; None when it could not be measured."""
        if value is None:
            return None
        lo, hi = value if isinstance(value, tuple) else (value, value)
        return (self.low is None or lo >= self.low) and (self.high is None or hi <= self.high)

    def bounds(self) -> str:
        """The bounds in words: ``<= 100``, ``>= 160``, ``-15..15``."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}..{self.high:g}"
        return f"<= {self.high:g}" if self.high is not None else f">= {self.low:g}"

    def describe(self) -> str:
        """One line for listings: ``depth: knee at the bottom <= 100``."""
        what = {"bottom": f"{self.angle} at the bottom", "top": f"{self.angle} at the top",
                "range": f"{self.angle} throughout", "asymmetry": f"{self.angle} left-right difference",
                "tempo": f"{self.phase} time (s)"}[self.kind]
        return f"{self.name}: {what} {self.bounds()}" + (" (3D)" if self.space == "world" else "")


def side_names(angle: str, side: str) -> tuple[str, ...]:
    """The concrete measures an exercise's or a check's angle means: one, or a left/right pair (by the side rule)."""
    if angle in BASE_NAMES or angle == BODY_LINE:
        return (f"{side}_{angle}",) if side in ("left", "right") else (f"left_{angle}", f"right_{angle}")
    return (angle,)


def body_line(points: np.ndarray, name: str) -> np.ndarray:
    """Signed degrees of the hip off the shoulder-ankle line (N,): + sagging (toward +y, the floor), - piked.

    ``points`` (N, 33, D), D = 2 (image, x scaled by the aspect) or 3 (world, metres); y points down in both.
    """
    s, h, a = (points[:, int(j)] for j in LINES[name])
    u, v = s - h, a - h
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
        line = a - s
        down = np.zeros(points.shape[-1])
        down[1] = 1.0
        across = down - (line @ down / np.sum(line * line, axis=-1))[:, None] * line  # 'down', square to the line
        side = np.sign(np.sum((h - s) * across, axis=-1))
    bend = 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where(side < 0, -bend, bend)


def measures(keypoints: np.ndarray, names: tuple[str, ...], world: np.ndarray | None = None,
             aspect: float = 1.0) -> dict[str, float]:
    """The named measures (joint angles and body lines, degrees) of one raw pose (33, 4); 3D from ``world`` (33, 3)."""
    kp = np.asarray(keypoints, dtype=np.float64)[None]
    w = None if world is None else np.asarray(world, dtype=np.float64)[None]
    joints = [n for n in names if n not in LINES]
    out = {k: float(v[0]) for k, v in joint_angles(kp, joints, world=w, aspect=aspect).items()} if joints else {}
    if any(n in LINES for n in names):
        points = w if w is not None else kp[..., :2] * np.array([aspect, 1.0])
        for n in names:
            if n in LINES:
                out[n] = float(body_line(points, n)[0])
    return out


def visibilities(keypoints: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Per measure, the minimum visibility of its landmarks."""
    kp = np.asarray(keypoints, dtype=np.float64)
    out = {k: float(v[0]) for k, v in angle_visibility(kp[None], [n for n in names if n not in LINES]).items()}
    out.update({n: float(kp[[int(j) for j in LINES[n]], 3].min()) for n in names if n in LINES})
    return out


# ---------------------------------------------------------------------------------------------
# Parsing a check from an exercise file
# ---------------------------------------------------------------------------------------------


def file_number(value: object, where: str) -> float:
    """A finite number from an exercise file, or a one-line error starting with ``where`` (file: key)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise PosenetError(f"{where}: must be a number, got {value!r}")
    return float(value)

_CHECK_KEYS = ("kind", "angle", "phase", "min", "max", "space", "message")


def parse_check(name: str, entry: object, where: str) -> FormCheck:
    """One check from ``[exercise.checks.NAME]``; ``where`` (file: exercise.checks.NAME) starts every error."""
    def number(key: str) -> float | None:
        value = entry.get(key)  # type: ignore[union-attr]
        return None if value is None else file_number(value, f"{where}.{key}")

    if not isinstance(entry, dict):
        raise PosenetError(f"{where}: must be a table with kind, min and/or max and message, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(_CHECK_KEYS))
    if unknown:
        raise PosenetError(f"{where}.{unknown[0]}: unknown key; allowed keys: {', '.join(_CHECK_KEYS)}")
    kind = entry.get("kind")
    if kind not in CHECK_KINDS:
        raise PosenetError(f"{where}.kind: must be one of {', '.join(CHECK_KINDS)}, got {kind!r}")
    angle = phase = None
    if kind == "tempo":
        phase = entry.get("phase")
        if phase not in TEMPO_PHASES:
            raise PosenetError(f"{where}.phase: must be one of {', '.join(TEMPO_PHASES)}, got {phase!r}")
        if "angle" in entry:
            raise PosenetError(f"{where}.angle: not used by a tempo check (give phase)")
    else:
        angle = entry.get("angle")
        if angle is None:
            raise PosenetError(f"{where}.angle: missing; a {kind} check measures an angle")
        if not isinstance(angle, str) or angle not in CHECK_ANGLES:
            raise PosenetError(f"{where}.angle: unknown angle {angle!r}; known angles: {', '.join(CHECK_ANGLES)}")
        if kind == "asymmetry" and angle not in (*BASE_NAMES, BODY_LINE):
            raise PosenetError(f"{where}.angle: an asymmetry check needs a side-less angle "
                               f"({', '.join((*BASE_NAMES, BODY_LINE))}), got {angle!r}")
        if "phase" in entry:
            raise PosenetError(f"{where}.phase: only for kind = \"tempo\"")
    low, high = number("min"), number("max")
    if low is None and high is None:
        raise PosenetError(f"{where}.min: missing; a check needs min, max or both")
    if low is not None and high is not None and low >= high:
        raise PosenetError(f"{where}.min: must be under max, got {low:g} and {high:g}")
    space = entry.get("space", "image")
    if space not in ("image", "world"):
        raise PosenetError(f"{where}.space: must be image or world, got {space!r}")
    message = entry.get("message")
    if not isinstance(message, str) or not message.strip():
        raise PosenetError(f"{where}.message: missing; a check needs the words to show when it fails")
    return FormCheck(name, kind, message.strip(), angle, phase, low, high, space)


def parse_checks(value: object, where: str) -> tuple[FormCheck, ...]:
    """An exercise's ``checks`` table: one sub-table per check, keyed by its name."""
    if not isinstance(value, dict) or not value:
        raise PosenetError(f"{where}: must be a table of checks, e.g. [squat.checks.depth] with kind, angle, max, message")
    return tuple(parse_check(str(name), entry, f"{where}.{name}") for name, entry in value.items())


# ---------------------------------------------------------------------------------------------
# Evaluating checks over a stream
# ---------------------------------------------------------------------------------------------


def _combine(values: list[float], vis: list[float], side: str, floor: float, prefer) -> float | None:
    """One number from a left/right pair: the exercise's side rule (``deeper``: the seen side ``prefer`` picks)."""
    if side == "best":
        i = int(np.argmax(vis))
        return values[i] if vis[i] >= floor and np.isfinite(values[i]) else None
    seen = [v for v, s in zip(values, vis) if s >= floor and np.isfinite(v)]
    if not seen:
        return None
    if side == "deeper":
        return prefer(seen)
    if side in ("min", "max"):
        return min(seen) if side == "min" else max(seen)
    return float(np.mean(seen))


@dataclass
class _Frame:
    t: float
    signal: float | None
    values: dict[str, float | None]  # per check (asymmetry: |left - right|), None where not seen


class FormRecorder:
    """Records each frame's check measures and judges a rep (:meth:`rep`) or a hold (:meth:`span`).

    ``down_is_smaller``: the counted angle falls toward ``down`` (a squat's knee); it picks the bottom
    and the top of a rep and, for ``deeper``, the side of an extreme check.
    """

    def __init__(self, checks: tuple[FormCheck, ...], side: str, min_visibility: float, smooth_s: float,
                 down_is_smaller: bool = True):
        self.checks = checks
        self.side, self.min_visibility = side, min_visibility
        self.down_is_smaller = down_is_smaller
        angled = [c for c in checks if c.angle is not None]
        self._names = {space: tuple(sorted({n for c in angled if c.space == space for n in side_names(c.angle, "both")}))
                       for space in ("image", "world")}
        self._smoothers = {space: ProbabilitySmoother(smooth_s) for space in self._names}
        self._frames: deque[_Frame] = deque()
        self._last_end: float | None = None

    def _smooth(self, space: str, t: float, raw: dict[str, float] | None) -> dict[str, float] | None:
        names = self._names[space]
        if not names:
            return {}
        vector = None if raw is None else np.array([raw[n] for n in names])
        if vector is not None and not np.all(np.isfinite(vector)):
            vector = None
        out = self._smoothers[space].update(t, vector)
        return None if out is None else dict(zip(names, out.astype(float).tolist()))

    def update(self, t: float, keypoints: np.ndarray | None, world: np.ndarray | None, aspect: float,
               signal: float | None) -> None:
        """Record one frame (keypoints None: no person); ``signal``: the counted, smoothed angle (None: not counted)."""
        values: dict[str, float | None] = {c.name: None for c in self.checks}
        smoothed: dict[str, dict[str, float] | None] = {}
        vis: dict[str, float] = {}
        if keypoints is not None:
            every = tuple(sorted(set(self._names["image"]) | set(self._names["world"])))
            vis = visibilities(keypoints, every) if every else {}
            smoothed["image"] = self._smooth("image", t, measures(keypoints, self._names["image"], aspect=aspect)
                                             if self._names["image"] else {})
            use_world = world if world is not None and np.asarray(world).shape == (NUM_LANDMARKS, 3) else None
            if use_world is None and self._names["world"]:  # no world landmarks: the image stands in
                raw_world = measures(keypoints, self._names["world"], aspect=aspect)
            else:
                raw_world = measures(keypoints, self._names["world"], use_world, aspect) if self._names["world"] else {}
            smoothed["world"] = self._smooth("world", t, raw_world)
        else:
            for space in self._names:
                self._smooth(space, t, None)
        for check in self.checks:
            got = smoothed.get(check.space)
            if check.angle is None or not got:
                continue
            names = side_names(check.angle, self.side if check.kind != "asymmetry" else "both")
            sided = [got[n] for n in names]
            seen = [vis.get(n, 0.0) for n in names]
            if check.kind == "asymmetry":
                ok = len(sided) == 2 and min(seen) >= self.min_visibility
                values[check.name] = abs(sided[0] - sided[1]) if ok else None
                continue
            values[check.name] = _combine(sided, seen, self.side, self.min_visibility, self._prefer(check))
        self._frames.append(_Frame(t, signal, values))
        while self._frames and self._frames[0].t < t - BUFFER_S:
            self._frames.popleft()

    def _prefer(self, check: FormCheck):
        """For ``deeper``: the side that shows a fault first (the deeper-bent side at an extreme, the worse side in range)."""
        if check.kind == "range":  # nearest its range, as the exercise's conditions take it
            low = -np.inf if check.low is None else check.low
            high = np.inf if check.high is None else check.high
            return lambda seen: min(seen, key=lambda v: max(low - v, 0.0, v - high))
        return min if self.down_is_smaller else max

    def rep(self, rep: Rep) -> dict[str, object]:
        """The verdict of one completed rep: per check its measured value and which checks failed."""
        inside = [f for f in self._frames if rep.start_s <= f.t <= rep.end_s]
        counted = [f for f in inside if f.signal is not None]
        pick = min if self.down_is_smaller else max
        bottom = pick(counted, key=lambda f: f.signal) if counted else None
        since = max(rep.start_s - TOP_WINDOW_S, self._last_end if self._last_end is not None else -np.inf)
        before = [f for f in self._frames if since <= f.t <= rep.start_s and f.signal is not None]
        top = (max if self.down_is_smaller else min)(before, key=lambda f: f.signal) if before else None
        self._last_end = rep.end_s
        values: dict[str, object] = {}
        for check in self.checks:
            if check.kind == "tempo":
                values[check.name] = {"down": rep.time_down_s, "up": rep.time_up_s,
                                      "rep": round(rep.end_s - rep.start_s, 3)}[check.phase]  # type: ignore[index]
            elif check.kind in ("bottom", "asymmetry"):
                values[check.name] = None if bottom is None else bottom.values[check.name]
            elif check.kind == "top":
                values[check.name] = None if top is None else top.values[check.name]
            else:
                values[check.name] = _extent([f.values[check.name] for f in inside])
        return verdict(self.checks, values)

    def span(self, start_s: float, end_s: float) -> dict[str, object]:
        """The verdict of a hold from ``start_s`` to ``end_s``: its ``range`` checks over those frames."""
        inside = [f for f in self._frames if start_s <= f.t <= end_s]
        checks = tuple(c for c in self.checks if c.kind == "range")
        return verdict(checks, {c.name: _extent([f.values[c.name] for f in inside]) for c in checks})


    def still(self, phase: str | None) -> dict[str, object]:
        """The verdict of the last frame alone (a photo): ``range`` checks, ``bottom`` and ``asymmetry`` checks
        when ``phase`` is "down", ``top`` checks when it is "up"; tempo never."""
        last = self._frames[-1].values if self._frames else {}
        judged = {"range": True, "bottom": phase == "down", "asymmetry": phase == "down", "top": phase == "up"}
        checks = tuple(c for c in self.checks if judged.get(c.kind, False))
        return verdict(checks, {c.name: last.get(c.name) for c in checks})


def _extent(values: list[float | None]) -> tuple[float, float] | None:
    seen = [v for v in values if v is not None]
    return (min(seen), max(seen)) if seen else None


def _round(value):
    if isinstance(value, tuple):
        return [round(v, 1) for v in value]
    return None if value is None else round(float(value), 2 if abs(value) < 10 else 1)


def verdict(checks: tuple[FormCheck, ...], values: dict[str, object]) -> dict[str, object]:
    """``{"values": {check: value}, "faults": [check names], "messages": [...]}``; a value not measured passes no fault."""
    faults = [c for c in checks if c.passes(values.get(c.name)) is False]  # type: ignore[arg-type]
    return {"values": {c.name: _round(values.get(c.name)) for c in checks},
            "faults": [c.name for c in faults], "messages": [c.message for c in faults]}


def form_text(result: dict[str, object] | None) -> str:
    """A verdict in a few words: ``good form`` or its messages, ``; ``-separated."""
    if not result:
        return ""
    return "; ".join(result["messages"]) if result["messages"] else "good form"  # type: ignore[arg-type]


def form_summary(log: list[dict], unit: str = "reps") -> dict[str, object]:
    """Over a rep log (or holds) whose entries carry ``faults``: how many were clean and the most common fault."""
    judged = [r for r in log if "faults" in r]
    counts: dict[str, int] = {}
    for r in judged:
        for name in r["faults"]:
            counts[name] = counts.get(name, 0) + 1
    common = max(counts, key=lambda n: (counts[n], -list(counts).index(n))) if counts else None
    return {f"clean_{unit}": sum(not r["faults"] for r in judged), "most_common_fault": common,
            "fault_counts": counts}


# --- evaluation: faulty reps made from real ones (scripts/form_study.py, tests/test_form.py) ----------------

_SHINS = {"left": (L.LEFT_HIP, L.LEFT_KNEE, (L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX)),
          "right": (L.RIGHT_HIP, L.RIGHT_KNEE, (L.RIGHT_ANKLE, L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX))}


def shallow(keypoints: np.ndarray, factor: float, aspect: float = 1.0,
            legs: tuple[str, ...] = ("left", "right")) -> np.ndarray:
    """A copy of a raw pose (33, 4) with each knee's flexion (180 - angle) scaled by ``factor`` (< 1: shallower).

    The shin and foot of each of ``legs`` rotate about the knee in the image plane (x scaled by ``aspect``),
    the thigh stays.
    """
    kp = np.array(keypoints, dtype=np.float64)
    p = kp[:, :2] * np.array([aspect, 1.0])
    for hip, knee, distal in (_SHINS[leg] for leg in legs):
        a, c = p[hip] - p[knee], p[int(distal[0])] - p[knee]
        angle = np.degrees(np.arccos(np.clip(a @ c / (np.linalg.norm(a) * np.linalg.norm(c) + 1e-12), -1, 1)))
        turn = np.radians((180.0 - factor * (180.0 - angle)) - angle)  # > 0: opens the knee
        turn *= 1.0 if a[0] * c[1] - a[1] * c[0] > 0 else -1.0  # further from the thigh, whichever way round
        rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        for j in distal:
            p[j] = p[knee] + rot @ (p[j] - p[knee])
    kp[:, :2] = p / np.array([aspect, 1.0])
    return kp.astype(np.float32)


def lower_hips(keypoints: np.ndarray, degrees: float, aspect: float = 1.0) -> np.ndarray:
    """A copy of a raw pose (33, 4) with both hips moved toward the floor (+y) until the body line sags about
    ``degrees`` (for a hip halfway between shoulder and ankle: 2 atan(drop / half the shoulder-ankle length))."""
    kp = np.array(keypoints, dtype=np.float64)
    p = kp[:, :2] * np.array([aspect, 1.0])
    for hip, (shoulder, ankle) in ((L.LEFT_HIP, (L.LEFT_SHOULDER, L.LEFT_ANKLE)),
                                   (L.RIGHT_HIP, (L.RIGHT_SHOULDER, L.RIGHT_ANKLE))):
        half = np.linalg.norm(p[ankle] - p[shoulder]) / 2
        p[hip, 1] += half * np.tan(np.radians(degrees) / 2)
    kp[:, :2] = p / np.array([aspect, 1.0])
    return kp.astype(np.float32)
