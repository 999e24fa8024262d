"""The torch twins of the feature views, the first layer of every exported model: :class:`Normalize`
(:func:`posenet_cls.features.normalize`, image landmarks) and :class:`WorldView`
(:func:`posenet_cls.features.world_view`, world landmarks in the body frame)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from posenet_cls.features import EMBEDDING_PAIRS, EPS, HIPS, SHOULDERS, FeatureConfig, normalize_matrices, offset_matrix
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


class WorldView(nn.Module):
    """Torch twin of :func:`posenet_cls.features.world_view`: world landmarks (N, 33, 3) -> (N, 99 + 66) features
    in the body's frame (centred between the hips, yaw taken out, torso-scaled); ONNX-exportable (no atan2:
    the turn is the unit vector of the hips-plus-shoulders line in the x-z plane)."""

    def __init__(self, offsets: bool = True):
        super().__init__()
        self.with_offsets = offsets  # False: the body-frame coordinates (N, 99) only (the novelty score's body space)
        pairs = torch.tensor([[int(a), int(b)] for a, b in EMBEDDING_PAIRS], dtype=torch.int64)
        self.register_buffer("first", pairs[:, 0].contiguous(), persistent=False)
        self.register_buffer("second", pairs[:, 1].contiguous(), persistent=False)

    def forward(self, world: torch.Tensor) -> torch.Tensor:
        hips = (world[:, HIPS[0]] + world[:, HIPS[1]]) / 2  # (N, 3)
        left_right = world[:, HIPS[0]] - world[:, HIPS[1]] + world[:, SHOULDERS[0]] - world[:, SHOULDERS[1]]
        lx, lz = left_right[:, 0:1], left_right[:, 2:3]
        length = torch.sqrt(lx * lx + lz * lz + EPS * EPS)
        cos, sin = lx / length, lz / length
        p = world - hips[:, None, :]
        px, py, pz = p[..., 0], p[..., 1], p[..., 2]
        turned = torch.stack([cos * px + sin * pz, py, cos * pz - sin * px], dim=-1)  # (N, 33, 3)
        shoulders = (world[:, SHOULDERS[0]] + world[:, SHOULDERS[1]]) / 2 - hips
        torso = torch.sqrt(torch.sum(shoulders * shoulders, dim=1, keepdim=True) + EPS * EPS)
        frame = turned / torso[:, :, None]
        if not self.with_offsets:
            return torch.flatten(frame, start_dim=1)
        offsets = torch.index_select(frame, 1, self.first) - torch.index_select(frame, 1, self.second)
        return torch.cat([torch.flatten(frame, start_dim=1), torch.flatten(offsets, start_dim=1)], dim=1)
