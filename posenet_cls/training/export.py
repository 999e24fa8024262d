"""Export a trained pose classifier to ONNX: raw landmarks in, class probabilities out, metadata inside.

The graph's input is ``landmarks`` float32 ``(batch, 33, 4)``, raw BlazePose landmarks as MediaPipe
returns them (the normalisation is part of the graph), and its output ``probabilities`` float32
``(batch, C)`` (softmax inside the graph). The ONNX metadata key ``posenet_cls`` holds JSON with
the class names, schema version, normalisation settings, "unknown" threshold and landmark names,
which :class:`posenet_cls.runtime.PoseRuntime` reads back. The novelty head is a second, small ONNX
graph ((landmarks, probabilities) -> novelty (batch,)) kept under the metadata key
``posenet_cls.novelty`` (base64), so the classifier graph itself has no branch, flag or extra output.
"""

from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_cls.io.files import atomic_path
from posenet_cls.errors import PosenetError
from posenet_cls.training.novelty import NoveltyModel
from posenet_cls.training.novelty import score as score_novelty
from posenet_cls.runtime import (INPUT_NAME, METADATA_KEY, NOVELTY_FLAG, NOVELTY_GRAPH_KEY, NOVELTY_OUTPUT,
                                 OUTPUT_NAME, WORLD_NAME)
from posenet_cls.features import EMBEDDING_PAIRS, EPS, check_world
from posenet_cls.schema import LANDMARK_NAMES, NUM_CHANNELS, NUM_LANDMARKS, NUM_WORLD_CHANNELS, SCHEMA_VERSION

OPSET = 17
PARITY_TOLERANCE = 1e-5  # max abs difference on probabilities, onnxruntime vs torch
NOVELTY_TOLERANCE = 1e-3  # novelty, float32 graph vs float64 numpy (about 1e-5 on yoga8's poses, the training poses
# among them); thresholds are about 5, so 1e-3 is 0.02% of one
NOVELTY_PENALTY = 1e4  # squared distance added to references of other classes: far beyond any real pose
# Top probability under which predict answers "unknown": the best class must be more probable than
# all the others together. On yoga8's cross-validated out-of-fold probabilities it is the knee of the
# trade-off (scripts/train_default_model.py prints the table): it keeps 98.7% of the right answers
# and rejects 40% of the wrong ones; higher thresholds lose right answers faster than wrong ones.
DEFAULT_UNKNOWN_THRESHOLD = 0.5


@dataclass
class ExportReport:
    """What an export wrote and how closely onnxruntime matched torch on real poses."""

    path: str
    classes: list[str]
    poses_checked: int
    max_abs_diff: float
    same_top_class: bool
    size_bytes: int
    novelty_max_abs_diff: float | None = None  # the novelty head against numpy; None without one


def build_metadata(
    classes: list[str], features: dict, unknown_threshold: float, extra: dict | None = None, world: bool = False
) -> dict:
    """The ``posenet_cls`` metadata of an exported model (JSON-serialisable); ``world``: it reads world landmarks."""
    meta = {
        "classes": list(classes),
        "schema_version": SCHEMA_VERSION,
        "features": features,
        "unknown_threshold": float(unknown_threshold),
        "landmarks": list(LANDMARK_NAMES),
        "input": {"name": INPUT_NAME, "shape": ["batch", NUM_LANDMARKS, NUM_CHANNELS], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(classes)], "softmax": True},
    }
    if world:
        meta["world"] = world_input()
    meta.update(extra or {})
    json.dumps(meta)  # fail here, not in a runtime, if something is not JSON
    return meta


def world_input() -> dict:
    """The metadata entry that tells a runtime reading metadata only (the browser) to feed world landmarks."""
    return {"name": WORLD_NAME, "shape": ["batch", NUM_LANDMARKS, NUM_WORLD_CHANNELS], "dtype": "float32"}


def _with_softmax(model):
    """Wrap a logits model so the exported graph ends in a softmax."""
    import torch

    class _Probabilities(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, landmarks: torch.Tensor, world: torch.Tensor | None = None) -> torch.Tensor:
            return torch.softmax(self.inner(landmarks, world), dim=-1)

    return _Probabilities(model).eval()


