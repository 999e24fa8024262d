"""State over time for videos: smoothed probabilities, repetition counting, hold timers, pose segments.

Everything here takes plain numbers per frame (a timestamp in seconds, a probability vector or a
scalar signal) so it serves class probabilities and joint angles alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from posenet_cls.errors import PosenetError

DEFAULT_WINDOW_S = 0.5


class ProbabilitySmoother:
    """Exponential moving average of class probabilities with a time constant of ``window_s``.

    A window of W seconds weights the frame W seconds back by 1/e, so a label change shows after
    about W/2 and is complete after about W. Frames without a person are not averaged in; a gap
    longer than the window starts afresh.
    """

    def __init__(self, window_s: float = DEFAULT_WINDOW_S):
        if window_s < 0:
            raise PosenetError(f"smoothing window must be >= 0 seconds, got {window_s}")
        self.window_s = window_s
        self._state: np.ndarray | None = None
        self._t: float | None = None

    def update(self, t: float, probabilities: np.ndarray | None) -> np.ndarray | None:
        """Add the probabilities seen at time t (None: no person) and return the smoothed ones."""
        if probabilities is None:
            if self._t is not None and t - self._t > self.window_s:
                self._state = None
            return None
        p = np.asarray(probabilities, dtype=np.float64)
        if self._state is None or self._t is None or self.window_s == 0 or t - self._t > self.window_s:
            self._state = p.copy()
        else:
            alpha = 1.0 - np.exp(-max(t - self._t, 1e-6) / self.window_s)
            self._state = self._state + alpha * (p - self._state)
        self._t = t
        return self._state.astype(np.float32)


@dataclass(frozen=True)
class CounterConfig:
    """Thresholds for one repetitive movement measured by a scalar signal.

    ``up`` and ``down`` are the signal levels that confirm each end of the movement (a knee angle
    of 160 and 100 degrees; or, for two classes, ``p(down) - p(up)`` of -0.4 and 0.4). The band
    between them is hysteresis: wobble inside it changes nothing. A phase counts once the signal
    stays past its level for ``min_phase_s``; tracking lost for over ``max_gap_s`` forgets the phase.
    A cycle shorter than ``min_period_frac`` of the movement's period (the counter's ``expected_period``
    where it gives one, else the median of the last reps' periods) is wobble, not a rep (0: every cycle
    counts).
    """

    up: float
    down: float
    min_phase_s: float = 0.15
    max_gap_s: float = 0.5
    min_period_frac: float = 0.0

    def __post_init__(self):
        if self.up == self.down:
            raise PosenetError(f"counter thresholds 'up' and 'down' must differ (both {self.up})")
        if self.min_phase_s < 0 or self.max_gap_s < 0 or self.min_period_frac < 0:
            raise PosenetError("counter settings min_phase_s, max_gap_s and min_period_frac must be >= 0")

    def zone(self, value: float) -> str | None:
        """'up', 'down' or None (inside the hysteresis band) for one signal value."""
        sign = 1.0 if self.up > self.down else -1.0
        if sign * (value - self.up) >= 0:
            return "up"
        if sign * (value - self.down) <= 0:
            return "down"
        return None


@dataclass
class Rep:
    """One completed repetition: times in seconds, range of motion in signal units (degrees for angles)."""

    index: int
    start_s: float
    bottom_s: float
    end_s: float
    range_of_motion: float
    time_down_s: float
    time_up_s: float


class RepCounter:
    """Counts up -> down -> up cycles of a signal with hysteresis and minimum phase times.

    A rep needs a confirmed ``up`` first, so starting at the bottom (setting up) never counts, and
    counting stops while the person is not tracked (``valid=False``).
    """

    def __init__(self, config: CounterConfig, expected_period: Callable[[], float | None] | None = None):
        self.config = config
        # The movement's current period in seconds where the caller knows it (None: unknown): the wobble rule
        # then measures a cycle against it instead of the recent reps' median period.
        self.expected_period = expected_period
        self.reps: list[Rep] = []
        self.phase: str | None = None  # confirmed phase, None until the first 'up'
        self._candidate: str | None = None
        self._candidate_since = 0.0
        self._last_valid: float | None = None
        self._left_up_s = 0.0  # when the signal last left the up zone
        self._down_since = 0.0
        self._down_until = 0.0
        self._values: list[float] = []
        self._periods: list[float] = []  # time between the ends of successive reps
        self._last_end: float | None = None

    @property
    def count(self) -> int:
        return len(self.reps)

    def update(self, t: float, value: float | None, valid: bool = True) -> Rep | None:
        """Feed one frame; returns the Rep completed at this frame, if any."""
        if not valid or value is None or not np.isfinite(value):
            if self._last_valid is not None and t - self._last_valid > self.config.max_gap_s:
                self._forget()
            return None
        self._last_valid = t
        zone = self.config.zone(value)
        if self.phase is not None:
            self._values.append(value)
        if zone != self._candidate:
            if self.phase == "up" and self._candidate == "up":
                self._left_up_s = t
            if self.phase == "down" and self._candidate == "down":
                self._down_until = t
            self._candidate, self._candidate_since = zone, t
        if zone is None or zone == self.phase or t - self._candidate_since < self.config.min_phase_s:
            return None
        return self._confirm(zone, t)

    def _confirm(self, zone: str, t: float) -> Rep | None:
        previous, self.phase = self.phase, zone
        if zone == "down":
            if previous is None:  # the movement started at the bottom: wait for a real 'up'
                self.phase = None
                return None
            self._down_since = self._candidate_since
            return None
        if previous == "down" and self._too_short(t):
            self._values = [self._values[-1]]
            return None
        if previous == "down":
            if self._last_end is not None:
                self._periods.append(t - self._last_end)
            self._last_end = t
            values = np.asarray(self._values)
            rep = Rep(
                index=len(self.reps) + 1,
                start_s=round(self._left_up_s, 3),
                bottom_s=round(self._down_since, 3),
                end_s=round(self._candidate_since, 3),
                range_of_motion=round(float(values.max() - values.min()), 2),
                time_down_s=round(self._down_until - self._down_since, 3),
                time_up_s=round(self._candidate_since - self._down_until, 3),
            )
            self.reps.append(rep)
            self._values = [self._values[-1]]
            return rep
        self._values = self._values[-1:]
        self._left_up_s = t
        return None

    def _too_short(self, t: float) -> bool:
        """A cycle ending at t much shorter than the expected period, else the recent reps' median one (``min_period_frac``)."""
        if not self.config.min_period_frac or self._last_end is None:
            return False
        expected = None if self.expected_period is None else self.expected_period()
        if expected is not None:
            return t - self._last_end < self.config.min_period_frac * expected
        if not self._periods:
            return False
        return t - self._last_end < self.config.min_period_frac * float(np.median(self._periods[-5:]))

    def _forget(self) -> None:
        self.phase = self._candidate = None
        self._values = []

    def summary(self) -> dict[str, object]:
        return {"reps": self.count, "rep_log": [asdict(r) for r in self.reps]}


