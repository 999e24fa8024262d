"""The torch twin of :func:`posenet_cls.features.normalize`, the first layer of every exported model."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from posenet_cls.features import EPS, FeatureConfig, normalize_matrices, offset_matrix
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS


class Normalize(nn.Module):
    """Torch twin of :func:`posenet_cls.features.normalize`: raw poses (N, 33, 4) -> features (N, D), either view;
    ONNX-exportable.

    The same formula written as products of the flat (N, 132) pose with constant matrices (mid-hip,
    mid-shoulder, per-landmark x^2 + y^2), so the graph has no broadcasts over the landmark axis:
    onnxruntime runs it about 4x faster than the element-wise form, and OpenCV's DNN runs it too.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        self.config = config
        offsets = config.view == "offsets"  # normalised x, y, z, then one more constant product
        matrices = normalize_matrices(replace(config, use_z=True, use_visibility=False) if offsets else config)
        self.select = len(matrices["columns"]) != NUM_LANDMARKS * NUM_CHANNELS
        for name, value in matrices.items():
            self.register_buffer(name, torch.from_numpy(value), persistent=False)
        self.register_buffer("offsets", torch.from_numpy(offset_matrix(config.z_weight)) if offsets else None,
                             persistent=False)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        flat = torch.flatten(keypoints, start_dim=1)  # (N, 132), landmark-major
        centred = flat - torch.matmul(torch.matmul(flat, self.hip_center), self.tile)
        dist2 = torch.matmul(centred * centred, self.image_plane)  # (N, 33)
        shoulder = torch.matmul(centred, self.shoulder_center)  # (N, 2)
        torso2 = torch.sum(shoulder * shoulder, dim=1, keepdim=True) * (self.config.torso_multiplier**2)
        size = torch.sqrt(torch.maximum(torso2, torch.amax(dist2, dim=1, keepdim=True)))  # (N, 1)
        features = centred * (torch.matmul(1.0 / torch.clamp(size, min=EPS), self.coords) + self.visibility)
        features = torch.index_select(features, 1, self.columns) if self.select else features
        return features if self.offsets is None else torch.matmul(features, self.offsets)