def _const(a: np.ndarray):
    """A float32 torch tensor of a numpy array, for a graph constant."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _folded(model):
    """The export form of a :class:`PoseClassifier`: each member's Normalize folded into its first Linear layer.

    features = centred * (coords / size + visibility) (then, for the offsets view, one more constant product),
    so first(features) = (flat @ A) / size + flat @ B + bias, with A and B the centring, column choice, offsets
    and layer weights multiplied into two constants (B, the visibility's part, is left out when it is zero, as for
    the offsets view); the size comes from flat @ D (centred x, y of every landmark and the scaled mid-shoulder)
    as one product, a sum of pairs and a max. A mirrored copy of a member
    (mirror averaging) is the same with the mirror's signed permutation multiplied in: x -> 1 - x loses its
    1 in the centring. Fewer, larger products than the trained form: about a fifth faster for one pose in
    onnxruntime. A member on the world view keeps its :class:`WorldView` and reads the world landmarks. Any other
    model is returned as it is.
    """
    import torch

    from posenet_cls.training.models.mlp import Mirror, PoseClassifier, average_logits, eval_layers

    if not isinstance(model, PoseClassifier) or not all(isinstance(m.net[0], torch.nn.Linear) for m in model.mlps):
        return model
    n = NUM_LANDMARKS * NUM_CHANNELS
    flip = Mirror()  # out[:, i] = flat[:, order[i]] * sign[i] + shift[i]; centring removes the shift
    mirrored = np.zeros((n, n))
    mirrored[flip.order.numpy(), np.arange(n)] = flip.sign.numpy()
    class _Folded(torch.nn.Module):
        def __init__(self, normalize, mlp, pre: np.ndarray):
            super().__init__()
            layers = eval_layers(mlp.net)  # BatchNorm folded into its Linear, no dropout
            config, first = normalize.config, layers[0]
            m = {k: getattr(normalize, k).numpy().astype(np.float64) for k in ("hip_center", "tile", "image_plane",
                                                                               "shoulder_center", "coords", "columns")}
            centre = pre @ (np.eye(n) - m["hip_center"] @ m["tile"])  # flat -> centred (N, 132)
            w = first.weight.detach().double().numpy().T  # (features, hidden)
            if normalize.offsets is not None:
                w = normalize.offsets.numpy().astype(np.float64) @ w
            weight = np.zeros((n, first.out_features))
            weight[m["columns"].astype(np.int64)] = w
            coords = m["coords"][0]
            xy = np.stack([m["image_plane"][:, j].nonzero()[0] for j in range(NUM_LANDMARKS)]).ravel()  # x0, y0, ...
            size = np.concatenate([centre[:, xy], centre @ m["shoulder_center"] * config.torso_multiplier], axis=1)
            passed = pre @ ((1.0 - coords)[:, None] * weight)  # visibility, unscaled: zero for views without it
            self.register_buffer("scaled", _const(centre @ (coords[:, None] * weight)))
            self.register_buffer("passed", _const(passed) if np.abs(passed).max() > 0 else None)
            self.register_buffer("bias", first.bias.detach().clone())
            self.register_buffer("size", _const(size))
            self.register_buffer("pairs", _const(np.kron(np.eye(size.shape[1] // 2), np.ones((2, 1)))))
            self.rest = torch.nn.Sequential(*layers[1:])

        def forward(self, flat: torch.Tensor) -> torch.Tensor:
            u = flat @ self.size
            size2 = torch.amax((u * u) @ self.pairs, dim=1, keepdim=True)  # max(torso^2 * m^2, farthest^2)
            inverse = torch.rsqrt(torch.clamp(size2, min=EPS * EPS))
            if self.passed is None:
                first_layer = inverse * (flat @ self.scaled) + self.bias
            else:
                first_layer = inverse * (flat @ self.scaled) + torch.nn.functional.linear(flat, self.passed.T, self.bias)
            return self.rest(first_layer)

    class _World(torch.nn.Module):
        """A world-view member folded like the image ones: the turn, the scale and the pair offsets multiplied into
        the first layer (:func:`world_first_layer`), so the graph is one product, two norms and a few products."""

        def __init__(self, mlp):
            super().__init__()
            layers = eval_layers(mlp.net)
            first = layers[0]
            matrix, norms = world_first_layer(first.weight.detach().double().numpy())
            self.register_buffer("matrix", _const(matrix))
            self.register_buffer("norms", _const(norms))
            self.register_buffer("bias", first.bias.detach().clone())
            self.hidden = first.out_features
            self.rest = torch.nn.Sequential(*layers[1:])

        def forward(self, world: torch.Tensor) -> torch.Tensor:
            v = torch.flatten(world, start_dim=1) @ self.matrix
            inverse = torch.pow((v * v) @ self.norms + EPS * EPS, -0.5)  # 1 / line length, 1 / torso (body_frame's)
            h = self.hidden
            along, across, up, lx, lz, _ = torch.split(v, [h, h, h, 1, 1, 3], dim=1)
            per_length, per_torso = torch.split(inverse, [1, 1], dim=1)
            return self.rest(((lx * along + lz * across) * per_length + up) * per_torso + self.bias)

    pres = [np.eye(n)] + ([mirrored] if model.mirror_average else [])
    members = [_World(mlp) if config.reads_world else _Folded(nz, mlp, pre)
               for pre in pres for config, nz, mlp in zip(model.members, model.normalizers, model.mlps)]

    class _Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, landmarks: torch.Tensor, world: torch.Tensor | None = None) -> torch.Tensor:
            flat = torch.flatten(landmarks, start_dim=1)
            logits = [member(world) if isinstance(member, _World) else member(flat) for member in self.members]
            return logits[0] if len(logits) == 1 else average_logits(logits)

    return _Model().eval()


def world_first_layer(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The world view and a first Linear layer (weight (H, 165)) as constants on flat world landmarks (N, 99).

    With p the landmarks less the mid-hip, (lx, lz) the right-to-left line of hips plus shoulders, t the mid-hip to
    mid-shoulder vector and W the layer's weight with the pair offsets multiplied in (one row block per axis), the
    layer before its bias is ((lx * p.(Wx, Wz) + lz * p.(Wz, -Wx)) / |(lx, lz)| + p_y Wy) / |t|: ``matrix``
    (99, 3H + 5) gives the three products, (lx, lz) and t; ``norms`` (3H + 5, 2) sums their squares.
    """
    from posenet_cls.features import HIPS, SHOULDERS, WORLD_DIM

    n = NUM_LANDMARKS * 3
    frame_to_features = np.zeros((n, WORLD_DIM))
    frame_to_features[:, :n] = np.eye(n)
    for j, (a, b) in enumerate(EMBEDDING_PAIRS):
        for c in range(3):
            frame_to_features[3 * int(a) + c, n + 3 * j + c] += 1.0
            frame_to_features[3 * int(b) + c, n + 3 * j + c] -= 1.0
    w = frame_to_features @ weight.T  # (99, H): the layer on body-frame coordinates
    centre = np.eye(n)
    for hip in HIPS:
        for c in range(3):
            centre[3 * hip + c, c::3] -= 0.5  # p = world - mid-hip, per axis
    axis = [centre[:, c::3] for c in range(3)]  # (99, 33) each: flat -> p_x, p_y, p_z
    wx, wy, wz = w[0::3], w[1::3], w[2::3]
    line = np.zeros((n, 2))
    torso = np.zeros((n, 3))
    for left, right in (HIPS, SHOULDERS):
        for column, c in enumerate((0, 2)):  # x and z
            line[3 * left + c, column] += 1.0
            line[3 * right + c, column] -= 1.0
    for c in range(3):
        for s in SHOULDERS:
            torso[3 * s + c, c] += 0.5
        for h in HIPS:
            torso[3 * h + c, c] -= 0.5
    matrix = np.concatenate([axis[0] @ wx + axis[2] @ wz, axis[2] @ wx - axis[0] @ wz, axis[1] @ wy, line, torso], axis=1)
    norms = np.zeros((matrix.shape[1], 2))
    hidden = weight.shape[0]
    norms[3 * hidden:3 * hidden + 2, 0] = 1.0
    norms[3 * hidden + 2:, 1] = 1.0
    return matrix, norms


