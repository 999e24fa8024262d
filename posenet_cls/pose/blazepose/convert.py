"""TFLite -> ONNX for BlazePose's detector and landmark networks: only the ops they use, NCHW inside, NHWC outside.

The flatbuffer is read with the ``tflite`` package; the float16 (and, in the detector, DENSIFY-sparse)
weights are taken fully materialised from ``ai_edge_litert``'s interpreter. Both are imported only inside
the functions that need them. The ONNX graph (opset 17) has a dynamic batch axis ``N``, keeps the TFLite
input and output layouts (NHWC images, TFLite's output order) and drops outputs not asked for, with every
node only they need (the landmark network's segmentation).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_cls.pose.blazepose.files import mediapipe_version, network_paths
from posenet_cls.io.files import atomic_path
from posenet_cls.errors import PosenetError

OPSET = 17
IR_VERSION = 8
PRODUCER = "posenet_cls.blazepose.convert"  # its name when the shipped networks were made: their bytes stay the same
PRODUCER_VERSION = "1"
WEIGHT_DTYPES = ("float32", "float16")

# The TFLite ops of pose_detection.tflite and pose_landmark_full.tflite; anything else is refused.
SUPPORTED_OPS = (
    "ADD",
    "CONCATENATION",
    "CONV_2D",
    "DENSIFY",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "LOGISTIC",
    "MAX_POOL_2D",
    "PAD",
    "RESHAPE",
    "RESIZE_BILINEAR",
)
_WEIGHT_OPS = ("DEQUANTIZE", "DENSIFY")
_OPTION_FIELDS = {
    "ADD": ("FusedActivationFunction",),
    "CONCATENATION": ("Axis", "FusedActivationFunction"),
    "CONV_2D": ("Padding", "StrideH", "StrideW", "DilationHFactor", "DilationWFactor", "FusedActivationFunction"),
    "DEPTHWISE_CONV_2D": (
        "Padding",
        "StrideH",
        "StrideW",
        "DilationHFactor",
        "DilationWFactor",
        "FusedActivationFunction",
        "DepthMultiplier",
    ),
    "DEPTH_TO_SPACE": ("BlockSize",),
    "MAX_POOL_2D": ("Padding", "StrideH", "StrideW", "FilterHeight", "FilterWidth", "FusedActivationFunction"),
    "RESIZE_BILINEAR": ("AlignCorners", "HalfPixelCenters"),
}
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 9: np.int8, 3: np.uint8}
_SAME, _VALID = 0, 1
_NHWC_TO_NCHW, _NCHW_TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


@dataclass(frozen=True)
class Network:
    """One BlazePose network: its file in the mediapipe wheel, input range, and kept outputs (TFLite -> ONNX name)."""

    key: str
    tflite: str
    input_size: int
    input_range: tuple[float, float]
    outputs: dict[str, str]


NETWORKS = {
    "detector": Network(
        "detector",
        "modules/pose_detection/pose_detection.tflite",
        224,
        (-1.0, 1.0),
        {"Identity": "boxes", "Identity_1": "scores"},
    ),
    "landmark": Network(
        "landmark",
        "modules/pose_landmark/pose_landmark_full.tflite",
        256,
        (0.0, 1.0),
        {"Identity": "landmarks", "Identity_1": "presence", "Identity_3": "heatmap", "Identity_4": "world"},
    ),
}


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None
    constant: bool


@dataclass(frozen=True)
class _Op:
    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


@dataclass(frozen=True)
class _Graph:
    tensors: list[_Tensor]
    ops: list[_Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def mediapipe_dir() -> Path:
    """The installed mediapipe package folder, found without importing it."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise PosenetError("mediapipe: package not installed; install mediapipe==0.10.21 to convert BlazePose")
    return Path(next(iter(spec.submodule_search_locations)))


def source_paths() -> dict[str, Path]:
    """The TFLite file of each network in the installed mediapipe wheel."""
    paths = {key: mediapipe_dir() / net.tflite for key, net in NETWORKS.items()}
    for path in paths.values():
        if not path.is_file():
            raise PosenetError(f"{path}: BlazePose TFLite network missing from the installed mediapipe wheel")
    return paths


