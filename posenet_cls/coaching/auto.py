"""``--exercise auto``: count repetitions of any periodic movement, with no exercise name and no thresholds.

Each frame becomes the x, y of the body's joints (:data:`MOTION_JOINTS`), each axis min-max
normalised over those joints, so neither the camera's distance, the image's aspect ratio nor any
absolute angle matters (RepCount's keypoints come normalised that way). Over a sliding window of
recent frames, the movement's dominant direction in that space is the first principal component;
the newest frame's projection on it, centred and scaled by the window's own spread (its 10th to
90th percentile), is a signal of about -1..1. :class:`temporal.RepCounter` counts its cycles with
hysteresis at +-``hysteresis``; the side the signal settles on first is the rest position, so a
rep is rest -> turn -> rest. Online: a rep counts as it ends.

What keeps set-up and noise out: nothing counts during the first ``warmup_s`` of a track; a
window whose spread is under ``min_range`` (standing still) gives no signal; a cycle shorter
than ``min_period_frac`` of the movement's period is wobble (the window's own period, found as the
file counter finds it, where the window repeats at least ``min_periodicity``; else the recent reps'
median period); a person whose hips travel sideways faster than ``max_drift`` torso lengths per
second (walking in, walking off) restarts the window. The warm-up frames are counted once the warm-up ends, so a rep that starts at once counts.

For a file, the counter also keeps every frame (``whole_clip``): its summary is then the whole clip's
count (:mod:`posenet_cls.coaching.clip`), with the online count beside it as ``live_reps``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from posenet_cls.coaching.angles import HIPS, SHOULDERS
from posenet_cls.coaching.clip import ClipConfig, count_clip, periodicity
from posenet_cls.coaching.motion import MOTION_JOINTS, motion_features
from posenet_cls.coaching.temporal import CounterConfig, RepCounter
from posenet_cls.errors import PosenetError

DRIFT_WINDOW_S = 1.0  # time constant of the hips' averaged sideways velocity
SPREAD_PERCENTILE = 10.0  # the window's spread runs from this percentile of the signal to 100 minus it


@dataclass(frozen=True)
class AutoConfig:
    """Settings of the automatic counter; the defaults were chosen on RepCount's shared half (see docs/reps.md)."""

    window_s: float = 6.0  # recent movement the principal component is found in
    warmup_s: float = 1.0  # no signal before this much of the track has been seen
    hysteresis: float = 0.4  # the signal must pass +-this (of the window's half spread) to change phase
    min_range: float = 0.15  # spread under this (normalised body units) is stillness, not a movement
    min_phase_s: float = 0.06  # a phase counts once the signal stays past its level this long
    min_period_frac: float = 0.3  # a cycle shorter than this share of the period is wobble
    period_components: int = 6  # principal components of the window whose autocorrelation gives its period
    # The window's period sets the wobble rule where their mean autocorrelation there reaches this; else the
    # recent reps' median period does (after a false rep in set-up, that median is too long for fast reps).
    min_periodicity: float = 0.3
    max_gap_s: float = 2.0  # tracking lost for longer forgets the phase and restarts the window (the count stays)
    # Hip speed sideways (torso lengths per second) above which the person is walking; None: no such
    # check, for keypoints normalised per frame (RepCount's), where the hips' place in the image is lost.
    max_drift: float | None = 1.0

    def check(self) -> None:
        """Refuse settings that cannot count, naming the setting."""
        if not 0 < self.warmup_s <= self.window_s:
            raise PosenetError(f"auto counter: warmup_s must be in (0, window_s], got {self.warmup_s}")
        if not 0 < self.hysteresis < 1:
            raise PosenetError(f"auto counter: hysteresis must be in (0, 1), got {self.hysteresis}")
        if self.period_components < 1 or not 0 <= self.min_periodicity <= 1:
            raise PosenetError(f"auto counter: need period_components >= 1 and min_periodicity in [0, 1], got "
                               f"{self.period_components}, {self.min_periodicity}")
        for name in ("min_range", "min_phase_s", "min_period_frac", "max_gap_s", "max_drift"):
            if (getattr(self, name) or 0) < 0:
                raise PosenetError(f"auto counter: {name} must be >= 0, got {getattr(self, name)}")


def _hips_and_torso(points: np.ndarray, aspect: float) -> tuple[float, float]:
    """The hip centre's x and the torso length (shoulder centre to hip centre) of one pose, in units of the
    image's height (x scaled by ``aspect``, the width / height)."""
    scale = np.array([aspect, 1.0])
    hips = points[list(HIPS), :2].mean(axis=0) * scale
    shoulders = points[list(SHOULDERS), :2].mean(axis=0) * scale
    return float(hips[0]), float(np.linalg.norm(shoulders - hips))


@dataclass
class AutoFrame:
    """One frame of the automatic counter: the signal (about -1..1, None without one), reps so far."""

    signal: float | None
    valid: bool
    reps: int


