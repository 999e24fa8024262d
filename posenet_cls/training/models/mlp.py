"""The MLP classifier: a plain ``nn.Module`` on features, and the same with normalisation in front (one MLP, or an
ensemble of MLPs on different features, optionally averaged over the pose and its mirror image)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, mirror_permutation
from posenet_cls.training.models.normalize import Normalize, WorldView


NORMS = ("layer", "batch", "none")  # the normalisation layer after each hidden Linear: LayerNorm, BatchNorm1d, none


def _norm_layer(norm: str, width: int) -> list[nn.Module]:
    """The normalisation layer of a hidden block (none for "none")."""
    if norm == "layer":
        return [nn.LayerNorm(width)]
    if norm == "batch":
        return [nn.BatchNorm1d(width)]
    if norm == "none":
        return []
    raise PosenetError(f"unknown norm '{norm}' (choose from {', '.join(NORMS)})")


class PoseMLP(nn.Module):
    """Feature vectors (N, D) -> class logits (N, C): Linear-norm-GELU-Dropout blocks (norm: LayerNorm, BatchNorm or
    none), then Linear."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] | list[int] = (64, 32),
                 dropout: float = 0.2, norm: str = "layer"):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), *_norm_layer(norm, h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def eval_layers(net: nn.Sequential) -> list[nn.Module]:
    """The layers of a trained ``net`` as eval mode computes them: each BatchNorm1d folded into the Linear before it
    (its running statistics are constants then) and dropout left out; copies, ``net`` is not changed."""
    layers: list[nn.Module] = []
    for m in net:
        if isinstance(m, nn.Dropout):
            continue
        if isinstance(m, nn.BatchNorm1d) and layers and isinstance(layers[-1], nn.Linear):
            linear = layers[-1]
            scale = m.weight.detach() / torch.sqrt(m.running_var + m.eps)
            folded = nn.Linear(linear.in_features, linear.out_features)
            with torch.no_grad():
                folded.weight.copy_(linear.weight.detach() * scale[:, None])
                folded.bias.copy_((linear.bias.detach() - m.running_mean) * scale + m.bias.detach())
            layers[-1] = folded
            continue
        layers.append(m)
    return layers


class Mirror(nn.Module):
    """Raw poses (N, 33, 4) seen in a mirror, as :func:`posenet_cls.features.mirror`: x -> 1 - x, left and right swapped."""

    def __init__(self):
        super().__init__()
        flat = (mirror_permutation()[:, None] * NUM_CHANNELS + np.arange(NUM_CHANNELS)[None]).ravel()
        x = np.zeros((NUM_LANDMARKS, NUM_CHANNELS), np.float32)
        x[:, 0] = 1.0
        self.register_buffer("order", torch.from_numpy(flat.astype(np.int64)), persistent=False)
        self.register_buffer("sign", torch.from_numpy(1.0 - 2.0 * x.ravel()), persistent=False)
        self.register_buffer("shift", torch.from_numpy(x.ravel()), persistent=False)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        flat = torch.index_select(torch.flatten(keypoints, start_dim=1), 1, self.order)
        return (flat * self.sign + self.shift).reshape(keypoints.shape)


def feature_view(config: FeatureConfig) -> nn.Module:
    """The torch module of a feature view: :class:`WorldView` (world landmarks) or :class:`Normalize` (image)."""
    return WorldView() if config.reads_world else Normalize(config)


class PoseClassifier(nn.Module):
    """Raw landmarks (N, 33, 4) float32 (and world landmarks (N, 33, 3) when a member reads them) -> class logits
    (N, C): each member's feature view (:class:`Normalize` or :class:`WorldView`) then :class:`PoseMLP`.

    With several feature ``members`` it is an ensemble, one MLP per member's features: its logits are the
    log of the members' mean probabilities (so a softmax on top gives that mean). With ``mirror_average``
    a pose and its mirror image are both classified and their probabilities averaged (in eval mode).
    Training takes each member's own logits (:meth:`member_logits`), so members learn independently.
    """

    def __init__(self, num_classes: int, features: FeatureConfig = FeatureConfig(),
                 hidden: tuple[int, ...] | list[int] = (64, 32), dropout: float = 0.2,
                 members: list[FeatureConfig | dict] | None = None, mirror_average: bool = False,
                 norm: str = "layer"):
        super().__init__()
        configs = [m if isinstance(m, FeatureConfig) else FeatureConfig.from_dict(m) for m in members or []] or [features]
        if mirror_average and any(c.reads_world for c in configs):
            raise PosenetError("mirror averaging is for image views; the world view is the same in a mirror's "
                               "left-right swap by training (mirror augmentation)")
        self.members = tuple(configs)
        self.features = configs[0]
        self.mirror_average = bool(mirror_average)
        self.model_args = {"hidden": [int(h) for h in hidden], "dropout": float(dropout)}
        if norm != "layer":  # models saved before the choice existed have LayerNorm and no "norm"
            self.model_args["norm"] = norm
        if len(configs) > 1 or mirror_average:
            self.model_args.update(members=[c.to_dict() for c in configs], mirror_average=self.mirror_average)
        self.normalizers = nn.ModuleList(feature_view(c) for c in configs)
        self.mlps = nn.ModuleList(PoseMLP(c.dim, num_classes, hidden, dropout, norm) for c in configs)
        self.mirror = Mirror() if mirror_average else None

    @property
    def num_classes(self) -> int:
        """Number of output classes C."""
        return self.mlps[0].net[-1].out_features

    @property
    def reads_world(self) -> bool:
        """Whether a member reads the world landmarks (the second input)."""
        return any(c.reads_world for c in self.members)

    def member_logits(self, keypoints: torch.Tensor, world: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each member's logits (N, C) of the poses as given."""
        if world is None and self.reads_world:
            raise PosenetError("this model reads world landmarks (N, 33, 3) too; none were given")
        return [mlp(view(world if config.reads_world else keypoints))
                for config, view, mlp in zip(self.members, self.normalizers, self.mlps)]

    def forward(self, keypoints: torch.Tensor, world: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.member_logits(keypoints, world)
        if len(logits) == 1 and (self.mirror is None or self.training):
            return logits[0]
        if self.mirror is not None and not self.training:
            logits += self.member_logits(self.mirror(keypoints))
        return average_logits(logits)


def average_logits(logits: list[torch.Tensor]) -> torch.Tensor:
    """Several classifiers' logits (N, C) -> the log of their mean probabilities (a softmax on it gives the mean)."""
    probabilities = torch.stack([torch.softmax(z, dim=-1) for z in logits]).mean(0)
    return torch.log(probabilities.clamp_min(1e-12))
