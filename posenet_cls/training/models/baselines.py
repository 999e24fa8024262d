"""Scikit-learn baselines on the same split: SVC on the normalised features, the article's raw-coordinate
SVC(kernel="poly"), a k-NN on MediaPipe's pose embedding (pose-classification example), and the
soft-vote anchor of issue 15 (logistic regression on that embedding + an MLP on x, y and joint angles).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig, mirror, normalize, pose_embedding


def raw_coordinates(keypoints: np.ndarray) -> np.ndarray:
    """The article's input: the (N, 33, 4) landmarks flattened to (N, 132), nothing else."""
    return np.asarray(keypoints, dtype=np.float32).reshape(len(keypoints), -1)


class _Normalized:
    """Picklable callable: raw poses -> :func:`normalize` features with fixed settings."""

    def __init__(self, config: FeatureConfig):
        self.config = config

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        return normalize(keypoints, self.config)


class _PlaneAndAngles:
    """Picklable callable: raw poses -> normalised x, y and the joint angles (cosines) of the coaching module."""

    def __init__(self, config: FeatureConfig):
        self.config = FeatureConfig(config.torso_multiplier, use_z=False, use_visibility=False)

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        from posenet_cls.coaching.angles import joint_angles

        angles = np.stack(list(joint_angles(keypoints).values()), axis=1)
        return np.concatenate([normalize(keypoints, self.config), np.cos(np.deg2rad(np.nan_to_num(angles)))], axis=1)


class MirroredSoftVote(ClassifierMixin, BaseEstimator):
    """The anchor of issue 15: a soft vote of logistic regression on MediaPipe's pose embedding and an MLP on
    normalised x, y and joint angles, both trained on the poses and their mirror images (scikit-learn only)."""

    def __init__(self, features: FeatureConfig = FeatureConfig(), seed: int = 0):
        self.features = features
        self.seed = seed

    def fit(self, keypoints: np.ndarray, y: np.ndarray) -> MirroredSoftVote:
        from sklearn.ensemble import VotingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        x, y = np.concatenate([keypoints, mirror(keypoints)]), np.concatenate([y, y])
        self.vote_ = VotingClassifier([
            ("embedding_lr", make_pipeline(FunctionTransformer(_Normalized(self._embedding())), StandardScaler(),
                                           LogisticRegression(C=1.0, max_iter=2000))),
            ("angles_mlp", make_pipeline(FunctionTransformer(_PlaneAndAngles(self.features)), StandardScaler(),
                                         MLPClassifier((64,), alpha=1e-3, max_iter=600, random_state=self.seed))),
        ], voting="soft").fit(x, y)
        self.classes_ = self.vote_.classes_
        return self

    def _embedding(self) -> FeatureConfig:
        """MediaPipe's pose embedding (:func:`pose_embedding`) as a feature view."""
        return FeatureConfig(self.features.torso_multiplier, view="offsets")

    def predict_proba(self, keypoints: np.ndarray) -> np.ndarray:
        return self.vote_.predict_proba(keypoints)

    def predict(self, keypoints: np.ndarray) -> np.ndarray:
        return self.vote_.predict(keypoints)


class EmbeddingKNN(ClassifierMixin, BaseEstimator):
    """k-NN in the style of MediaPipe's pose-classification example, on raw poses (N, 33, 4).

    Neighbours are picked in two rounds on :func:`pose_embedding`: the ``top_max`` samples with the
    smallest largest-coordinate difference (robust to one wild joint), then among them the ``top_mean``
    with the smallest mean difference, which vote. A query is also compared in its mirror image.
    """

    def __init__(self, features: FeatureConfig = FeatureConfig(), top_max: int = 30, top_mean: int = 10,
                 use_mirror: bool = True):
        self.features = features
        self.top_max = top_max
        self.top_mean = top_mean
        self.use_mirror = use_mirror

    def fit(self, keypoints: np.ndarray, y: np.ndarray) -> EmbeddingKNN:
        self.classes_, self.y_ = np.unique(y, return_inverse=True)
        self.embedding_ = pose_embedding(keypoints, self.features)
        return self

    def _distances(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        queries = [pose_embedding(keypoints, self.features)]
        if self.use_mirror:
            queries.append(pose_embedding(mirror(keypoints), self.features))
        diff = [np.abs(q[:, None, :] - self.embedding_[None, :, :]) for q in queries]
        return np.min([d.max(axis=2) for d in diff], axis=0), np.min([d.mean(axis=2) for d in diff], axis=0)

    def predict_proba(self, keypoints: np.ndarray) -> np.ndarray:
        d_max, d_mean = self._distances(keypoints)
        proba = np.zeros((len(d_max), len(self.classes_)), dtype=np.float64)
        for i in range(len(d_max)):
            short = np.argsort(d_max[i], kind="stable")[: self.top_max]
            best = short[np.argsort(d_mean[i, short], kind="stable")[: self.top_mean]]
            proba[i] = np.bincount(self.y_[best], minlength=len(self.classes_)) / len(best)
        return proba

    def predict(self, keypoints: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(keypoints), axis=1)]


def make_baseline(name: str, features: FeatureConfig, seed: int = 0):
    """An unfitted scikit-learn estimator that takes raw poses (N, 33, 4): 'svc', 'svc-poly', 'knn', 'softvote'
    or 'logreg'."""
    from sklearn.linear_model import LogisticRegression

    if name == "svc":
        return make_pipeline(FunctionTransformer(_Normalized(features)), StandardScaler(),
                             SVC(kernel="rbf", C=10.0, gamma="scale", random_state=seed))
    if name == "svc-poly":
        # The article's recipe, for the record: raw x, y, z, visibility flattened into SVC(kernel="poly").
        return make_pipeline(FunctionTransformer(raw_coordinates), SVC(kernel="poly", random_state=seed))
    if name == "knn":
        return EmbeddingKNN(features)
    if name == "softvote":
        return MirroredSoftVote(features, seed)
    if name == "logreg":  # the plain baseline of issue 28: logistic regression on MediaPipe's pose embedding
        return make_pipeline(FunctionTransformer(_Normalized(FeatureConfig(features.torso_multiplier, view="offsets"))),
                             StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
    raise PosenetError(f"unknown baseline model '{name}'; choose from svc, svc-poly, knn, softvote, logreg")
