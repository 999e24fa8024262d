"""Novelty: how unlike the training poses of its predicted class a pose is, for an "unknown" that works.

A softmax always spreads its mass over the classes it knows, so a pose of a class never trained often
gets a confident answer (on yoga8, leave-one-class-out, the 0.5 probability threshold calls only about
one in eight such poses unknown). The novelty score is a distance instead: the mean image-plane
distance, in the hip-centred, torso-scaled units of :func:`posenet_cls.features.normalize`, from the
pose to its ``k`` nearest references of the predicted class (the training poses, their mirror images,
as training augments with mirroring, and their copies seen by a camera turned by REFERENCE_YAWS),
divided by that class's typical distance (the median, over its training poses, of the same distance to
the references that are not copies of the pose itself), because some poses vary far more than others:
a plank is far from every Downward_dog, a variant of a tree pose is not far from other trees. Its
threshold is a margin above a high quantile of the scores of the calibration poses: validation poses,
which the model did not train on, as another photo source would show them, and of those only the ones
the classifier got right. It travels with the model (checkpoint and ONNX).

For a classifier on the world view (issue 28) the pose score is measured in the body frame of the world
landmarks instead (:func:`body_features`; references: the training poses and their mirror images), so a
pose seen from another side is no more novel than it is to the classifier (docs/novelty.md).

Numpy only: this is the reference the exported graph is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig, body_frame, check_world, mirror, normalize, turn, view_features
from posenet_cls.schema import mirror_world

DEFAULT_K = 3
# The references are the training poses, their mirror images and each pose seen with the camera turned by these
# yaws either way (degrees), so a pose photographed from a little further round is not novel for that alone.
REFERENCE_YAWS = (15.0, 30.0)
# Share of the right answers on the calibration poses (the validation poses as another photo source would show
# them, training.metrics.shifted at CALIBRATION_STRENGTH) under the thresholds before THRESHOLD_MARGIN.
DEFAULT_QUANTILE = 0.998
# The thresholds sit this far above that quantile: the validation set (64 poses on yoga8) is too small to place the
# top percent of right answers. Out of fold (scripts/train_default_model.py) the bare quantile keeps 98.5% of right
# answers, under 99%; with the margin, leave-one-class-out (scripts/unknown_table.py --seeds 0 1 2 --margins 1)
# still calls a never-trained class unknown about 59% of the time, the figure before issue 15.
THRESHOLD_MARGIN = 1.08
MIN_SCALE = 1e-3  # a class of identical training poses must not divide by zero
LAYERNORM_EPS = 1e-5  # torch.nn.LayerNorm's default


@dataclass
class LearnedSpace:
    """The classifier's own view of a pose: the outputs of its last hidden layer, by a numpy twin of the MLP up to
    there (``features``: its FeatureConfig as a dict; ``layers``: ("linear" | "layernorm" | "gelu", arrays) in
    order), with reference rows (R, H), their classes (R,), per-class scale (C,) and its own threshold."""

    features: dict
    layers: list[tuple[str, dict[str, np.ndarray]]]
    reference: np.ndarray
    labels: np.ndarray
    scale: np.ndarray
    threshold: float = 0.0

    @property
    def reads_world(self) -> bool:
        """Whether the classifier's features come from the world landmarks."""
        return FeatureConfig.from_dict(self.features).reads_world

    def embed(self, keypoints: np.ndarray, world: np.ndarray | None = None) -> np.ndarray:
        """Raw poses (N, 33, 4) (and their world landmarks (N, 33, 3) for the world view) -> the classifier's last
        hidden layer (N, H), float64."""
        from scipy.special import erf

        h = view_features(keypoints, world, FeatureConfig.from_dict(self.features)).astype(np.float64)
        for kind, w in self.layers:
            if kind == "linear":
                h = h @ w["weight"].T.astype(np.float64) + w["bias"]
            elif kind == "layernorm":
                h = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + LAYERNORM_EPS) * w["weight"] + w["bias"]
            elif kind == "gelu":
                h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            else:
                raise PosenetError(f"novelty: unknown layer kind '{kind}'")
        return h

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array, flat, for a checkpoint."""
        out = {"reference": self.reference, "labels": self.labels, "scale": self.scale}
        out.update({f"layer{i}.{name}": a for i, (_, w) in enumerate(self.layers) for name, a in w.items()})
        return out

    def settings(self) -> dict:
        """JSON-safe settings (the arrays travel as tensors or graph constants)."""
        return {"features": self.features, "layers": [kind for kind, _ in self.layers], "threshold": self.threshold,
                "references": int(len(self.labels)), "scale": [round(float(v), 6) for v in self.scale]}

    @classmethod
    def from_parts(cls, settings: dict, arrays: dict[str, np.ndarray]) -> LearnedSpace:
        """The space from :meth:`settings` and :meth:`arrays` output."""
        layers = [(kind, {name.split(".", 1)[1]: a for name, a in arrays.items() if name.startswith(f"layer{i}.")})
                  for i, kind in enumerate(settings["layers"])]
        return cls(dict(settings["features"]), layers, arrays["reference"], arrays["labels"], arrays["scale"],
                   float(settings["threshold"]))


@dataclass
class NoveltyModel:
    """Reference poses (M, D) with class indices (M,), per-class typical distance (C,), ``k`` and ``threshold``;
    optionally a second score in the classifier's own space (``learned``), rescaled to share the threshold."""

    reference: np.ndarray
    labels: np.ndarray
    scale: np.ndarray
    k: int
    threshold: float
    quantile: float
    torso_multiplier: float
    yaws: tuple[float, ...] = ()
    learned: LearnedSpace | None = None
    margin: float = 1.0  # the thresholds over the quantile of the calibration rows
    space: str = "image"  # where the pose score measures: "image" (normalised x, y) or "body" (world body frame)
    calibration: np.ndarray | None = field(default=None, repr=False)  # the score rows the thresholds came from

    @property
    def reads_world(self) -> bool:
        """Whether a score reads the world landmarks: the pose score in the body frame, or a learned space on them."""
        return self.space == "body" or (self.learned is not None and self.learned.reads_world)

    def settings(self) -> dict:
        """JSON-safe settings (the arrays travel as tensors or graph constants)."""
        out = {"k": self.k, "threshold": self.threshold, "quantile": self.quantile, "margin": self.margin,
               "torso_multiplier": self.torso_multiplier, "references": int(len(self.labels)),
               "reference_yaws": list(self.yaws), "space": self.space, "features": SPACES[self.space],
               "scale": [round(float(v), 6) for v in self.scale]}
        if self.learned is not None:
            out["learned"] = self.learned.settings()
        return out