def torch_probabilities(model, poses: np.ndarray, world: np.ndarray | None = None) -> np.ndarray:
    """Probabilities (N, C) of a torch logits model on raw poses (N, 33, 4) (and world landmarks (N, 33, 3) for one
    that reads them), in eval mode."""
    import torch

    w = None if world is None else torch.from_numpy(np.ascontiguousarray(world, dtype=np.float32))
    with torch.inference_mode():
        return _with_softmax(model.eval())(torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float32)), w).numpy()


def export_model(
    model,
    classes: list[str],
    features: dict,
    out: str | Path,
    check_poses: np.ndarray,
    unknown_threshold: float = DEFAULT_UNKNOWN_THRESHOLD,
    extra_metadata: dict | None = None,
    novelty: NoveltyModel | None = None,
    check_world: np.ndarray | None = None,
) -> ExportReport:
    """Write ``model`` (raw (N, 33, 4) -> logits (N, C)) as ONNX, check it, and compare onnxruntime with torch.

    A model that reads world landmarks gets the second input ``world`` (batch, 33, 3); ``check_world`` are the
    check poses' world landmarks. With ``novelty``, the file also carries the novelty head, a second graph under
    the metadata key ``posenet_cls.novelty``; the classifier graph is the same with or without it, so plain
    classification costs nothing more.
    """
    import onnx
    import torch

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise PosenetError(f"{out}: the output file must end in .onnx")
    check_poses = np.ascontiguousarray(check_poses, dtype=np.float32)
    if check_poses.ndim != 3 or check_poses.shape[1:] != (NUM_LANDMARKS, NUM_CHANNELS) or len(check_poses) == 0:
        raise PosenetError(f"parity check needs real poses of shape (N, 33, 4), got {check_poses.shape}")
    reads_world = bool(getattr(model, "reads_world", False))
    world = check_world_input(check_world, len(check_poses), out) if reads_world else None
    if novelty is not None:
        extra_metadata = {**(extra_metadata or {}), "novelty": {**novelty.settings(), "output": NOVELTY_OUTPUT,
                                                                "graph": NOVELTY_GRAPH_KEY}}
    meta = build_metadata(classes, features, unknown_threshold, extra_metadata, world=reads_world)
    wrapped = _with_softmax(_folded(model.eval()))
    expected = torch_probabilities(model, check_poses, world)
    inputs = [INPUT_NAME] + ([WORLD_NAME] if reads_world else [])
    example = tuple(torch.from_numpy(a[:2]) for a in ([check_poses] + ([world] if reads_world else [])))
    if expected.shape[1] != len(classes):
        raise PosenetError(f"the model gives {expected.shape[1]} outputs but has {len(classes)} class names")
    with atomic_path(out) as tmp:  # appears only when it passes every check below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; onnxscript is not installed
            torch.onnx.export(
                wrapped,
                example,
                str(tmp),
                dynamo=False,
                input_names=inputs,
                output_names=[OUTPUT_NAME],
                dynamic_axes={**{name: {0: "batch"} for name in inputs}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
            )
        proto = onnx.load(str(tmp))
        keep_landmarks_input(proto)
        proto.doc_string = ("posenet_cls pose classifier: raw BlazePose landmarks (batch, 33, 4)"
                            + (" and world landmarks (batch, 33, 3)" if reads_world else "") + " -> class probabilities")
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
        if novelty is not None:
            head = proto.metadata_props.add()
            head.key, head.value = NOVELTY_GRAPH_KEY, base64.b64encode(novelty_graph(novelty, len(classes))).decode()
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as e:
            raise PosenetError(f"{out}: the exported graph fails the ONNX checker ({str(e).splitlines()[0]})") from None
        onnx.save(proto, str(tmp))
        diff, novelty_diff, same_top = _parity(tmp, check_poses, expected, novelty, world)
        if diff > PARITY_TOLERANCE:
            raise PosenetError(
                f"{out}: onnxruntime differs from torch by {diff:.2e} on probabilities (tolerance {PARITY_TOLERANCE:g}); not written"
            )
        if novelty_diff is not None and novelty_diff > NOVELTY_TOLERANCE:
            raise PosenetError(f"{out}: the graph's novelty differs from numpy's by {novelty_diff:.2e} "
                               f"(tolerance {NOVELTY_TOLERANCE:g}); not written")
    return ExportReport(str(out), list(classes), len(check_poses), diff, same_top, out.stat().st_size, novelty_diff)


def check_world_input(world: np.ndarray | None, n: int, out: Path) -> np.ndarray:
    """The check poses' world landmarks for a model that reads them, or a one-line error naming the file (a function
    of its own: ``export_model``'s ``check_world`` argument hides :func:`posenet_cls.features.check_world` there)."""
    return np.ascontiguousarray(check_world(world, n, f"{out}: the parity check of a model on world landmarks"))


def _parity(path: Path, poses: np.ndarray, expected: np.ndarray, novelty: NoveltyModel | None,
            world: np.ndarray | None = None) -> tuple[float, float | None, bool]:
    """Max abs differences onnxruntime vs torch (probabilities) and vs numpy (novelty; None without), and whether the
    top classes agree."""
    from posenet_cls.runtime import PoseRuntime

    runtime = PoseRuntime(path, providers=["CPUExecutionProvider"])
    each = [None] * len(poses) if world is None else world
    batch = runtime.probabilities(poses, world)
    single = np.stack([runtime.pose_probabilities(p, w).copy() for p, w in zip(poses[:64], each)])
    diff = max(float(np.abs(batch - expected).max()), float(np.abs(single - expected[:64]).max()))
    novelty_diff = None
    if novelty is not None:
        probs, scores = runtime.scores(poses, world)
        reference = score_novelty(novelty, poses, probs.argmax(1), world)
        single = np.array([runtime.pose_scores(p, w)[1] for p, w in zip(poses[:64], each)])
        novelty_diff = max(float(np.abs(scores - reference).max()), float(np.abs(single - reference[:64]).max()))
    return diff, novelty_diff, bool((batch.argmax(1) == expected.argmax(1)).all())


def _novelty_head(novelty: NoveltyModel, num_classes: int):
    """A torch module (landmarks (N, 33, 4), probabilities (N, C)) -> novelty (N,), the graph form of novelty.score."""
    import torch

    from posenet_cls.features import FeatureConfig
    from posenet_cls.training.models.mlp import feature_view
    from posenet_cls.training.models.normalize import Normalize, WorldView

    class _Distance(torch.nn.Module):
        """Mean distance to the k nearest references of the predicted class, over that class's scale."""

        def __init__(self, reference: np.ndarray, labels: np.ndarray, scale: np.ndarray, penalty: float):
            super().__init__()
            # Distances do not change when both sides move by the references' mean; float32 round-off shrinks.
            reference = np.asarray(reference, np.float64)
            self.register_buffer("centre", _const(reference.mean(0)))
            ref = _const(reference - reference.mean(0))
            self.register_buffer("ref_t", ref.T.contiguous())  # (D, R)
            self.dim = ref.shape[1]
            # Per predicted class, |r|^2 plus the penalty on the references of the other classes
            other = torch.arange(num_classes)[:, None] != torch.from_numpy(np.asarray(labels))[None, :]
            self.register_buffer("offset", other.float() * penalty + (ref * ref).sum(1))
            self.penalty = penalty
            self.register_buffer("scale", _const(scale))

        def forward(self, f: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
            f = f - self.centre
            # |f - r|^2 less |f|^2 (the same for every reference), plus the penalty: enough to rank by
            rank = predicted @ self.offset - 2.0 * (f @ self.ref_t)
            ranked, index = torch.topk(rank, novelty.k, dim=1, largest=False)  # (N, k)
            # The k distances again, from the differences: the expanded form cancels in float32 near 0 (a pose on
            # top of a reference), and the square root magnifies that. A penalised one stays as ranked.
            near = torch.index_select(self.ref_t, 1, index.reshape(-1)).reshape(self.dim, -1, novelty.k)
            diff = near.permute(1, 2, 0) - f[:, None, :]  # (N, k, D)
            nearest = torch.where(ranked > 0.5 * self.penalty, ranked, (diff * diff).sum(2))
            return nearest.sqrt().mean(1) / (predicted @ self.scale)

    def hidden(space) -> torch.nn.Module:
        """The classifier up to its last hidden layer, from the learned space's arrays."""
        modules: list[torch.nn.Module] = [feature_view(FeatureConfig.from_dict(space.features))]
        for kind, w in space.layers:
            if kind == "linear":
                m = torch.nn.Linear(w["weight"].shape[1], w["weight"].shape[0])
            elif kind == "layernorm":
                m = torch.nn.LayerNorm(len(w["weight"]))
            else:
                m = torch.nn.GELU()
            if w:
                with torch.no_grad():
                    m.weight.copy_(_const(w["weight"]))
                    m.bias.copy_(_const(w["bias"]))
            modules.append(m)
        return torch.nn.Sequential(*modules)

    class _Novelty(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = novelty.space == "body"  # the pose score in the world body frame, not the image plane
            self.normalize = WorldView(offsets=False) if self.body else Normalize(
                FeatureConfig(novelty.torso_multiplier, use_z=False, use_visibility=False))
            self.pose = _Distance(novelty.reference, novelty.labels, novelty.scale, NOVELTY_PENALTY)
            learned = novelty.learned
            self.hidden = None if learned is None else hidden(learned)
            self.reads_world, self.learned_world = novelty.reads_world, learned is not None and learned.reads_world
            if learned is not None:
                bound = float(np.abs(learned.reference).max()) ** 2 * learned.reference.shape[1]
                self.learned = _Distance(learned.reference, learned.labels, learned.scale, NOVELTY_PENALTY * max(bound, 1.0))
                self.rescale = novelty.threshold / learned.threshold

        def forward(self, landmarks: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
            world, probabilities = rest if self.reads_world else (None, rest[0])  # inputs: head_inputs(novelty)
            predicted = torch.nn.functional.one_hot(probabilities.argmax(1), num_classes).float()
            out = self.pose(self.normalize(world if self.body else landmarks), predicted)
            if self.hidden is not None:
                embedded = self.hidden(world if self.learned_world else landmarks)
                out = torch.maximum(out, self.learned(embedded, predicted) * self.rescale)
            return out

    return _Novelty().eval()


def keep_landmarks_input(proto) -> None:
    """Give a graph that does not read the image landmarks (a world-view classifier or novelty head: the exporter
    drops unused inputs) its ``landmarks`` input back, so every model takes the same feeds."""
    from onnx import TensorProto, helper

    if INPUT_NAME not in [i.name for i in proto.graph.input]:
        proto.graph.input.insert(0, helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                                                  ["batch", NUM_LANDMARKS, NUM_CHANNELS]))


def head_inputs(novelty: NoveltyModel) -> list[str]:
    """The novelty head's inputs: landmarks, world landmarks when a score reads them, probabilities."""
    return [INPUT_NAME] + ([WORLD_NAME] if novelty.reads_world else []) + [OUTPUT_NAME]


def novelty_graph(novelty: NoveltyModel, num_classes: int) -> bytes:
    """The novelty head as a serialised ONNX model: (landmarks (N, 33, 4)[, world (N, 33, 3)], probabilities (N, C))
    -> novelty (N,)."""
    import io

    import onnx
    import torch

    head = _novelty_head(novelty, num_classes)
    names = head_inputs(novelty)
    shapes = {INPUT_NAME: (2, NUM_LANDMARKS, NUM_CHANNELS), WORLD_NAME: (2, NUM_LANDMARKS, NUM_WORLD_CHANNELS)}
    example = tuple(torch.zeros(shapes[name]) if name in shapes else torch.full((2, num_classes), 1.0 / num_classes)
                    for name in names)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(head, example, buffer, dynamo=False, input_names=names, output_names=[NOVELTY_OUTPUT],
                          dynamic_axes={**{name: {0: "batch"} for name in names}, NOVELTY_OUTPUT: {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    keep_landmarks_input(proto)
    return proto.SerializeToString()


def graft_novelty(proto, head: bytes) -> None:
    """Put the novelty head into ``proto``'s graph behind an If on the required float input ``with_novelty``.

    For runtimes that open one graph only (onnxruntime-web): ``novelty`` (N,) is computed when the
    input is over 0.5 and is zeros otherwise. The Python runtime runs the head as its own session instead.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    branch = onnx.load_from_string(head).graph
    outer = {INPUT_NAME, WORLD_NAME, OUTPUT_NAME}  # read from the main graph's scope

    def rename(name: str) -> str:
        return name if not name or name in outer else f"novelty/{name}"

    for node in branch.node:
        node.name = rename(node.name or node.output[0])
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for init in branch.initializer:
        init.name = rename(init.name)
    then_graph = helper.make_graph(list(branch.node), "novelty", [], [
        helper.make_tensor_value_info(rename(NOVELTY_OUTPUT), TensorProto.FLOAT, ["batch"])], list(branch.initializer))
    zeros = [  # the else branch: zeros (N,), so the output always has one value per pose
        helper.make_node("Shape", [INPUT_NAME], ["no_novelty/shape"], start=0, end=1),
        helper.make_node("ConstantOfShape", ["no_novelty/shape"], ["no_novelty/zeros"],
                         value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
    ]
    else_graph = helper.make_graph(zeros, "no_novelty", [], [
        helper.make_tensor_value_info("no_novelty/zeros", TensorProto.FLOAT, ["batch"])])
    graph = proto.graph
    # The flag is a float (OpenCV's DNN reads no boolean tensors): the branch runs when it is over 0.5.
    graph.node.append(helper.make_node("Greater", [NOVELTY_FLAG, "novelty/half"], ["novelty/cond"], name="novelty/flag"))
    graph.node.append(helper.make_node("If", ["novelty/cond"], [NOVELTY_OUTPUT], name="novelty_if",
                                       then_branch=then_graph, else_branch=else_graph))
    graph.input.append(helper.make_tensor_value_info(NOVELTY_FLAG, TensorProto.FLOAT, []))
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "novelty/half"))
    graph.output.append(helper.make_tensor_value_info(NOVELTY_OUTPUT, TensorProto.FLOAT, ["batch"]))


def export_run(
    run_dir: str | Path, out: str | Path, table: str | Path | None = None, unknown_threshold: float | None = None,
    novelty: bool = True,
) -> ExportReport:
    """Export ``RUN_DIR/model.ckpt``; parity is checked on the run's own keypoint table (or ``table``).

    ``novelty`` False leaves the run's novelty model out of the file (the classifier graph is the same).
    """
    from posenet_cls.training.checkpoint import load_checkpoint_full
    from posenet_cls.data.table import read_table

    run_dir = Path(run_dir)
    ckpt = run_dir / "model.ckpt" if run_dir.is_dir() else run_dir
    if run_dir.is_dir() and not ckpt.is_file():
        found = sorted(p.name for p in run_dir.iterdir() if p.suffix in (".ckpt", ".joblib"))
        hint = f" (found {', '.join(found)}: only the MLP exports to ONNX)" if found else " (train one with posenet-cls train)"
        raise PosenetError(f"{run_dir}: no model.ckpt in this run folder{hint}")
    model, meta, novelty_model = load_checkpoint_full(ckpt)
    table_path = Path(table) if table is not None else _run_table(meta, ckpt)
    check = read_table(table_path)
    world = check.require_world(f"{ckpt}: the parity check of a model on world landmarks") if model.reads_world else None
    threshold = DEFAULT_UNKNOWN_THRESHOLD if unknown_threshold is None else float(unknown_threshold)
    if not 0.0 <= threshold < 1.0:
        raise PosenetError(f"unknown threshold must be in [0, 1), got {threshold}")
    extra = {"model": meta.get("model", "mlp"), "model_args": meta.get("model_args", {}),
             "train_config": meta.get("train_config"), "run": meta.get("run")}
    if meta.get("angle_profile"):
        extra["angle_profile"] = meta["angle_profile"]  # form hints (posenet_cls.coaching.hints)
    return export_model(model, meta["classes"], meta["features"], out, check.keypoints, threshold, extra,
                        novelty_model if novelty else None, world)


def _run_table(meta: dict, ckpt: Path) -> Path:
    """The keypoint table a checkpoint was trained on, for the parity check on real poses."""
    recorded = (meta.get("run") or {}).get("table")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    where = f"the table it was trained on ({recorded}) is gone" if recorded else "it records no keypoint table"
    raise PosenetError(f"{ckpt}: {where}; pass --table poses.csv for the parity check on real keypoints")


def predict_command(path: str | Path) -> str:
    """The predict command line that uses an exported model."""
    return f"posenet-cls predict PHOTO_OR_FOLDER --model {path}"


def update_metadata(path: str | Path, **changes) -> None:
    """Replace top-level entries of an exported model's ``posenet_cls`` metadata in place (atomically); the
    graph and its weights are untouched (a new angle profile, say)."""
    import onnx

    from posenet_cls.io.files import atomic_path

    path = Path(path)
    proto = onnx.load(str(path))
    entries = [e for e in proto.metadata_props if e.key == METADATA_KEY]
    if not entries:
        raise PosenetError(f"{path}: no '{METADATA_KEY}' metadata; not a posenet_cls model")
    meta = json.loads(entries[0].value)
    meta.update(changes)
    entries[0].value = json.dumps(meta)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
