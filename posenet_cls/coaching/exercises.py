"""Exercises without training: each a small declarative entry over named joint angles.

A ``reps`` exercise counts cycles of one angle signal with :class:`temporal.RepCounter`: ``up``
is the level that confirms the start/end position of a rep (standing, for a squat), ``down`` the
level that confirms its turning point (the bottom); either may be the larger number. A ``hold``
exercise times, with :class:`temporal.HoldTimer`, how long every ``hold`` condition (angle within
[low, high] degrees) is met. ``when`` conditions gate a reps exercise the same way (a push-up
counts only with the trunk near horizontal). The ``auto`` preset (kind ``auto``) counts any
periodic movement with no angle and no thresholds (:mod:`posenet_cls.coaching.auto`).

``angle`` is a side-less name (``knee``: both sides, combined by ``side``) or a full one
(``left_knee``, ``trunk_lean``). ``side``: ``deeper`` (default: of the sides seen well enough, the
one furthest toward ``down``, or for a condition the one nearest its range; a far-side limb that
BlazePose guesses reads too straight, and the limb that moved shows the rep), ``both`` (mean),
``best`` (the better seen side), ``left``, ``right``, ``min`` or ``max``.
A frame counts only while a person is tracked and the angle's landmarks have visibility >=
``min_visibility``; the angles are smoothed with an exponential moving average of ``smooth_s``.

Users add exercises in a TOML or JSON file, one table per exercise::

    [wall-sit]
    kind = "hold"
    hold = { knee = [75, 115], trunk_lean = [0, 25] }

    [calf-raise-knee]
    angle = "knee"
    up = 150
    down = 110
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from posenet_cls.coaching.angles import ANGLE_NAMES, BASE_NAMES, TRUNK_LEAN, angle_visibility, joint_angles
from posenet_cls.coaching.auto import AutoConfig, AutoCounter
from posenet_cls.coaching.clip import ClipConfig
from posenet_cls.coaching.form import (BODY_LINE, FormCheck, FormRecorder, file_number, form_summary, parse_checks,
                                       side_names)
from posenet_cls.errors import PosenetError
from posenet_cls.coaching.temporal import CounterConfig, HoldTimer, ProbabilitySmoother, RepCounter

SIDES = ("deeper", "both", "best", "left", "right", "min", "max")
KINDS = ("reps", "hold")  # what an exercise file may define; the "auto" kind is the auto preset's alone
AUTO = "auto"
SPACES = ("image", "world")

Condition = tuple[str, float, float]  # angle, low, high (degrees)


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to measure and the levels that make a rep or a hold (angles in degrees)."""

    name: str
    kind: str = "reps"
    angle: str | None = None
    side: str = "deeper"
    up: float | None = None
    down: float | None = None
    hold: tuple[Condition, ...] = ()
    when: tuple[Condition, ...] = ()
    min_visibility: float = 0.2
    min_phase_s: float = 0.15
    max_gap_s: float = 0.5
    smooth_s: float = 0.15
    space: str = "image"
    description: str = ""
    checks: tuple[FormCheck, ...] = ()  # form checks judged per rep (a hold: its range checks over the hold)

    def counter_config(self) -> CounterConfig:
        """The thresholds handed to the one rep counter."""
        assert self.up is not None and self.down is not None
        return CounterConfig(self.up, self.down, self.min_phase_s, self.max_gap_s)

    def table_row(self) -> str:
        """One line for listings: name, what is measured, the levels."""
        if self.kind == AUTO:
            return f"{self.name:14s} reps  any periodic movement (no angle, no thresholds)"
        if self.kind == "hold":
            what = ", ".join(f"{a} {lo:g}-{hi:g}" for a, lo, hi in self.hold)
            return f"{self.name:14s} hold  {what}"
        gate = ("; while " + ", ".join(f"{a} {lo:g}-{hi:g}" for a, lo, hi in self.when)) if self.when else ""
        return f"{self.name:14s} reps  {self.angle} ({self.side}) up {self.up:g}, down {self.down:g}{gate}"

    def check_rows(self) -> list[str]:
        """One line per form check, for listings under :meth:`table_row`."""
        return [f"{'':14s}   check {c.describe()}: \"{c.message}\"" for c in self.checks]


