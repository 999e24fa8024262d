"""Metrics of a classifier on held-out poses: per-class report, fold summaries, robustness to perturbed poses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posenet_cls.features import (crop_below, far_side_blur, guessed_depth, mirror, proportions, rotate, same_draws,
                                  stretch, swap_sides, turn)
from posenet_cls.schema import Landmark as L

# The shifted protocol: what differs between photo sources (issue 15), each pose drawn anew per fold.
SHIFT_YAW_DEG = 45.0  # camera turned about the vertical axis, uniform in +-this
WIDE_YAW_DEG = 90.0  # "wide": the same shifts with the camera anywhere from the person's front to their side
SHIFT_DRAWS = 5  # shifted copies of each held-out pose, for a steadier figure
SHIFT_PITCH_DEG = 20.0  # camera higher or lower, uniform in +-this
SHIFT_ROLL_DEG = 10.0  # camera tilted, uniform in +-this
SHIFT_ASPECT = 1.2  # framing stretched by up to this either way
SHIFT_FAR_SIGMA = 0.08  # far-side joints moved by N(0, this torso lengths)
SHIFT_CROP = 0.2  # share of poses whose feet and ankles left the frame
SHIFT_LIMBS = 0.15  # torso, upper arms, forearms, thighs and shins each x exp(U(-this, this))
SHIFT_DEPTH = 0.25  # BlazePose's depth guess: z of every joint moved by N(0, this torso lengths)
SHIFT_VISIBILITY = 1.0  # another source's visibility: each pose's visibility raised to the power exp(U(-this, this))
# "behind" (issue 28): the shifts with the camera walked round to the person's other side instead, and BlazePose's
# left/right label swap on people seen from behind in a share of them.
BEHIND_YAW_DEG = (90.0, 180.0)  # camera turned about the vertical by U(these), either way
BEHIND_SWAP = 0.5  # share of those poses whose left and right labels BlazePose exchanged
# The "unknown" thresholds are calibrated on validation poses shifted this much (every range here x0.25): the
# novelty rule before issue 15 keeps 95.6% of the right answers there, against ~96% on the other sources of
# issue 15 and 71% under the full shift, far harsher on novelty than they were (docs/novelty.md).
CALIBRATION_STRENGTH = 0.25
FEET = (L.LEFT_ANKLE, L.RIGHT_ANKLE, L.LEFT_HEEL, L.RIGHT_HEEL, L.LEFT_FOOT_INDEX, L.RIGHT_FOOT_INDEX)


Predict = Callable[[np.ndarray, np.ndarray | None], np.ndarray]  # raw poses (N, 33, 4), world (N, 33, 3) -> classes (N,)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: truth)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = s > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f[present])) if present.any() else 0.0,
        "per_class": {c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                          "f1": round(float(f[i]), 4), "support": int(s[i])} for i, c in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def shifted(keypoints: np.ndarray, rng: np.random.Generator, yaw_deg: float = SHIFT_YAW_DEG,
            strength: float = 1.0) -> np.ndarray:
    """Held-out poses as another photo source would show them: people of other proportions, the camera turned
    (yaw, pitch, roll), the framing stretched, far-side limbs guessed, for some the feet cropped out, and
    depth and visibility guessed otherwise (ranges: SHIFT_*, each times ``strength``; the yaw ``yaw_deg``)."""
    n, k = len(keypoints), float(strength)
    kp = proportions(keypoints, np.exp(rng.uniform(-SHIFT_LIMBS * k, SHIFT_LIMBS * k, (n, 5))))
    kp = turn(kp, rng.uniform(-yaw_deg * k, yaw_deg * k, n), rng.uniform(-SHIFT_PITCH_DEG * k, SHIFT_PITCH_DEG * k, n))
    kp = rotate(kp, rng.uniform(-SHIFT_ROLL_DEG * k, SHIFT_ROLL_DEG * k, n))
    aspect = np.exp(rng.uniform(-np.log(SHIFT_ASPECT) * k, np.log(SHIFT_ASPECT) * k, n))
    kp = far_side_blur(stretch(kp, np.sqrt(aspect), 1 / np.sqrt(aspect)), SHIFT_FAR_SIGMA * k, rng)
    cropped = rng.random(n) < SHIFT_CROP * min(k, 1.0)
    kp[cropped] = crop_below(kp[cropped], tuple(int(f) for f in FEET), rng)
    return guessed_depth(kp, SHIFT_DEPTH * k, SHIFT_VISIBILITY * k, rng)


def behind(keypoints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Held-out poses shifted as another source would show them, seen from the person's other side (the camera
    turned :data:`BEHIND_YAW_DEG` either way), with left and right swapped in :data:`BEHIND_SWAP` of them."""
    n = len(keypoints)
    kp = shifted(keypoints, rng, yaw_deg=0.0)
    kp = turn(kp, rng.uniform(*BEHIND_YAW_DEG, n) * rng.choice([-1, 1], n), np.zeros(n))
    swapped = rng.random(n) < BEHIND_SWAP
    kp[swapped] = swap_sides(kp[swapped])
    return kp