SPACES = {"image": "normalised x, y (image plane)", "body": "body-frame x, y, z (world landmarks)"}


def novelty_features(keypoints: np.ndarray, torso_multiplier: float) -> np.ndarray:
    """Raw poses (N, 33, 4) -> normalised image-plane coordinates (N, 66), the image space novelty is measured in."""
    return normalize(keypoints, FeatureConfig(torso_multiplier, use_z=False, use_visibility=False))


def body_features(world: np.ndarray) -> np.ndarray:
    """World landmarks (N, 33, 3) -> their :func:`~posenet_cls.features.body_frame` coordinates (N, 99), the body
    space novelty is measured in: the same from any side, as the world view the classifier reads."""
    return body_frame(world).reshape(len(world), -1)


def pose_features(model: NoveltyModel, keypoints: np.ndarray, world: np.ndarray | None) -> np.ndarray:
    """The poses in the model's space: image-plane (from ``keypoints``) or body frame (from ``world``)."""
    if model.space == "body":
        return body_features(check_world(world, len(keypoints), "the novelty score in the body frame"))
    return novelty_features(keypoints, model.torso_multiplier)


def reference_set(keypoints: np.ndarray, labels: np.ndarray, torso_multiplier: float,
                  yaws: tuple[float, ...] = REFERENCE_YAWS,
                  world: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training poses, their mirror images and their copies turned by +-each yaw, as (R, 66) image-plane features;
    with ``world``, the world landmarks and their mirror images in the body frame instead (R, 99; a turn changes
    nothing there); with their class indices (R,) and the index of the training pose each came from (R,)."""
    n = len(keypoints)
    if world is not None:
        ref = body_features(np.concatenate([world, mirror_world(world)]))
        return ref, np.tile(np.asarray(labels, np.int64), 2), np.tile(np.arange(n), 2)
    copies = [keypoints, mirror(keypoints)]
    copies += [turn(keypoints, np.full(n, sign * yaw), np.zeros(n)) for yaw in yaws for sign in (-1, 1)]
    ref = novelty_features(np.concatenate(copies), torso_multiplier)
    return ref, np.tile(np.asarray(labels, np.int64), len(copies)), np.tile(np.arange(n), len(copies))


def novelty_scores(features: np.ndarray, predicted: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                   k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean distance (N,) from each feature row to its ``k`` nearest reference rows of the predicted class.

    ``exclude`` (N, R) boolean: reference rows each query may not use (a training pose's own copies).
    """
    f, r = np.asarray(features, np.float64), np.asarray(reference, np.float64)  # exact, unlike the float32 graph
    d2 = (f * f).sum(1)[:, None] - 2.0 * f @ r.T + (r * r).sum(1)[None]
    allowed = labels[None, :] == np.asarray(predicted)[:, None]
    d2 = np.where(allowed if exclude is None else allowed & ~exclude, d2, np.inf)
    nearest = np.sort(d2, axis=1)[:, :k]
    return np.sqrt(np.maximum(nearest, 0.0)).mean(axis=1).astype(np.float32)


def _pose_score(model: NoveltyModel, keypoints: np.ndarray, predicted: np.ndarray,
                world: np.ndarray | None) -> np.ndarray:
    """The pose score (N,): distance to the nearest references of the predicted class / class scale."""
    features = pose_features(model, keypoints, world)
    return novelty_scores(features, predicted, model.reference, model.labels, model.k) / model.scale[predicted]


def _learned_score(space: LearnedSpace, keypoints: np.ndarray, predicted: np.ndarray, k: int,
                   world: np.ndarray | None) -> np.ndarray:
    """The classifier-space score (N,): the same distance among the classifier's last hidden layer outputs."""
    embedded = space.embed(keypoints, world)
    return novelty_scores(embedded, predicted, space.reference, space.labels, k) / space.scale[predicted]


def score_parts(model: NoveltyModel, keypoints: np.ndarray, predicted: np.ndarray,
                world: np.ndarray | None = None) -> np.ndarray:
    """Each novelty score (N, S) of raw poses (N, 33, 4) (and world landmarks (N, 33, 3) for a classifier on the
    world view) given their predicted class indices (N,), unscaled by the thresholds: the image-plane score and,
    with a learned space, the classifier-space score."""
    predicted = np.asarray(predicted, np.int64)
    parts = [_pose_score(model, keypoints, predicted, world)]
    if model.learned is not None:
        parts.append(_learned_score(model.learned, keypoints, predicted, model.k, world))
    return np.stack(parts, axis=1)


def score(model: NoveltyModel, keypoints: np.ndarray, predicted: np.ndarray,
          world: np.ndarray | None = None) -> np.ndarray:
    """Novelty (N,) of raw poses (N, 33, 4) given their predicted class indices (N,): distance / class scale, in
    the image plane and, with a learned space, the larger of that and the learned score rescaled to the same
    threshold (so a pose is novel when either score is over its own threshold)."""
    parts = score_parts(model, keypoints, predicted, world)
    out = parts[:, 0]
    if model.learned is not None:
        out = np.maximum(out, parts[:, 1] * (model.threshold / model.learned.threshold))
    return out.astype(np.float32)


def _class_scale(reference: np.ndarray, labels: np.ndarray, source: np.ndarray, train_labels: np.ndarray,
                 k: int) -> np.ndarray:
    """Per class, the median over its training poses of their distance to the references that are not copies of
    themselves (at least MIN_SCALE); the first rows of ``reference`` are the training poses as they are."""
    n = len(train_labels)
    own = novelty_scores(reference[:n], train_labels, reference, labels, k,
                         exclude=source[None, :] == np.arange(n)[:, None])
    scale = np.ones(int(labels.max()) + 1, np.float32)
    for c in np.unique(train_labels):
        scale[c] = max(float(np.median(own[train_labels == c])), MIN_SCALE)
    return scale


def learned_space(features: dict, layers: list[tuple[str, dict[str, np.ndarray]]], train_keypoints: np.ndarray,
                  train_labels: np.ndarray, k: int = DEFAULT_K, world: np.ndarray | None = None) -> LearnedSpace:
    """The classifier-space references: the training poses (and their world landmarks, for the world view) and
    their mirror images through ``layers``."""
    train_labels = np.asarray(train_labels, np.int64)
    space = LearnedSpace(features, layers, np.zeros((0, 1)), np.zeros(0, np.int64), np.zeros(0, np.float32))
    both_world = None if world is None else np.concatenate([world, mirror_world(world)])
    reference = space.embed(np.concatenate([train_keypoints, mirror(train_keypoints)]), both_world)
    space.labels = np.tile(train_labels, 2)
    space.scale = _class_scale(reference, space.labels, np.tile(np.arange(len(train_labels)), 2), train_labels, k)
    space.reference = reference.astype(np.float32)
    return space


def joint_thresholds(scores: np.ndarray, quantile: float) -> np.ndarray:
    """Thresholds (S,) for several scores (N, S) of the same poses at one common quantile, the lowest at which at
    least ``quantile`` of the poses are under every threshold."""
    for q in np.linspace(quantile, 1.0, 201):
        thresholds = np.quantile(scores, q, axis=0)
        if (scores <= thresholds).all(axis=1).mean() >= quantile:
            return thresholds
    return scores.max(axis=0)


def novelty_model(train_keypoints: np.ndarray, train_labels: np.ndarray, torso_multiplier: float,
                  k: int = DEFAULT_K, quantile: float = DEFAULT_QUANTILE, yaws: tuple[float, ...] = REFERENCE_YAWS,
                  learned: LearnedSpace | None = None, world: np.ndarray | None = None) -> NoveltyModel:
    """The references of a novelty model (from the training poses) before its thresholds are set; with the training
    poses' ``world`` landmarks (a classifier on the world view) the pose score is measured in the body frame."""
    counts = np.bincount(np.asarray(train_labels, np.int64))
    if counts[counts > 0].min() < k:
        raise PosenetError(f"a class has {counts[counts > 0].min()} training poses; the novelty score needs at least {k}")
    reference, labels, source = reference_set(train_keypoints, train_labels, torso_multiplier, yaws, world)
    train_labels = np.asarray(train_labels, np.int64)
    scale = _class_scale(reference, labels, source, train_labels, k)  # a pose is not its own neighbour
    return NoveltyModel(reference.astype(np.float32), labels, scale, k, 0.0, float(quantile), float(torso_multiplier),
                        () if world is not None else tuple(float(y) for y in yaws), learned,
                        space="image" if world is None else "body")


def calibration_scores(model: NoveltyModel, keypoints: np.ndarray, predicted: np.ndarray,
                       labels: np.ndarray | None = None, world: np.ndarray | None = None) -> np.ndarray:
    """Score rows (n, S) of calibration poses for the thresholds; with ``labels``, of those the classifier got right
    (the share of right answers that stay answered is what the quantile keeps)."""
    rows = score_parts(model, keypoints, predicted, world)
    if labels is not None:
        rows = rows[np.asarray(predicted) == np.asarray(labels)]
    return rows


def set_thresholds(model: NoveltyModel, rows: np.ndarray, margin: float = THRESHOLD_MARGIN) -> NoveltyModel:
    """The thresholds of ``model`` from calibration score rows (n, S) (:func:`calibration_scores`): ``margin`` times
    their joint ``model.quantile``; the rows are kept on the model as ``calibration``."""
    if len(rows) == 0:
        raise PosenetError("the novelty threshold needs right answers among the calibration poses; there are none")
    model.margin = float(margin)
    thresholds = joint_thresholds(rows, model.quantile) * model.margin
    model.threshold = float(thresholds[0])
    if model.learned is not None:
        model.learned.threshold = max(float(thresholds[1]), MIN_SCALE)
    model.calibration = rows
    return model


def fit_novelty(train_keypoints: np.ndarray, train_labels: np.ndarray, val_keypoints: np.ndarray,
                val_predicted: np.ndarray, torso_multiplier: float, k: int = DEFAULT_K,
                quantile: float = DEFAULT_QUANTILE, val_labels: np.ndarray | None = None,
                yaws: tuple[float, ...] = REFERENCE_YAWS, learned: LearnedSpace | None = None,
                margin: float = THRESHOLD_MARGIN, val_world: np.ndarray | None = None,
                train_world: np.ndarray | None = None) -> NoveltyModel:
    """Reference set from the training poses; threshold = ``quantile`` of the calibration poses' novelty (with
    ``val_labels``, of those the classifier got right: the share of right answers that stay answered). With a
    ``learned`` space (:func:`learned_space`) both scores get thresholds at which that share is under both; each
    threshold is then multiplied by ``margin``."""
    if len(val_keypoints) == 0:
        raise PosenetError("the novelty threshold needs validation poses; the split has none")
    model = novelty_model(train_keypoints, train_labels, torso_multiplier, k, quantile, yaws, learned, train_world)
    return set_thresholds(model, calibration_scores(model, val_keypoints, val_predicted, val_labels, val_world), margin)
