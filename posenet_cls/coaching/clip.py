"""The whole-clip counter of ``--exercise auto`` for files: sees every frame, finds the period, counts cycles.

A pure function of the sequence (:func:`count_clip`): timestamps and raw poses (N, 33, >=2), None
or NaN where no person was found. Steps, each with one setting of :class:`ClipConfig`:

1. Each frame becomes :func:`motion.motion_features` (x, y of the body's joints, each axis min-max
   normalised per frame). Gaps up to ``max_gap_s`` are bridged linearly; longer ones are no movement.
2. A Gaussian of ``smooth_s`` takes off landmark jitter; subtracting a moving average of
   ``detrend_s`` takes off slow changes of posture (setting up, walking off, lying down).
3. The first ``components`` principal components of what is left; the period is the first peak of
   their mean autocorrelation (unbiased, lags ``min_period_s`` to ``max_period_s`` and at most
   1 / ``min_cycles`` of the clip) that reaches ``peak_share`` of the highest peak, at a lag where
   the whole pose (the components weighted by their variance) resembles itself: half a period is not.
4. Each component is band-passed around that period (``band`` times its frequency); the one with
   the most power is the signal. Its Hilbert envelope says where the person exercises: above
   ``active`` of the envelope's 90th percentile. Rests, set-up and standing still fall below.
5. While exercising, the signal's unwrapped (Hilbert) phase advances one turn per rep: the count is
   its turns, rounded. Each rep starts and ends where the phase completes a turn.

The settings were chosen by two-fold cross-validation across people on RepCount's shared half
(docs/reps.md). Without a period (fewer than ``min_cycles`` cycles counted, or stillness) it finds
none: the caller keeps the online count. Walking in or off (the hips travelling sideways faster
than ``max_drift`` torso lengths per second) is no exercise: those frames count as no person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from posenet_cls.coaching.angles import HIPS, SHOULDERS
from posenet_cls.coaching.motion import MOTION_JOINTS, motion_features
from posenet_cls.coaching.temporal import Rep
from posenet_cls.errors import PosenetError

DRIFT_WINDOW_S = 1.0  # the hips' sideways speed is averaged over this long (the live counter's too)
ENVELOPE_PERCENTILE = 90.0  # the envelope's reference level: the movement's typical amplitude, not its largest


@dataclass(frozen=True)
class ClipConfig:
    """Settings of the whole-clip counter (see the module's docstring; chosen by cross-validation, docs/reps.md)."""

    max_gap_s: float = 1.0  # frames without a person up to this long are bridged
    smooth_s: float = 0.05  # Gaussian sigma against landmark jitter
    detrend_s: float = 8.0  # moving average subtracted: slower posture changes are not reps
    components: int = 6  # principal components whose autocorrelations give the period
    min_period_s: float = 0.3
    max_period_s: float = 10.0
    min_cycles: float = 2.0  # the longest period tried is the clip's length over this
    peak_share: float = 0.5  # the period is the first autocorrelation peak this close to the highest
    band: tuple[float, float] = (0.6, 1.6)  # band-pass around the period's frequency, as multiples of it
    active: float = 0.4  # exercising: the envelope above this share of its 90th percentile
    min_range: float = 0.05  # a signal of less spread (normalised body units) is stillness
    # Hips travelling sideways faster than this (torso lengths per second, averaged over a second) are walking
    # in or off, not exercise, as for the live counter; None: no such check (RepCount's per-frame normalised keypoints).
    max_drift: float | None = 1.0

    def check(self) -> None:
        """Refuse settings that cannot count, naming the setting."""
        if self.components < 1:
            raise PosenetError(f"clip counter: components must be >= 1, got {self.components}")
        for name in ("smooth_s", "detrend_s", "min_cycles"):
            if getattr(self, name) <= 0:
                raise PosenetError(f"clip counter: {name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.min_period_s < self.max_period_s:
            raise PosenetError(f"clip counter: need 0 < min_period_s < max_period_s, got {self.min_period_s}, "
                               f"{self.max_period_s}")
        if not 0 < self.band[0] < 1 < self.band[1]:
            raise PosenetError(f"clip counter: band must be (low < 1, high > 1), got {self.band}")
        if not 0 < self.active < 1 or not 0 < self.peak_share <= 1:
            raise PosenetError(f"clip counter: active and peak_share must be in (0, 1], got {self.active}, "
                               f"{self.peak_share}")


@dataclass
class ClipCount:
    """The whole clip's count: each rep, the period (None: no periodic movement found) and the exercising time."""

    reps: list[Rep]
    period_s: float | None
    active_s: float

    @property
    def count(self) -> int:
        return len(self.reps)

    def summary(self) -> dict[str, object]:
        return {"reps": self.count, "rep_log": [asdict(r) for r in self.reps],
                "period_s": None if self.period_s is None else round(self.period_s, 3)}


def _features(poses: list[np.ndarray | None] | np.ndarray) -> np.ndarray:
    """Motion features (N, 26), NaN rows where no person (or a non-finite joint) was seen."""
    out = np.full((len(poses), 2 * len(MOTION_JOINTS)), np.nan)
    for i, pose in enumerate(poses):
        if pose is None:
            continue
        pose = np.asarray(pose)
        if np.all(np.isfinite(pose[list(MOTION_JOINTS), :2])):
            out[i] = motion_features(pose)
    return out


def _walking(times: np.ndarray, poses, aspect: float, max_drift: float) -> np.ndarray:
    """Frames whose hips travel sideways faster than ``max_drift`` torso lengths per second, averaged over a second."""
    from scipy.ndimage import uniform_filter1d

    hips, torso = np.full(len(poses), np.nan), np.full(len(poses), np.nan)
    for i, pose in enumerate(poses):
        if pose is not None:
            xy = np.asarray(pose, dtype=np.float64)[:, :2] * (aspect, 1.0)
            hip, shoulder = xy[list(HIPS)].mean(axis=0), xy[list(SHOULDERS)].mean(axis=0)
            hips[i], torso[i] = hip[0], np.linalg.norm(shoulder - hip)
    seen = np.isfinite(hips) & np.isfinite(torso) & (torso > 1e-6)
    if seen.sum() < 2:
        return np.zeros(len(poses), dtype=bool)
    velocity = np.zeros(len(poses))
    velocity[seen] = np.gradient(hips[seen], times[seen]) / np.median(torso[seen])
    window = max(int(round(DRIFT_WINDOW_S * (len(times) - 1) / max(times[-1] - times[0], 1e-6))), 1)
    return np.abs(uniform_filter1d(velocity, window, mode="nearest")) > max_drift


def _bridge(x: np.ndarray, times: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows without a person interpolated from their neighbours; the mask of rows that count (gaps up to max_gap_s)."""
    seen = np.all(np.isfinite(x), axis=1)
    filled = x.copy()
    idx = np.flatnonzero(seen)
    for j in range(x.shape[1]):
        filled[~seen, j] = np.interp(times[~seen], times[idx], x[idx, j])
    valid = seen.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, (~seen).astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):  # a run of missing rows [a, b)
        if a > 0 and b < len(x) and times[b] - times[a - 1] <= max_gap_s:
            valid[a:b] = True
    return filled, valid


def _autocorrelation(x: np.ndarray, lags: int) -> np.ndarray:
    """Unbiased, normalised autocorrelation of each column of x (N, k) for lags 0..lags-1: (lags, k)."""
    from scipy.signal import fftconvolve

    x = x - x.mean(axis=0)
    n = len(x)
    full = fftconvolve(x, x[::-1], mode="full", axes=0)[n - 1:n - 1 + lags]
    full = full / (n - np.arange(lags))[:, None]
    return full / np.maximum(full[:1], 1e-12)


def periodicity(z: np.ndarray, fps: float, config: ClipConfig = ClipConfig()) -> tuple[int, float] | None:
    """The period of components z (N, k) in frames and their mean autocorrelation there, or None (step 3).

    The period is the first peak of the mean autocorrelation reaching ``peak_share`` of the highest, at a
    lag where the whole pose (the components weighted by their variance) resembles itself. The live
    counter uses it on its recent window.
    """
    from scipy.signal import find_peaks

    lags = min(int(config.max_period_s * fps), int(len(z) / config.min_cycles))
    low = int(np.ceil(config.min_period_s * fps))
    if lags <= low + 2:
        return None
    each = _autocorrelation(z, lags)
    mean = each.mean(axis=1)
    variance = z.var(axis=0)
    whole = each @ variance / max(float(variance.sum()), 1e-12)  # the whole pose's: each component by its variance
    peaks, _ = find_peaks(mean, height=0.0)
    peaks = peaks[(peaks >= low) & (whole[peaks] > 0)]  # where the whole pose is unlike itself, half a period at most
    if not len(peaks):
        return None
    best = mean[peaks].max()
    period = int(peaks[np.flatnonzero(mean[peaks] >= config.peak_share * best)[0]])
    return period, float(mean[period])


def count_clip(times: np.ndarray | list[float], poses: list[np.ndarray | None] | np.ndarray,
               config: ClipConfig = ClipConfig(), aspect: float = 1.0) -> ClipCount:
    """Count the repetitions of a whole clip: timestamps (N,) in seconds and poses (N, 33, >=2), None/NaN: no person.

    ``aspect`` is the image's width / height, for the walking check's sideways speed.
    """
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d
    from scipy.signal import butter, hilbert, sosfiltfilt

    config.check()
    times = np.asarray(times, dtype=np.float64)
    if len(times) != len(poses):
        raise PosenetError(f"clip counter: {len(times)} timestamps for {len(poses)} poses")
    none = ClipCount([], None, 0.0)
    x = _features(poses)
    if config.max_drift is not None:
        x[_walking(times, poses, aspect, config.max_drift)] = np.nan
    if np.isfinite(x[:, 0]).sum() < 10:
        return none
    fps = (len(times) - 1) / max(times[-1] - times[0], 1e-6)  # frames are taken as evenly spaced
    x, valid = _bridge(x, times, config.max_gap_s)
    x = gaussian_filter1d(x, config.smooth_s * fps, axis=0)
    x = x - uniform_filter1d(x, int(config.detrend_s * fps) | 1, axis=0, mode="nearest")
    centre = x[valid].mean(axis=0)
    _, _, vectors = np.linalg.svd(x[valid] - centre, full_matrices=False)
    z = (x - centre) @ vectors[:config.components].T
    z[~valid] = 0.0
    found = periodicity(z[valid], fps, config)
    if found is None:
        return none
    period = found[0]
    frequency = fps / period
    high = min(config.band[1] * frequency, 0.45 * fps)
    sos = butter(2, [config.band[0] * frequency, high], btype="band", fs=fps, output="sos")
    banded = sosfiltfilt(sos, z, axis=0)
    signal = banded[:, int(np.argmax((banded[valid] ** 2).mean(axis=0)))]
    low, top = np.percentile(signal[valid], [10.0, 90.0])
    if top - low < config.min_range:  # stillness
        return none
    analytic = hilbert(signal)
    envelope, phase = np.abs(analytic), np.unwrap(np.angle(analytic))
    active = valid & (envelope > config.active * np.percentile(envelope[valid], ENVELOPE_PERCENTILE))
    steps = np.clip(np.diff(phase), 0.0, None) / (2 * np.pi) * (active[1:] & active[:-1])
    turns = np.r_[0.0, np.cumsum(steps)]  # cycles done so far, advancing only while exercising
    if np.round(turns[-1]) < config.min_cycles:  # a single move (or none) is no periodic movement: no period
        return none
    last = int(np.flatnonzero(active)[-1])
    reps = []
    for k in range(int(np.round(turns[-1]))):
        start, bottom, end = (min(int(np.searchsorted(turns, k + f, side="right")), last) for f in (0.0, 0.5, 1.0))
        if k == 0:
            start = int(np.flatnonzero(active)[0])
        t0, t1, t2 = (float(times[i]) for i in (start, bottom, end))
        rom = float(np.ptp(signal[start:end + 1]))
        reps.append(Rep(k + 1, round(t0, 3), round(t1, 3), round(t2, 3), round(rom, 3), round(t1 - t0, 3),
                            round(t2 - t1, 3)))
    return ClipCount(reps, period / fps, float(np.sum(np.diff(times)[active[1:]])))
