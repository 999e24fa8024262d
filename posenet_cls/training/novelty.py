"""Novelty: how unlike the training poses of its predicted class a pose is, for an "unknown" that works.

A softmax always spreads its mass over the classes it knows, so a pose of a class never trained often
gets a confident answer (on yoga8, leave-one-class-out, the 0.5 probability threshold calls only about
one in eight such poses unknown). The novelty score is a distance instead: the mean image-plane
distance, in the hip-centred, torso-scaled units of :func:`posenet_cls.features.normalize`, from the
pose to its ``k`` nearest training poses of the predicted class (training poses and their mirror
images, as training augments with mirroring), divided by that class's typical distance (the median,
over its training poses, of the same distance to the other training poses), because some poses vary
far more than others: a plank is far from every Downward_dog, a variant of a tree pose is not far
from other trees. Its threshold is a high quantile of the scores of the validation poses, which the
model did not train on; it travels with the model (checkpoint and ONNX).

Numpy only: this is the reference the exported graph is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig, mirror, normalize

DEFAULT_K = 3
# Share of the validation poses (known classes, not trained on) that must stay under the threshold.
# yoga8, leave-one-class-out (scripts/unknown_table.py): 0.99 keeps ~97% of held-out known poses and
# calls ~2/3 of a never-trained class unknown; 0.95 calls more unknown but drops ~7% of known poses.
DEFAULT_QUANTILE = 0.99
MIN_SCALE = 1e-3  # a class of identical training poses must not divide by zero


@dataclass
class NoveltyModel:
    """Reference poses (M, D) with class indices (M,), per-class typical distance (C,), ``k`` and ``threshold``."""

    reference: np.ndarray
    labels: np.ndarray
    scale: np.ndarray
    k: int
    threshold: float
    quantile: float
    torso_multiplier: float

    def settings(self) -> dict:
        """JSON-safe settings (the arrays travel as tensors or graph constants)."""
        return {"k": self.k, "threshold": self.threshold, "quantile": self.quantile,
                "torso_multiplier": self.torso_multiplier, "references": int(len(self.labels)),
                "features": "normalised x, y (image plane)", "scale": [round(float(v), 6) for v in self.scale]}


def novelty_features(keypoints: np.ndarray, torso_multiplier: float) -> np.ndarray:
    """Raw poses (N, 33, 4) -> normalised image-plane coordinates (N, 66), the space novelty is measured in."""
    return normalize(keypoints, FeatureConfig(torso_multiplier, use_z=False, use_visibility=False))


def reference_set(keypoints: np.ndarray, labels: np.ndarray, torso_multiplier: float) -> tuple[np.ndarray, np.ndarray]:
    """Training poses and their mirror images as (2N, 66) features with their class indices (2N,)."""
    ref = novelty_features(np.concatenate([keypoints, mirror(keypoints)]), torso_multiplier)
    return ref, np.concatenate([labels, labels]).astype(np.int64)


def novelty_scores(features: np.ndarray, predicted: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                   k: int, skip: int = 0) -> np.ndarray:
    """Mean distance (N,) from each feature row to its ``k`` nearest reference rows of the predicted class.

    ``skip`` leaves out that many nearest rows first (1: a training pose's distance to itself).
    """
    f, r = np.asarray(features, np.float64), np.asarray(reference, np.float64)  # exact, unlike the float32 graph
    d2 = (f * f).sum(1)[:, None] - 2.0 * f @ r.T + (r * r).sum(1)[None]
    d2 = np.where(labels[None, :] == np.asarray(predicted)[:, None], d2, np.inf)
    nearest = np.sort(d2, axis=1)[:, skip:skip + k]
    return np.sqrt(np.maximum(nearest, 0.0)).mean(axis=1).astype(np.float32)


def score(model: NoveltyModel, keypoints: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Novelty (N,) of raw poses (N, 33, 4) given their predicted class indices (N,): distance / class scale."""
    features = novelty_features(keypoints, model.torso_multiplier)
    predicted = np.asarray(predicted, np.int64)
    return (novelty_scores(features, predicted, model.reference, model.labels, model.k) / model.scale[predicted]
            ).astype(np.float32)


def fit_novelty(train_keypoints: np.ndarray, train_labels: np.ndarray, val_keypoints: np.ndarray,
                val_predicted: np.ndarray, torso_multiplier: float, k: int = DEFAULT_K,
                quantile: float = DEFAULT_QUANTILE) -> NoveltyModel:
    """Reference set from the training poses; threshold = ``quantile`` of the validation poses' novelty."""
    if len(val_keypoints) == 0:
        raise PosenetError("the novelty threshold needs validation poses; the split has none")
    counts = np.bincount(np.asarray(train_labels, np.int64))
    if counts[counts > 0].min() < k:
        raise PosenetError(f"a class has {counts[counts > 0].min()} training poses; the novelty score needs at least {k}")
    reference, labels = reference_set(train_keypoints, train_labels, torso_multiplier)
    train_labels = np.asarray(train_labels, np.int64)
    own = novelty_scores(novelty_features(train_keypoints, torso_multiplier), train_labels, reference, labels, k, skip=1)
    scale = np.ones(int(labels.max()) + 1, np.float32)
    for c in np.unique(train_labels):
        scale[c] = max(float(np.median(own[train_labels == c])), MIN_SCALE)
    model = NoveltyModel(reference.astype(np.float32), labels, scale, k, 0.0, float(quantile), float(torso_multiplier))
    val = score(model, val_keypoints, val_predicted)
    model.threshold = float(np.quantile(val, quantile))
    return model