def behind_world(world: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """World landmarks (N, 33, 3) seen from the person's other side (turned :data:`BEHIND_YAW_DEG` either way about
    the vertical), left and right swapped in :data:`BEHIND_SWAP` of them: :func:`behind` for world landmarks."""
    n = len(world)
    a = np.deg2rad(rng.uniform(*BEHIND_YAW_DEG, n) * rng.choice([-1, 1], n))[:, None]
    w = np.asarray(world, dtype=np.float64)
    out = np.stack([np.cos(a) * w[..., 0] + np.sin(a) * w[..., 2], w[..., 1],
                    -np.sin(a) * w[..., 0] + np.cos(a) * w[..., 2]], axis=-1).astype(np.float32)
    swapped = rng.random(n) < BEHIND_SWAP
    out[swapped] = swap_sides(out[swapped])
    return out


def shifted_copies(transform, keypoints: np.ndarray, world: np.ndarray | None, rng: np.random.Generator,
                   copies: int = SHIFT_DRAWS) -> tuple[np.ndarray, np.ndarray | None]:
    """``copies`` draws of ``transform(poses, rng)`` of the poses, one after another, the world landmarks (if given)
    with the same draws (:func:`~posenet_cls.features.same_draws`): (poses, world or None), ``copies`` times as many."""
    drawn = [same_draws(transform, keypoints, world, rng) for _ in range(copies)]
    return np.concatenate([d[0] for d in drawn]), None if world is None else np.concatenate([d[1] for d in drawn])


def perturbations(keypoints: np.ndarray, seed: int,
                  world: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Held-out poses as other cameras would see them: mirrored, rotated by 10-20 degrees, re-framed (aspect
    x0.8-1.25), and :func:`shifted` (the other sources' shifts together; SHIFT_DRAWS copies each, "wide" with
    the yaw up to WIDE_YAW_DEG, "behind" from the other side with left and right sometimes swapped); each as
    (poses, world landmarks moved with the same draws, or None without ``world``)."""
    rng = np.random.default_rng(seed)
    n = len(keypoints)
    angle = rng.uniform(10, 20, n) * rng.choice([-1, 1], n)
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25), n) * rng.choice([-1, 1], n))
    drawn = lambda transform: shifted_copies(transform, keypoints, world, rng)  # noqa: E731
    return {"mirrored": same_draws(lambda p, r: mirror(p), keypoints, world, rng),
            "rotated": same_draws(lambda p, r: rotate(p, angle), keypoints, world, rng),
            "stretched": same_draws(lambda p, r: stretch(p, np.sqrt(aspect), 1 / np.sqrt(aspect)), keypoints, world, rng),
            "shifted": drawn(shifted), "wide": drawn(lambda p, r: shifted(p, r, WIDE_YAW_DEG)), "behind": drawn(behind)}


def robustness(predict: Predict, keypoints: np.ndarray, y_true: np.ndarray, seed: int,
               world: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy on each of :func:`perturbations` of the given held-out poses (and their world landmarks)."""
    y_true = np.asarray(y_true)
    return {name: float(np.mean(predict(kp, w) == np.tile(y_true, len(kp) // max(len(y_true), 1))))
            for name, (kp, w) in perturbations(keypoints, seed, world).items()}


def summarize_folds(reports: list[dict], classes: list[str]) -> dict:
    """Mean and standard deviation over cross-validation folds, the pooled confusion matrix, and each fold."""
    def stat(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values))}

    confusion = np.sum([r["confusion"] for r in reports], axis=0)
    correct = np.trace(confusion)
    return {
        "accuracy": stat([r["accuracy"] for r in reports]),
        "macro_f1": stat([r["macro_f1"] for r in reports]),
        "pooled_accuracy": float(correct / confusion.sum()),
        "robustness": {k: stat([r["robustness"][k] for r in reports]) for k in reports[0].get("robustness", {})},
        "fit_seconds": stat([r["fit_seconds"] for r in reports]) if "fit_seconds" in reports[0] else None,
        "confusion": confusion.tolist(),
        "folds": reports,
    }