def _require(module: str):
    """Import a conversion-only module, or PosenetError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PosenetError(f"{module}: not installed; conversion needs: pip install -e '.[convert]'") from None


def _read_graph(buf: bytes, path: Path) -> _Graph:
    """The first subgraph of a TFLite flatbuffer as plain tensors and ops."""
    tflite = _require("tflite")

    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    option_classes = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
    if len(buf) < 8 or not tflite.Model.ModelBufferHasIdentifier(buf, 0):
        raise PosenetError(f"{path}: not a TFLite flatbuffer")
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise PosenetError(f"{path}: expected one subgraph, found {model.SubgraphsLength()}")
    sub = model.Subgraphs(0)
    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        buffer = model.Buffers(t.Buffer())
        raw = None
        if buffer is not None and buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
        elif buffer is not None and buffer.Offset() > 1:
            raw = buf[buffer.Offset() : buffer.Offset() + buffer.Size()]
        data = None
        if raw is not None and t.Sparsity() is None and t.Type() in _NUMPY_TYPES:
            data = np.frombuffer(raw, dtype=_NUMPY_TYPES[t.Type()]).reshape(shape)
        tensors.append(_Tensor(t.Name().decode(), shape, data, raw is not None))
    ops = []
    for k in range(sub.OperatorsLength()):
        op = sub.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        options = {}
        table = op.BuiltinOptions()
        if kind in _OPTION_FIELDS:
            if table is None:
                raise PosenetError(f"{path}: op {k} {kind} has no options")
            obj = getattr(tflite, option_classes[op.BuiltinOptionsType()])()
            obj.Init(table.Bytes, table.Pos)
            options = {f: getattr(obj, f)() for f in _OPTION_FIELDS[kind]}
        ins = tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        ops.append(_Op(k, kind, ins, outs, options))
    inputs = tuple(int(i) for i in sub.InputsAsNumpy())
    outputs = tuple(int(i) for i in sub.OutputsAsNumpy())
    return _Graph(tensors, ops, inputs, outputs)


def _needed_ops(graph: _Graph, outputs: list[int]) -> list[_Op]:
    """The ops the given output tensors depend on, in graph order."""
    producer = {t: op for op in graph.ops for t in op.outputs}
    needed, stack = set(), list(outputs)
    while stack:
        op = producer.get(stack.pop())
        if op is not None and op.index not in needed:
            needed.add(op.index)
            stack.extend(i for i in op.inputs if i >= 0)
    return [op for op in graph.ops if op.index in needed]


def _materialised_weights(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The float32 values of the DEQUANTIZE/DENSIFY outputs, as the TFLite interpreter computes them."""
    litert = _require("ai_edge_litert.interpreter")
    Interpreter, OpResolverType = litert.Interpreter, litert.OpResolverType

    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interp.invoke()
    return {i: np.array(interp.get_tensor(i), dtype=np.float32) for i in indices}


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (extra on the end) for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Builder:
    """Collects ONNX nodes and initialisers for one graph; TFLite rank-4 tensors are NCHW in it."""

    def __init__(self, path: Path, graph: _Graph, weights: dict[int, np.ndarray], weight_dtype: str):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.path, self.graph, self.weights, self.weight_dtype = path, graph, weights, weight_dtype
        self.nodes, self.initializers, self.names = [], [], {}
        self.folded_pads: dict[int, tuple[int, tuple[int, int, int, int]]] = {}
        self.deferred_resizes: dict[int, _Op] = {}
        self._consts: dict[str, str] = {}

    def fail(self, op: _Op, problem: str) -> PosenetError:
        return PosenetError(f"{self.path}: op {op.index} {op.kind}: {problem}")

    def name(self, t: int) -> str:
        return self.names.setdefault(t, f"t{t}")

    def node(self, op_type: str, inputs: list[str], output: str, label: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=label, **attrs))
        return output

    def const(self, key: str, value: np.ndarray) -> str:
        """A small constant initialiser (shapes, clip bounds, scales), kept in its own dtype."""
        if key not in self._consts:
            self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), key))
            self._consts[key] = key
        return key

    def weight(self, t: int, perm: tuple[int, ...] | None = None) -> str:
        """A materialised weight tensor, transposed by perm: float32, or float16 + Cast where that is lossless."""
        key = f"w{t}" if perm is None else f"w{t}_" + "".join(map(str, perm))
        if key in self._consts:
            return self._consts[key]
        value = self.weights.get(t, self.graph.tensors[t].data)
        if value is None:
            raise PosenetError(
                f"{self.path}: tensor {t} ({self.graph.tensors[t].name}) is used as a weight but is not constant"
            )
        value = np.asarray(value, dtype=np.float32)
        value = np.ascontiguousarray(value if perm is None else value.transpose(perm))
        if self.weight_dtype == "float16" and np.array_equal(value.astype(np.float16).astype(np.float32), value):
            self.initializers.append(self.numpy_helper.from_array(value.astype(np.float16), key + "_f16"))
            self.node("Cast", [key + "_f16"], key, f"cast_{key}", to=1)  # 1: TensorProto.FLOAT
        else:
            self.initializers.append(self.numpy_helper.from_array(value, key))
        self._consts[key] = key
        return key

    def activation(self, op: _Op, x: str, out: str, code: int) -> str:
        label = f"{op.kind.lower()}_{op.index}_act"
        if code == 0:
            return x
        if code == 1:
            return self.node("Relu", [x], out, label)
        bounds = {2: (-1.0, 1.0), 3: (0.0, 6.0)}.get(code)
        if bounds is None:
            raise self.fail(op, f"fused activation {code} not supported")
        lo = self.const(f"clip_lo_{bounds[0]:g}", np.array(bounds[0], np.float32))
        hi = self.const(f"clip_hi_{bounds[1]:g}", np.array(bounds[1], np.float32))
        return self.node("Clip", [x, lo, hi], out, label)

    def emit(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        getattr(self, "op_" + op.kind.lower())(op, consumers)

    def _out(self, op: _Op, pre_activation: bool) -> str:
        return f"t{op.outputs[0]}_pre" if pre_activation else self.name(op.outputs[0])

    def op_pad(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        pads = self.graph.tensors[op.inputs[1]].data
        if pads is None or pads.shape != (4, 2):
            raise self.fail(op, "paddings must be a constant 4x2 tensor")
        (n0, n1), (t, b), (left, right), (c0, c1) = (tuple(int(v) for v in row) for row in pads)
        users = consumers.get(op.outputs[0], [])
        foldable = (
            (n0, n1, c0, c1) == (0, 0, 0, 0)
            and users
            and all(u.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and u.inputs[0] == op.outputs[0] for u in users)
        )
        if foldable and op.outputs[0] not in self.graph.outputs:
            self.folded_pads[op.outputs[0]] = (op.inputs[0], (t, b, left, right))
            return
        onnx_pads = np.array([n0, c0, t, left, n1, c1, b, right], np.int64)
        self.node(
            "Pad",
            [self.name(op.inputs[0]), self.const(f"pads{op.index}", onnx_pads)],
            self.name(op.outputs[0]),
            f"pad_{op.index}",
            mode="constant",
        )

    def _conv(self, op: _Op, depthwise: bool) -> None:
        o = op.options
        x, extra = op.inputs[0], (0, 0, 0, 0)
        if x in self.folded_pads:
            x, extra = self.folded_pads[x]
        w_shape = self.graph.tensors[op.inputs[1]].shape
        kh, kw = w_shape[1], w_shape[2]
        in_h, in_w = self.graph.tensors[op.inputs[0]].shape[1:3]
        pads = [0, 0, 0, 0]
        if o["Padding"] == _SAME:
            pads[0], pads[2] = _same_pads(in_h, kh, o["StrideH"], o["DilationHFactor"])
            pads[1], pads[3] = _same_pads(in_w, kw, o["StrideW"], o["DilationWFactor"])
        elif o["Padding"] != _VALID:
            raise self.fail(op, f"padding {o['Padding']} not supported")
        t, b, left, right = extra
        pads = [pads[0] + t, pads[1] + left, pads[2] + b, pads[3] + right]
        if depthwise:
            channels = self.graph.tensors[x].shape[3]
            if w_shape[3] != channels * o["DepthMultiplier"]:
                raise self.fail(op, "weights do not match input channels x depth multiplier")
            w, group = self.weight(op.inputs[1], (3, 0, 1, 2)), channels
        else:
            w, group = self.weight(op.inputs[1], (0, 3, 1, 2)), 1
        inputs = [self.name(x), w] + ([self.weight(op.inputs[2])] if len(op.inputs) > 2 and op.inputs[2] >= 0 else [])
        act = o["FusedActivationFunction"]
        resize = self.deferred_resizes.get(x)
        if resize is not None:  # 1x1 conv then bilinear resize: the same sum, on 1/4 of the pixels
            inputs[0] = self.name(resize.inputs[0])
        out = f"t{op.outputs[0]}_lowres" if resize is not None else self._out(op, act != 0)
        y = self.node(
            "Conv",
            inputs,
            out,
            f"{op.kind.lower()}_{op.index}",
            kernel_shape=[kh, kw],
            strides=[o["StrideH"], o["StrideW"]],
            dilations=[o["DilationHFactor"], o["DilationWFactor"]],
            pads=pads,
            group=group,
        )
        if resize is not None:
            y = self._resize(resize, y, self._out(op, act != 0))
        self.activation(op, y, self.name(op.outputs[0]), act)

    def op_conv_2d(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        self._conv(op, depthwise=False)

    def op_depthwise_conv_2d(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        self._conv(op, depthwise=True)

    def op_add(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        a, b = op.inputs
        shapes = [self.graph.tensors[i].shape for i in (a, b)]
        if shapes[0] != shapes[1] or any(self._is_const(i) for i in (a, b)):
            raise self.fail(op, "only the sum of two activations of one shape is supported")
        act = op.options["FusedActivationFunction"]
        y = self.node("Add", [self.name(a), self.name(b)], self._out(op, act != 0), f"add_{op.index}")
        self.activation(op, y, self.name(op.outputs[0]), act)

    def op_concatenation(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        rank = len(self.graph.tensors[op.outputs[0]].shape)
        axis = op.options["Axis"] % rank
        if rank == 4:
            axis = _NCHW_TO_NHWC.index(axis)
        act = op.options["FusedActivationFunction"]
        y = self.node(
            "Concat", [self.name(i) for i in op.inputs], self._out(op, act != 0), f"concatenation_{op.index}", axis=axis
        )
        self.activation(op, y, self.name(op.outputs[0]), act)

    def op_depth_to_space(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        self.node(
            "DepthToSpace",
            [self.name(op.inputs[0])],
            self.name(op.outputs[0]),
            f"depth_to_space_{op.index}",
            blocksize=op.options["BlockSize"],
            mode="DCR",
        )

    def op_resize_bilinear(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        users = consumers.get(op.outputs[0], [])
        if len(users) == 1 and op.outputs[0] not in self.graph.outputs and self._pointwise(users[0]):
            self.deferred_resizes[op.outputs[0]] = op  # emitted after the 1x1 conv that reads it
            return
        self._resize(op, self.name(op.inputs[0]), self.name(op.outputs[0]))

    def _pointwise(self, op: _Op) -> bool:
        """Whether op is a 1x1, stride-1 CONV_2D (which commutes with a bilinear resize, weights summing to 1)."""
        if op.kind != "CONV_2D":
            return False
        _, kh, kw, _ = self.graph.tensors[op.inputs[1]].shape
        o = op.options
        return (kh, kw, o["StrideH"], o["StrideW"], o["DilationHFactor"], o["DilationWFactor"]) == (1,) * 6

    def _resize(self, op: _Op, x: str, out: str) -> str:
        (_, in_h, in_w, _), (_, out_h, out_w, _) = (self.graph.tensors[i].shape for i in (op.inputs[0], op.outputs[0]))
        scales = self.const(f"scales{op.index}", np.array([1, 1, out_h / in_h, out_w / in_w], np.float32))
        mode = (
            "align_corners"
            if op.options["AlignCorners"]
            else ("half_pixel" if op.options["HalfPixelCenters"] else "asymmetric")
        )
        return self.node(
            "Resize",
            [x, "", scales],
            out,
            f"resize_bilinear_{op.index}",
            mode="linear",
            coordinate_transformation_mode=mode,
        )

    def op_max_pool_2d(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        o = op.options
        in_h, in_w = self.graph.tensors[op.inputs[0]].shape[1:3]
        pads = [0, 0, 0, 0]
        if o["Padding"] == _SAME:
            pads[0], pads[2] = _same_pads(in_h, o["FilterHeight"], o["StrideH"], 1)
            pads[1], pads[3] = _same_pads(in_w, o["FilterWidth"], o["StrideW"], 1)
        act = o["FusedActivationFunction"]
        y = self.node(
            "MaxPool",
            [self.name(op.inputs[0])],
            self._out(op, act != 0),
            f"max_pool_2d_{op.index}",
            kernel_shape=[o["FilterHeight"], o["FilterWidth"]],
            strides=[o["StrideH"], o["StrideW"]],
            pads=pads,
        )
        self.activation(op, y, self.name(op.outputs[0]), act)

    def op_logistic(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        self.node("Sigmoid", [self.name(op.inputs[0])], self.name(op.outputs[0]), f"logistic_{op.index}")

    def op_reshape(self, op: _Op, consumers: dict[int, list[_Op]]) -> None:
        in_shape, out_shape = (self.graph.tensors[i].shape for i in (op.inputs[0], op.outputs[0]))
        if in_shape[:1] != (1,) or out_shape[:1] != (1,) or len(out_shape) == 4:
            raise self.fail(op, f"reshape {in_shape} -> {out_shape} not supported (batch must stay first)")
        x = self.name(op.inputs[0])
        if len(in_shape) == 4 and in_shape[1:3] != (1, 1):
            x = self.node("Transpose", [x], f"t{op.inputs[0]}_nhwc", f"reshape_{op.index}_nhwc", perm=_NCHW_TO_NHWC)
        shape = self.const(f"shape{op.index}", np.array((0,) + out_shape[1:], np.int64))
        self.node("Reshape", [x, shape], self.name(op.outputs[0]), f"reshape_{op.index}")

    def _is_const(self, t: int) -> bool:
        return t in self.weights or self.graph.tensors[t].data is not None


def build_model(
    tflite_path: Path | str,
    outputs: dict[str, str] | None = None,
    input_name: str = "image",
    weights: str = "float16",
    metadata: dict[str, str] | None = None,
):
    """The ONNX ModelProto of a TFLite network; outputs maps kept TFLite output names to ONNX names (None: all)."""
    import onnx
    from onnx import TensorProto, helper

    path = Path(tflite_path)
    if weights not in WEIGHT_DTYPES:
        raise PosenetError(f"{path}: weights must be one of {', '.join(WEIGHT_DTYPES)}, not {weights!r}")
    if not path.is_file():
        raise PosenetError(f"{path}: no such TFLite file")
    buf = path.read_bytes()
    graph = _read_graph(buf, path)
    unsupported = sorted({op.kind for op in graph.ops} - set(SUPPORTED_OPS))
    if unsupported:
        raise PosenetError(f"{path}: TFLite ops not supported by this converter: {', '.join(unsupported)}")
    if len(graph.inputs) != 1 or len(graph.tensors[graph.inputs[0]].shape) != 4:
        raise PosenetError(f"{path}: expected one NHWC image input")
    by_name = {graph.tensors[t].name: t for t in graph.outputs}
    outputs = outputs if outputs is not None else {name: name for name in by_name}
    missing = [name for name in outputs if name not in by_name]
    if missing:
        raise PosenetError(f"{path}: no TFLite output named {', '.join(missing)} (outputs: {', '.join(by_name)})")
    kept = [by_name[name] for name in outputs]
    ops = _needed_ops(graph, kept)
    weight_ops = [op for op in ops if op.kind in _WEIGHT_OPS]
    compute_ops = [op for op in ops if op.kind not in _WEIGHT_OPS]
    weight_tensors = {op.outputs[0] for op in weight_ops}
    for op in weight_ops:
        if any(not graph.tensors[i].constant and i not in weight_tensors for i in op.inputs):
            raise PosenetError(f"{path}: op {op.index} {op.kind} on a non-constant tensor is not supported")
    wanted = sorted(t for op in compute_ops for t in op.inputs if t in weight_tensors)
    b = _Builder(path, graph, _materialised_weights(path, wanted), weights)

    (x,) = graph.inputs
    _, h, w, c = graph.tensors[x].shape
    b.node("Transpose", [input_name], b.name(x), "input_nchw", perm=_NHWC_TO_NCHW)
    out_names = dict(zip(kept, outputs.values()))
    for t, name in out_names.items():
        if len(graph.tensors[t].shape) != 4:
            b.names[t] = name
    consumers: dict[int, list[_Op]] = {}
    for op in compute_ops:
        for i in op.inputs:
            consumers.setdefault(i, []).append(op)
    for op in compute_ops:
        b.emit(op, consumers)
    graph_outputs = []
    for t, name in out_names.items():
        shape = graph.tensors[t].shape
        if len(shape) == 4:
            b.node("Transpose", [b.name(t)], name, f"output_{name}_nhwc", perm=_NCHW_TO_NHWC)
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape[1:]]))
    onnx_graph = helper.make_graph(
        b.nodes,
        f"blazepose_{path.stem}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", h, w, c])],
        graph_outputs,
        initializer=b.initializers,
        doc_string=f"{path.name} converted by {PRODUCER}: input {input_name} NHWC; outputs {', '.join(outputs.values())}",
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        ir_version=IR_VERSION,
    )
    meta = {
        "source_tflite": path.name,
        "source_sha256": hashlib.sha256(buf).hexdigest(),
        "mediapipe_version": mediapipe_version(),
        "weights": weights,
        "layout": "NHWC",
        **(metadata or {}),
    }
    helper.set_model_props(model, meta)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as err:
        raise PosenetError(f"{path}: converted ONNX graph fails onnx.checker: {str(err).splitlines()[0]}") from err
    return model


def convert(
    tflite_path: Path | str,
    onnx_path: Path | str,
    outputs: dict[str, str] | None = None,
    input_name: str = "image",
    weights: str = "float16",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Convert one TFLite network to ONNX at onnx_path (same bytes on every run), written atomically."""
    model = build_model(tflite_path, outputs, input_name, weights, metadata)
    out = Path(onnx_path)
    with atomic_path(out, unique=True) as tmp:
        tmp.write_bytes(model.SerializeToString(deterministic=True))
    return out


def convert_all(out_dir: Path | str, weights: str = "float16") -> dict[str, Path]:
    """Convert both networks of the installed mediapipe wheel into out_dir; returns {"detector", "landmark"} paths."""
    sources, targets = source_paths(), network_paths(out_dir)
    paths = {}
    for key, net in NETWORKS.items():
        lo, hi = net.input_range
        meta = {"network": key, "input_range": f"[{lo:g}, {hi:g}]"}
        paths[key] = convert(sources[key], targets[key], net.outputs, weights=weights, metadata=meta)
    return paths


def simple_inputs(photos: list[Path], key: str) -> np.ndarray:
    """Photos stretched to the network's input size and scaled to its range, (N, S, S, 3) float32: for parity checks."""
    from PIL import Image

    size, (lo, hi) = NETWORKS[key].input_size, NETWORKS[key].input_range
    batch = np.zeros((len(photos), size, size, 3), np.float32)
    for i, photo in enumerate(photos):
        with Image.open(photo) as img:
            rgb = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
        batch[i] = lo + rgb * ((hi - lo) / 255.0)
    return batch


def tflite_outputs(tflite_path: Path | str, images: np.ndarray, num_threads: int = 1) -> dict[str, np.ndarray]:
    """The TFLite interpreter's outputs (default delegates, as MediaPipe runs it) for a batch, one image at a time."""
    interp = _require("ai_edge_litert.interpreter").Interpreter(model_path=str(tflite_path), num_threads=num_threads)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    details = interp.get_output_details()
    results: dict[str, list[np.ndarray]] = {d["name"]: [] for d in details}
    for image in np.asarray(images, np.float32):
        interp.set_tensor(inp["index"], image[None])
        interp.invoke()
        for d in details:
            results[d["name"]].append(interp.get_tensor(d["index"])[0].copy())
    return {
        name: np.stack(v) if v else np.zeros((0, *d["shape"][1:]), np.float32)
        for (name, v), d in zip(results.items(), details)
    }


def parity(key: str, onnx_path: Path | str, images: np.ndarray) -> dict[str, float]:
    """Max abs difference of each kept output, onnxruntime (one batch) vs the TFLite interpreter (per image)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = NETWORKS[key].outputs
    got = dict(zip(names.values(), session.run(list(names.values()), {"image": np.asarray(images, np.float32)})))
    want = tflite_outputs(source_paths()[key], images)
    return {onnx: float(np.max(np.abs(got[onnx] - want[tfl]))) for tfl, onnx in names.items()}