class AutoCounter:
    """Counts cycles of the dominant movement, online, frame by frame (see the module's docstring)."""

    def __init__(self, config: AutoConfig = AutoConfig(), whole_clip: ClipConfig | None = None):
        config.check()
        if whole_clip is not None:
            whole_clip.check()
        self.config = config
        self.whole_clip = whole_clip
        self._clip: list[tuple[float, np.ndarray | None]] = []  # every frame's time and x, y (whole_clip only)
        self._aspect = 1.0
        self._times: deque[float] = deque()
        self._features: deque[np.ndarray] = deque()
        self._direction: np.ndarray | None = None
        self._first: float | None = None  # when the current track started
        self._last: float | None = None
        self._warm = False
        self._drift: tuple[float, float, float] | None = None  # (time, hip x, averaged sideways velocity)
        cfg = CounterConfig(up=config.hysteresis, down=-config.hysteresis, min_phase_s=config.min_phase_s,
                            max_gap_s=config.max_gap_s, min_period_frac=config.min_period_frac)
        # The signal's sign is arbitrary: one counter per orientation until one confirms its rest position.
        self._counters: list[tuple[float, RepCounter]] = [(sign, RepCounter(cfg, self._window_period))
                                                          for sign in (1.0, -1.0)]

    @property
    def counter(self) -> RepCounter:
        """The counter of the orientation that settled first (the other one until then, with no reps)."""
        return self._counters[0][1]

    @property
    def count(self) -> int:
        return self.counter.count

    def _restart(self, t: float) -> None:
        self._times.clear()
        self._features.clear()
        self._direction = None
        self._first = t
        self._warm = False

    def _window_period(self) -> float | None:
        """The window's period in seconds, from the autocorrelation of its first ``period_components`` principal
        components (:func:`clip.periodicity`), or None where it repeats less than ``min_periodicity``."""
        if len(self._features) < 10:
            return None
        x = np.asarray(self._features)
        fps = (len(x) - 1) / max(self._times[-1] - self._times[0], 1e-6)
        centred = x - x.mean(axis=0)
        _, vectors = np.linalg.eigh(centred.T @ centred)
        found = periodicity(centred @ vectors[:, ::-1][:, :self.config.period_components], fps)
        if found is None or found[1] < self.config.min_periodicity:
            return None
        return found[0] / fps

    def _walking(self, t: float, points: np.ndarray, aspect: float) -> bool:
        """True while the hips travel sideways faster than ``max_drift`` torso lengths per second.

        The hips' velocity is averaged (signed) over about a second, so a step back and forth (a
        burpee, a lunge) cancels out and only travel, walking in or off, adds up.
        """
        if self.config.max_drift is None:
            return False
        x, torso = _hips_and_torso(points, aspect)
        if self._drift is None or torso <= 1e-6 or t <= self._drift[0]:
            self._drift = (t, x, 0.0)
            return False
        t0, x0, velocity = self._drift
        dt = t - t0
        alpha = 1.0 - np.exp(-dt / DRIFT_WINDOW_S)
        velocity += alpha * ((x - x0) / dt / torso - velocity)
        self._drift = (t, x, velocity)
        return abs(velocity) > self.config.max_drift

    def _signal(self, t: float, feature: np.ndarray) -> float | None:
        cfg = self.config
        self._times.append(t)
        self._features.append(feature)
        while self._times[0] < t - cfg.window_s:
            self._times.popleft()
            self._features.popleft()
        if self._first is None or t - self._first < cfg.warmup_s or len(self._features) < 3:
            return None
        x = np.asarray(self._features)
        centred = x - x.mean(axis=0)
        _, vectors = np.linalg.eigh(centred.T @ centred)
        direction = vectors[:, -1]
        if self._direction is not None and direction @ self._direction < 0:
            direction = -direction  # keep the sign from frame to frame
        self._direction = direction
        projected = centred @ direction
        low, high = np.percentile(projected, [SPREAD_PERCENTILE, 100.0 - SPREAD_PERCENTILE])
        if high - low < cfg.min_range:
            return None
        signal = (projected - (low + high) / 2) / ((high - low) / 2)
        if not self._warm:  # the track's first signal: the warm-up frames get theirs too
            self._warm = True
            for when, value in zip(list(self._times)[:-1], signal[:-1]):
                self._feed(when, float(value))
        return float(signal[-1])

    def _feed(self, t: float, signal: float | None) -> None:
        for sign, counter in self._counters:
            counter.update(t, None if signal is None else sign * signal, valid=signal is not None)
        if len(self._counters) == 2:
            settled = [c for c in self._counters if c[1].phase == "up"]
            if settled:
                self._counters = settled[:1]

    def update(self, t: float, points: np.ndarray | None, aspect: float = 1.0) -> AutoFrame:
        """Feed one frame's pose ((33, >=2): raw landmarks or normalised keypoints) or None (no person).

        ``aspect`` is the image's width / height, for the walking check's sideways speed.
        """
        signal = None
        if points is not None:
            points = np.asarray(points)
            if not np.all(np.isfinite(points[list(MOTION_JOINTS), :2])):
                points = None
        if self.whole_clip is not None:
            self._clip.append((t, None if points is None else points[:, :2].astype(np.float32)))
            self._aspect = aspect
        if points is not None:
            if self._last is None or t - self._last > self.config.max_gap_s:
                self._restart(t)
            self._last = t
            if self._walking(t, points, aspect):
                self._restart(t)
            else:
                signal = self._signal(t, motion_features(points))
        self._feed(t, signal)
        return AutoFrame(signal if signal is None else self._counters[0][0] * signal, signal is not None, self.count)

    def summary(self) -> dict[str, object]:
        """Reps and the rep log (range of motion in units of the window's half spread).

        With ``whole_clip``: the whole clip's reps and rep log (range in normalised body units) and its
        ``period_s``, the online ones as ``live_reps`` and ``live_rep_log``; where the clip shows no period
        (a single rep, stillness), the online count stands (``counted_by``: "clip" or "live").
        """
        live = self.counter.summary()
        if self.whole_clip is None:
            return live
        clip = count_clip([t for t, _ in self._clip], [p for _, p in self._clip], self.whole_clip, self._aspect)
        out = clip.summary() if clip.period_s is not None else {**live, "period_s": None}
        out.update(counted_by="clip" if clip.period_s is not None else "live", live_reps=live["reps"],
                   live_rep_log=live["rep_log"])
        return out
