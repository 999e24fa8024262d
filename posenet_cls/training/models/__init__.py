"""Pose classifiers: the MLP (torch, exported to ONNX) and the scikit-learn baselines."""

from posenet_cls.training.models.mlp import PoseClassifier, PoseMLP

MODEL_NAMES = ("mlp", "svc", "svc-poly", "knn", "softvote", "logreg")

__all__ = ["MODEL_NAMES", "PoseClassifier", "PoseMLP"]