def _check(name: str, kind: str, message: str, angle: str | None = None, low: float | None = None,
           high: float | None = None, phase: str | None = None, space: str = "image") -> FormCheck:
    return FormCheck(name, kind, message, angle, phase, low, high, space)


# The presets' form checks: textbook ranges with margins; docs/form.md has each value's reason and the
# measured values on real reps (scripts/form_study.py).
_SAG = _check("sag", "range", "hips sagging: keep them in line", BODY_LINE, high=15)
_PIKE = _check("pike", "range", "hips piked: lower them into line", BODY_LINE, low=-25)


def _builtin() -> dict[str, Exercise]:
    """The presets: textbook joint ranges with margins, not tuned to any clip."""
    presets = [
        Exercise("squat", angle="knee", up=150, down=115,
                 description="both knees ~170 standing, <100 at a parallel squat",
                 checks=(_check("depth", "bottom", "squat deeper: knees to 100 deg", "knee", high=100),
                         _check("tempo", "tempo", "slow down: at least 0.6 s a rep", phase="rep", low=0.6))),
        Exercise("push-up", angle="elbow", up=150, down=100, when=(("trunk_lean", 45, 135),),
                 description="elbows ~170 at the top, ~90 at the bottom; trunk near horizontal",
                 checks=(_check("depth", "bottom", "go lower: elbows to 90 deg", "elbow", high=90),
                         _check("lockout", "top", "lock the elbows out at the top", "elbow", low=155),
                         _SAG, _PIKE)),
        Exercise("lunge", angle="knee", up=150, down=115,
                 description="both knees ~170 standing, ~90 at the bottom; either leg forward",
                 checks=(_check("depth", "bottom", "lunge deeper: front knee to 100 deg", "knee", high=100),
                         _check("upright", "range", "keep the torso upright", TRUNK_LEAN, high=35))),
        Exercise("jumping-jack", angle="shoulder", up=50, down=120, smooth_s=0.1,
                 description="arms ~15 at the sides, ~160 overhead",
                 checks=(_check("reach", "bottom", "arms all the way overhead", "shoulder", low=130),
                         _check("even", "asymmetry", "raise both arms together", "shoulder", high=35))),
        Exercise("sit-up", angle="hip", up=110, down=75,
                 description="hips ~130 lying with knees bent, ~50 sitting up",
                 checks=(_check("height", "bottom", "sit all the way up", "hip", high=65),)),
        Exercise("biceps-curl", angle="elbow", up=140, down=70,
                 description="elbow ~170 extended, ~40 curled; either arm",
                 checks=(_check("curl", "bottom", "curl all the way up", "elbow", high=60),
                         _check("extend", "top", "straighten the arm between reps", "elbow", low=150))),
        Exercise(AUTO, kind=AUTO,
                 description="whatever repeats: the dominant movement of the body's joints, its cycles counted"),
        Exercise("plank", kind="hold", hold=(("hip", 135, 180), ("knee", 145, 180), ("trunk_lean", 60, 120)),
                 description="body straight (hips and knees near 180), trunk near horizontal",
                 checks=(_SAG, _PIKE)),
    ]
    return {e.name: e for e in presets}


BUILTIN: dict[str, Exercise] = _builtin()


