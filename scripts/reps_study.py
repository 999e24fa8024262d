"""How the auto counters' settings were chosen: each setting changed alone, scored on both folds of RepCount's shared half.

The folds split the videos by person (``benchmark --only reps --folds``); a change is kept only if it
helps on both (MAE lower, OBO not lower). RepCount's keypoints are normalised per frame, so the
walking checks are off, as in the benchmark. Prints one markdown table per counter (docs/reps.md quotes them):

    .venv/bin/python scripts/reps_study.py            # the file counter (seconds)
    .venv/bin/python scripts/reps_study.py --live     # the live counter too (minutes)
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from posenet_cls.bench.reps import read_counts, repcount_frames
from posenet_cls.coaching.auto import AutoConfig, AutoCounter
from posenet_cls.coaching.clip import ClipConfig, count_clip
from posenet_cls.config import data_dir

# How the file counter's settings were reached: from the first component alone and a lower activity level,
# each step kept because it helped on both folds
CLIP_PATH = [("start: components = 1, active = 0.3", dict(components=1, active=0.3)),
             ("components = 6 (kept)", dict(components=6, active=0.3)), ("active = 0.4 (kept)", dict(active=0.4))]
CLIP_CHANGES = [("components", 1), ("components", 3), ("components", 10), ("peak_share", 0.7), ("peak_share", 0.9),
                ("detrend_s", 5.0), ("detrend_s", 12.0), ("active", 0.3), ("active", 0.5), ("band", (0.5, 1.6)),
                ("band", (0.75, 1.6)), ("band", (0.6, 1.4)), ("band", (0.6, 2.0)), ("smooth_s", 0.1)]
# min_periodicity = 1.0: the wobble rule on the reps' median period alone, as before issue 29
LIVE_CHANGES = [("window_s", 4.0), ("window_s", 8.0), ("hysteresis", 0.3), ("hysteresis", 0.5),
                ("min_period_frac", 0.0), ("min_periodicity", 1.0), ("min_periodicity", 0.2), ("min_periodicity", 0.4),
                ("period_components", 1), ("period_components", 3), ("period_components", 10)]


def _scores(counts: list[int], videos) -> list[tuple[float, float]]:
    """MAE and OBO on fold 0, fold 1 and all videos."""
    out = []
    for fold in (0, 1, None):
        pairs = [(c, v.count) for c, v in zip(counts, videos) if fold is None or v.fold == fold]
        out.append((float(np.mean([abs(c - g) / max(g, 1) for c, g in pairs])),
                    float(np.mean([abs(c - g) <= 1 for c, g in pairs]))))
    return out


def _live(frames, config: AutoConfig) -> int:
    counter = AutoCounter(replace(config, max_drift=None))  # RepCount's keypoints have lost the hips' place
    for t, pose in frames:
        counter.update(t, pose)
    return counter.count


def _table(title: str, base, changes, count, path=()) -> None:
    """Print the steps that led to the settings, then each single change from them: does it help on both folds?"""
    print(f"\n{title}\n\n| setting | fold 0 MAE / OBO | fold 1 MAE / OBO | all MAE / OBO | helps on both |")
    print("|---|---|---|---|---|")
    for label, values in path:
        cells = " | ".join(f"{mae:.3f} / {obo:.2f}" for mae, obo in count(replace(base, **values)))
        print(f"| {label} | {cells} | |")
    ref = count(base)
    rows = [("chosen settings", ref)] + [(f"{name} = {value}", count(replace(base, **{name: value})))
                                          for name, value in changes]
    for label, scores in rows:
        helps = all(s[0] < r[0] and s[1] >= r[1] for s, r in zip(scores[:2], ref[:2]))
        cells = " | ".join(f"{mae:.3f} / {obo:.2f}" for mae, obo in scores)
        print(f"| {label} | {cells} | {'' if label == 'chosen settings' else ('yes' if helps else 'no')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(data_dir() / "repcount"), help="a folder in RepCount's format")
    parser.add_argument("--live", action="store_true", help="also the live counter's settings (minutes)")
    args = parser.parse_args()
    videos = read_counts(args.data)
    frames = [list(repcount_frames(v.path)) for v in videos]
    clips = [([t for t, _ in f], [p for _, p in f]) for f in frames]
    live = [_live(f, AutoConfig()) for f in frames]  # where a clip shows no period, the file's count is the live one

    def file_counts(cfg: ClipConfig) -> list[tuple[float, float]]:
        found = [count_clip(t, p, cfg) for t, p in clips]
        return _scores([c.count if c.period_s is not None else n for c, n in zip(found, live)], videos)

    _table("File counter (ClipConfig)", replace(ClipConfig(), max_drift=None), CLIP_CHANGES, file_counts, CLIP_PATH)
    if args.live:
        _table("Live counter (AutoConfig)", AutoConfig(), LIVE_CHANGES,
               lambda cfg: _scores([_live(f, cfg) for f in frames], videos))


if __name__ == "__main__":
    main()
