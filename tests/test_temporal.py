"""Smoothing, repetition counting, hold timers and segments on synthetic signals (edge cases)."""

from __future__ import annotations

import numpy as np
import pytest

from posenet_cls.errors import PosenetError
from posenet_cls.coaching.temporal import CounterConfig, HoldTimer, ProbabilitySmoother, RepCounter, SegmentTracker

FPS = 30.0
KNEE = CounterConfig(up=160.0, down=100.0)


def _count(signal, config=KNEE, valid=None):
    counter = RepCounter(config)
    for i, v in enumerate(signal):
        counter.update(i / FPS, float(v), True if valid is None else bool(valid[i]))
    return counter


def _squats(n: int, seconds_each: float = 2.0, top: float = 175.0, bottom: float = 80.0) -> np.ndarray:
    t = np.arange(int(n * seconds_each * FPS)) / FPS
    return bottom + (top - bottom) * (0.5 + 0.5 * np.cos(2 * np.pi * t / seconds_each))


def test_counts_full_cycles_and_logs_them():
    counter = _count(np.concatenate([_squats(3), np.full(15, 175.0)]))
    assert counter.count == 3
    rep = counter.reps[0]
    assert rep.start_s < rep.bottom_s < rep.end_s and 90 < rep.range_of_motion <= 95
    assert rep.time_down_s > 0 and rep.time_up_s > 0
    assert counter.summary()["reps"] == 3


def test_wobble_around_one_threshold_adds_no_rep():
    rng = np.random.default_rng(0)
    wobble = 100.0 + 6.0 * np.sin(np.arange(300) * 1.3) + rng.normal(0, 2, 300)  # around 'down'
    signal = np.concatenate([np.full(20, 175.0), np.linspace(175, 100, 20), wobble, np.linspace(100, 175, 20),
                             np.full(20, 175.0), 160 + 5 * np.sin(np.arange(200))])  # then around 'up'
    assert _count(signal).count == 1


def test_setup_from_the_bottom_and_short_spikes_do_not_count():
    start_low = np.concatenate([np.full(30, 90.0), np.linspace(90, 175, 20), np.full(30, 175.0)])
    assert _count(start_low).count == 0
    spike = np.concatenate([np.full(30, 175.0), np.full(2, 90.0), np.full(30, 175.0)])  # 2 frames < 0.15 s
    assert _count(spike).count == 0


def test_lost_tracking_forgets_the_phase():
    signal = np.concatenate([np.full(30, 175.0), np.full(30, 90.0), np.full(30, 175.0)])
    valid = np.ones(len(signal), bool)
    valid[20:70] = False  # 1.7 s without a person spans the whole bottom
    assert _count(signal, valid=valid).count == 0
    assert _count(signal).count == 1


def test_inverted_signal_and_bad_config():
    pair = CounterConfig(up=-0.4, down=0.4)  # p(down) - p(up): low means up
    assert _count(-(_squats(2) - 127.5) / 50.0, config=pair).count == 2
    with pytest.raises(PosenetError, match="'up' and 'down' must differ"):
        CounterConfig(up=1.0, down=1.0)


def test_smoother_follows_a_change_within_the_window():
    smoother = ProbabilitySmoother(window_s=0.5)
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    out = [smoother.update(i / FPS, a if i < 30 else b) for i in range(60)]
    switched = next(i for i, p in enumerate(out) if p[1] > p[0])
    assert 30 < switched <= 30 + 0.5 * FPS
    assert smoother.update(2.0, None) is None
    np.testing.assert_allclose(smoother.update(3.0, a), a)  # a gap longer than the window starts afresh
    with pytest.raises(PosenetError, match="smoothing window"):
        ProbabilitySmoother(-1)


def test_hold_timer_bridges_flicker():
    timer = HoldTimer(tolerance_s=0.3)
    active = np.ones(90, bool)
    active[40:44] = False  # 4 frames of flicker
    active[60:] = False
    for i, on in enumerate(active):
        timer.update(i / FPS, bool(on))
    summary = timer.finish()
    assert len(summary["holds"]) == 1 and summary["longest_hold_s"] == pytest.approx(59 / FPS, abs=1e-3)


def test_segments():
    tracker = SegmentTracker()
    for i, label in enumerate(["a"] * 10 + ["unknown"] * 3 + ["b"] * 10):
        tracker.update(i / 10, label)
    segments = tracker.summary(end_s=2.3)
    assert [s["label"] for s in segments] == ["a", "unknown", "b"]
    assert segments[1]["start_s"] == 1.0 and segments[1]["end_s"] == 1.3 and segments[2]["end_s"] == 2.3
