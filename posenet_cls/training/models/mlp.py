"""The MLP classifier: a plain ``nn.Module`` on features, and the same with normalisation in front."""

from __future__ import annotations

import torch
from torch import nn

from posenet_cls.features import FeatureConfig
from posenet_cls.training.models.normalize import Normalize


class PoseMLP(nn.Module):
    """Feature vectors (N, D) -> class logits (N, C): Linear-LayerNorm-GELU-Dropout blocks, then Linear."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] | list[int] = (64, 32),
                 dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class PoseClassifier(nn.Module):
    """Raw landmarks (N, 33, 4) float32 -> class logits (N, C): :class:`Normalize` then :class:`PoseMLP`."""

    def __init__(self, num_classes: int, features: FeatureConfig = FeatureConfig(),
                 hidden: tuple[int, ...] | list[int] = (64, 32), dropout: float = 0.2):
        super().__init__()
        self.features = features
        self.model_args = {"hidden": [int(h) for h in hidden], "dropout": float(dropout)}
        self.normalize = Normalize(features)
        self.mlp = PoseMLP(features.dim, num_classes, hidden, dropout)

    @property
    def num_classes(self) -> int:
        """Number of output classes C."""
        return self.mlp.net[-1].out_features

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalize(keypoints))