@dataclass
class HoldTimer:
    """Time a pose is held continuously; gaps up to ``tolerance_s`` (a flicker) do not break a hold."""

    tolerance_s: float = 0.3
    holds: list[tuple[float, float]] = field(default_factory=list)
    _start: float | None = None
    _last_on: float | None = None

    def update(self, t: float, active: bool) -> float:
        """Feed one frame; returns the current hold's duration in seconds (0 when not holding)."""
        if active:
            if self._start is None or (self._last_on is not None and t - self._last_on > self.tolerance_s):
                self._close()
                self._start = t
            self._last_on = t
            return t - self._start
        if self._last_on is not None and t - self._last_on > self.tolerance_s:
            self._close()
        return 0.0

    def _close(self) -> None:
        if self._start is not None and self._last_on is not None and self._last_on > self._start:
            self.holds.append((self._start, self._last_on))
        self._start = self._last_on = None

    def finish(self) -> dict[str, object]:
        """Close the running hold and summarise: every hold, the longest, the total."""
        self._close()
        durations = [end - start for start, end in self.holds]
        return {
            "holds": [{"start_s": round(s, 3), "end_s": round(e, 3), "duration_s": round(e - s, 3)} for s, e in self.holds],
            "longest_hold_s": round(max(durations, default=0.0), 3),
            "total_hold_s": round(sum(durations), 3),
        }


@dataclass
class Segment:
    """A stretch of time with one label ('unknown' and 'no person' included)."""

    label: str
    start_s: float
    end_s: float
    frames: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class SegmentTracker:
    """Splits a stream of per-frame labels into segments of constant label."""

    def __init__(self):
        self.segments: list[Segment] = []

    def update(self, t: float, label: str) -> None:
        if self.segments and self.segments[-1].label == label:
            self.segments[-1].end_s = t
            self.segments[-1].frames += 1
        else:
            if self.segments:
                self.segments[-1].end_s = t  # a segment lasts until the next one starts
            self.segments.append(Segment(label, t, t, 1))

    def summary(self, end_s: float | None = None) -> list[dict[str, object]]:
        if self.segments and end_s is not None:
            self.segments[-1].end_s = max(self.segments[-1].end_s, end_s)
        return [
            {"label": s.label, "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
             "duration_s": round(s.duration_s, 3), "frames": s.frames}
            for s in self.segments
        ]