def normalise_name(name: str) -> str:
    """Exercise names ignore case and treat '_' and ' ' as '-': ``Push_Up`` is ``push-up``."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def exercise_class(exercise: Exercise | None, classes: tuple[str, ...] | list[str],
                   show_class: bool | None = None) -> tuple[str | None, bool]:
    """(the model's class named like ``exercise``, or None; whether the pose class is shown): with no exercise the
    class always shows; with one, only where the model has its class, unless ``show_class`` says otherwise. Only
    that class's label and profile hints describe the exercise."""
    own = None if exercise is None else next((c for c in classes if normalise_name(c) == exercise.name), None)
    return own, (exercise is None or own is not None) if show_class is None else show_class


# ---------------------------------------------------------------------------------------------
# Loading user files
# ---------------------------------------------------------------------------------------------

_KEYS = {f.name for f in fields(Exercise)} - {"name"}
_KNOWN_ANGLES = (*BASE_NAMES, *ANGLE_NAMES)


def _angle(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in _KNOWN_ANGLES:
        raise PosenetError(f"{where}: unknown angle {value!r}; known angles: {', '.join(_KNOWN_ANGLES)}")
    return value


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if not isinstance(value, dict) or not value:
        raise PosenetError(f"{where}: must be a table of angle = [low, high], e.g. {{ knee = [150, 180] }}")
    out = []
    for angle, bounds in value.items():
        key = f"{where}.{angle}"
        _angle(angle, key)
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise PosenetError(f"{key}: must be [low, high] in degrees, got {bounds!r}")
        low, high = file_number(bounds[0], key), file_number(bounds[1], key)
        if low >= high:
            raise PosenetError(f"{key}: low must be under high, got [{low:g}, {high:g}]")
        out.append((angle, low, high))
    return tuple(out)


def parse_exercise(name: str, entry: object, where: str) -> Exercise:
    """One exercise from a file's table; ``where`` (file and key) starts every error message."""
    here = f"{where}: {name}"
    if not isinstance(entry, dict):
        raise PosenetError(f"{here}: must be a table of settings, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise PosenetError(f"{here}.{unknown[0]}: unknown key; allowed keys: {', '.join(sorted(_KEYS))}")
    kind = entry.get("kind", "reps")
    if kind not in KINDS:
        raise PosenetError(f"{here}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    values: dict[str, object] = {"kind": kind}
    side = entry.get("side", "deeper")
    if side not in SIDES:
        raise PosenetError(f"{here}.side: must be one of {', '.join(SIDES)}, got {side!r}")
    values["side"] = side
    space = entry.get("space", "image")
    if space not in SPACES:
        raise PosenetError(f"{here}.space: must be one of {', '.join(SPACES)}, got {space!r}")
    values["space"] = space
    for key in ("min_visibility", "min_phase_s", "max_gap_s", "smooth_s"):
        if key in entry:
            values[key] = file_number(entry[key], f"{here}.{key}")
            if values[key] < 0 or (key == "min_visibility" and values[key] > 1):  # type: ignore[operator]
                raise PosenetError(f"{here}.{key}: out of range, got {entry[key]!r}")
    if "description" in entry:
        values["description"] = str(entry["description"])
    if "when" in entry:
        values["when"] = _conditions(entry["when"], f"{here}.when")
    if "checks" in entry:
        values["checks"] = parse_checks(entry["checks"], f"{here}.checks")
        if kind == "hold":
            for check in values["checks"]:  # type: ignore[attr-defined]
                if check.kind != "range":
                    raise PosenetError(f"{here}.checks.{check.name}.kind: a hold has no reps; "
                                       f"its checks are kind = \"range\", got {check.kind!r}")
    if kind == "hold":
        if "hold" not in entry:
            raise PosenetError(f"{here}.hold: missing; a hold exercise needs hold = {{ angle = [low, high], ... }}")
        values["hold"] = _conditions(entry["hold"], f"{here}.hold")
        for key in ("angle", "up", "down"):
            if key in entry:
                raise PosenetError(f"{here}.{key}: not used by a hold exercise (give hold = {{ ... }})")
    else:
        for key in ("angle", "up", "down"):
            if key not in entry:
                raise PosenetError(f"{here}.{key}: missing; a reps exercise needs angle, up and down")
        values["angle"] = _angle(entry["angle"], f"{here}.angle")
        values["up"] = file_number(entry["up"], f"{here}.up")
        values["down"] = file_number(entry["down"], f"{here}.down")
        if values["up"] == values["down"]:
            raise PosenetError(f"{here}.up: 'up' and 'down' must differ (both {values['up']:g})")
        if "hold" in entry:
            raise PosenetError(f"{here}.hold: only for kind = \"hold\"; use 'when' to gate a reps exercise")
    return Exercise(normalise_name(name), **values)  # type: ignore[arg-type]


def load_exercises(path: str | Path) -> dict[str, Exercise]:
    """Exercises from a .toml or .json file: one table per exercise, keyed by its name."""
    path = Path(path)
    if not path.is_file():
        raise PosenetError(f"{path}: no such exercise file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise PosenetError(f"{path}: exercise files are .toml or .json, got '{suffix or path.name}'")
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise PosenetError(f"{path}: not valid {suffix[1:].upper()}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict) or not data:
        raise PosenetError(f"{path}: expected one table per exercise, e.g. [my-squat] with angle, up, down")
    return {normalise_name(name): parse_exercise(name, entry, str(path)) for name, entry in data.items()}


def find_exercise(name: str, extra: dict[str, Exercise] | None = None) -> Exercise:
    """A preset or user exercise by name (user entries override presets of the same name)."""
    known = {**BUILTIN, **(extra or {})}
    key = normalise_name(name)
    if key not in known:
        raise PosenetError(f"--exercise: unknown exercise '{name}'; known: {', '.join(sorted(known))}")
    return known[key]


# ---------------------------------------------------------------------------------------------
# Tracking over time
# ---------------------------------------------------------------------------------------------


@dataclass
class ExerciseFrame:
    """One frame's exercise state: angles (raw, degrees), the smoothed signal, reps so far, current hold."""

    angles: dict[str, float] | None
    signal: float | None
    valid: bool
    reps: int
    hold_s: float | None
    phase: str | None = None  # "down" or "up" (a rep's confirmed phase), "holding" or None
    form: dict | None = None  # a rep completed at this frame, or a hold's last second: its verdict (form.verdict)


def _combine(values: list[float], visibilities: list[float], side: str, min_visibility: float,
             cost: Callable[[float], float] | None = None) -> float | None:
    """One number from a left/right pair (or a single angle) under the exercise's side rule.

    ``deeper`` takes the seen side of lowest ``cost``: for a rep signal the one furthest toward
    ``down``, for a condition the one nearest its range.
    """
    if side == "best":
        i = int(np.argmax(visibilities))
        return values[i] if visibilities[i] >= min_visibility else None
    seen = [v for v, vis in zip(values, visibilities) if vis >= min_visibility and np.isfinite(v)]
    if not seen:
        return None
    if side == "deeper":
        return min(seen, key=cost)
    if side == "min":
        return min(seen)
    if side == "max":
        return max(seen)
    return float(np.mean(seen))


def _outside(low: float, high: float) -> Callable[[float], float]:
    """How far a value lies outside [low, high] (0 inside)."""
    return lambda v: max(low - v, 0.0, v - high)


@dataclass
class ExerciseTracker:
    """Feeds an exercise's angle signal to :class:`RepCounter` (reps) or its conditions to :class:`HoldTimer`."""

    exercise: Exercise
    auto_config: AutoConfig = AutoConfig()  # the auto exercise's settings
    whole_clip: ClipConfig | None = None  # a file: auto's summary counts the whole clip (coaching.clip)
    counter: RepCounter | None = field(init=False)
    timer: HoldTimer | None = field(init=False)
    auto: AutoCounter | None = field(init=False)

    def __post_init__(self):
        ex = self.exercise
        self.counter = RepCounter(ex.counter_config()) if ex.kind == "reps" else None
        self.auto = AutoCounter(self.auto_config, self.whole_clip) if ex.kind == AUTO else None
        self.timer = HoldTimer() if ex.kind == "hold" else None
        self._smoother = ProbabilitySmoother(ex.smooth_s)
        self.form = (FormRecorder(ex.checks, ex.side, ex.min_visibility, ex.smooth_s,
                                  down_is_smaller=ex.kind != "reps" or ex.down < ex.up)  # type: ignore[operator]
                     if ex.checks else None)
        self._verdicts: list[dict] = []  # per rep, in order
        self._hold_verdicts: list[dict] = []  # per closed hold, in order
        self._needed = sorted({n for a, *_ in (*ex.hold, *ex.when) for n in side_names(a, ex.side)}
                              | (set(side_names(ex.angle, ex.side)) if ex.angle else set()))

    def _value(self, angle: str, smoothed: dict[str, float], visibility: dict[str, float],
               cost: Callable[[float], float] | None = None) -> float | None:
        names = side_names(angle, self.exercise.side)
        return _combine([smoothed[n] for n in names], [visibility[n] for n in names],
                        self.exercise.side, self.exercise.min_visibility, cost)

    def _deeper(self) -> Callable[[float], float]:
        """Cost that prefers the side furthest toward ``down``: the limb that moved."""
        ex = self.exercise
        sign = 1.0 if ex.down > ex.up else -1.0  # type: ignore[operator]
        return lambda v: -sign * v

    def update(self, t: float, keypoints: np.ndarray | None, world: np.ndarray | None = None,
               aspect: float = 1.0) -> ExerciseFrame:
        """Feed one frame's raw pose (33, 4) or None (no person); ``world`` (33, 3) is used in 3D mode."""
        ex = self.exercise
        if self.auto is not None:
            state = self.auto.update(t, keypoints, aspect)
            return ExerciseFrame(None, state.signal, state.valid, state.reps, None, self.auto.counter.phase)
        angles = smoothed = None
        valid = False
        signal = None
        if keypoints is not None:
            use_world = world[None] if (ex.space == "world" and world is not None) else None
            raw = joint_angles(keypoints[None], world=use_world, aspect=aspect)
            angles = {k: float(v[0]) for k, v in raw.items()}
            vector = np.array([angles[n] for n in self._needed])  # only the angles this exercise uses
            if np.all(np.isfinite(vector)):
                out = self._smoother.update(t, vector)
                smoothed = dict(zip(self._needed, out.astype(float).tolist())) if out is not None else None
            else:
                self._smoother.update(t, None)
        else:
            self._smoother.update(t, None)
        if smoothed is not None:
            visibility = {k: float(v[0]) for k, v in angle_visibility(keypoints[None], self._needed).items()}
            gates = [(self._value(a, smoothed, visibility, _outside(lo, hi)), lo, hi) for a, lo, hi in ex.when]
            valid = all(v is not None and lo <= v <= hi for v, lo, hi in gates)
            if ex.kind == "hold":
                checks = [(self._value(a, smoothed, visibility, _outside(lo, hi)), lo, hi) for a, lo, hi in ex.hold]
                valid = valid and all(v is not None and lo <= v <= hi for v, lo, hi in checks)
            else:
                assert ex.angle is not None
                signal = self._value(ex.angle, smoothed, visibility, self._deeper())
                valid = valid and signal is not None
        hold_s = form = phase = None
        if self.form is not None:
            self.form.update(t, keypoints, world, aspect, signal if valid else None)
        if self.counter is not None:
            rep = self.counter.update(t, signal, valid=valid)
            phase = self.counter.phase
            if rep is not None and self.form is not None:
                form = self.form.rep(rep)
                self._verdicts.append(form)
                form = {"rep": rep.index, **form}
        if self.timer is not None:
            closed = len(self.timer.holds)
            hold_s = self.timer.update(t, valid)
            self._judge_holds(closed)
            phase = "holding" if hold_s > 0 else None
            if hold_s > 0 and self.form is not None:  # the hold's last second, live
                form = self.form.span(max(t - 1.0, t - hold_s), t)
        return ExerciseFrame(angles, signal, valid, self.reps, hold_s, phase, form)

    def _judge_holds(self, judged: int) -> None:
        """Verdicts for the holds the timer closed since it had ``judged`` of them."""
        assert self.timer is not None
        for start, end in self.timer.holds[judged:]:
            self._hold_verdicts.append(self.form.span(start, end) if self.form is not None else {})

    @property
    def counts_reps(self) -> bool:
        """True for a reps or auto exercise, False for a hold."""
        return self.exercise.kind != "hold"

    @property
    def reps(self) -> int:
        if self.auto is not None:
            return self.auto.count
        return 0 if self.counter is None else self.counter.count

    def summary(self) -> dict[str, object]:
        """The exercise's name, reps (an integer, 0 for a hold), the rep log and, for a hold, the holds."""
        out: dict[str, object] = {"exercise": self.exercise.name, "reps": self.reps, "rep_log": []}
        if self.counter is not None:
            out.update(self.counter.summary())
        if self.auto is not None:
            out.update(self.auto.summary())
        if self.timer is not None:
            closed = len(self.timer.holds)
            holds = self.timer.finish()
            self._judge_holds(closed)
            if self.form is not None:
                for hold, judged in zip(holds["holds"], self._hold_verdicts):
                    hold.update(checks=judged["values"], faults=judged["faults"])
            out["holds"] = holds
        if self.form is not None:
            log = out["rep_log"] if self.counter is not None else out["holds"]["holds"]  # type: ignore[index]
            for rep, judged in zip(out["rep_log"], self._verdicts):  # type: ignore[call-overload]
                rep.update(checks=judged["values"], faults=judged["faults"])
            unit = "reps" if self.counter is not None else "holds"
            out["form"] = {"checks": [c.describe() for c in self.exercise.checks], **form_summary(log, unit)}
        return out


def exercise_photo(exercise: Exercise, keypoints: np.ndarray, world: np.ndarray | None = None,
                   aspect: float = 1.0) -> dict[str, object]:
    """An exercise in one photo, the one-frame case of a stream: its phase and the checks one frame can judge.

    ``phase``: for a reps exercise the zone of its angle ("up", "down", or None between the thresholds), for a
    hold "holding" when every condition is met; ``auto`` has neither (None). The checks are those of
    :meth:`FormRecorder.still` (no tempo, no reps). Returns ``{"exercise", "phase", "values", "faults", "messages"}``.
    """
    tracker = ExerciseTracker(exercise)
    state = tracker.update(0.0, keypoints, world, aspect)
    phase = None
    if exercise.kind == "reps" and state.valid and state.signal is not None:
        phase = exercise.counter_config().zone(state.signal)
    elif exercise.kind == "hold" and state.valid:
        phase = "holding"
    judged = {"values": {}, "faults": [], "messages": []}
    if tracker.form is not None and state.valid:  # out of position (a hold's conditions, a push-up's gate): no verdict
        judged = tracker.form.still(phase)
    return {"exercise": exercise.name, "kind": exercise.kind, "phase": phase, **judged}


def exercise_text(photo: dict) -> str:
    """One line for an :func:`exercise_photo` result: ``squat: down``, ``squat: between up and down``, ``plank: holding``."""
    if photo["kind"] == "hold":
        return f"{photo['exercise']}: {'holding' if photo['phase'] else 'not in position'}"
    if photo["kind"] == AUTO:
        return f"{photo['exercise']}: counts videos only"
    return f"{photo['exercise']}: {photo['phase'] or 'between up and down'}"
