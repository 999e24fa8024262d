"""Issue 15's speed targets for the exported graph, as ratios to references measured in the same run.

The references: onnxruntime's call floor (one Identity node on a (1, 33, 4) input, run through the
same IO binding on a one-thread session as :meth:`PoseRuntime.pose_probabilities`), the FLOP rate of a
1024 x 1024 x 1024 float32 MatMul on an all-cores session (the machine's practical peak), each timed in
turns with what it is the reference of so that both see the machine alike, and the article's SVC (the
classifier rows' reference). The graph's FLOPs per pose are the model's matrix
products as trained (Normalize's constant products and the dense layers, 2 per multiply-add), the same
whatever form the exporter gives the graph, so its FLOP rate is its poses/s on a fixed scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posenet_cls.bench.config import BenchConfig
from posenet_cls.bench.timing import latency, throughput

SINGLE_TARGET = 4.0  # single-pose latency over the call floor, at most
BATCH_TARGET = 0.4  # FLOP rate of the largest batch over the MatMul peak, at least
ARTICLE_TARGET = 4.0  # single-pose speed over the article's SVC, at least
PEAK_SIZE = 1024
PAIRS = 5  # each target and its reference are measured this many times, in turns, and the median ratio taken


def _one_node_session(op: str, shape: list[int], threads: int):
    """A session of a graph of one ``op`` node on float32 inputs of ``shape`` (two inputs for MatMul)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    names = ["a", "b"] if op == "MatMul" else ["a"]
    graph = helper.make_graph([helper.make_node(op, names, ["y"])], op.lower(),
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in names],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _floor_call():
    """One onnxruntime call on a trivial graph (an Identity node on (1, 33, 4)), through IO binding on one thread,
    copying the pose in as PoseRuntime copies a pose into its bound buffer."""
    import onnxruntime as ort

    session = _one_node_session("Identity", [1, 33, 4], threads=1)
    x, y = np.zeros((1, 33, 4), np.float32), np.zeros((1, 33, 4), np.float32)
    binding = session.io_binding()
    binding.bind_ortvalue_input("a", ort.OrtValue.ortvalue_from_numpy(x))
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(y))
    run = session.run_with_iobinding

    def call(pose: np.ndarray) -> None:
        np.copyto(x[0], pose)
        run(binding)

    return call


def _matmul_calls():
    """A call of a 1024^3 float32 MatMul on an all-cores onnxruntime session."""
    session = _one_node_session("MatMul", [PEAK_SIZE, PEAK_SIZE], threads=0)
    rng = np.random.default_rng(0)
    feeds = {n: rng.random((PEAK_SIZE, PEAK_SIZE), dtype=np.float32) for n in ("a", "b")}
    return lambda batch: session.run(None, feeds)


def in_turns(ours: Callable[[], float], reference: Callable[[], float]) -> tuple[float, float, float]:
    """``ours() / reference()`` measured PAIRS times in turns, so that a machine whose speed drifts (another load,
    the clock) moves both alike: (median ratio, median of ours, median of the reference)."""
    pairs = []
    for _ in range(PAIRS):
        a, b = ours(), reference()
        pairs.append((a / b, a, b))
    return tuple(float(v) for v in np.median(np.asarray(pairs), axis=0))


def model_flops(model) -> int:
    """FLOPs per pose of a torch :class:`PoseClassifier` as trained: each member's Normalize products and dense layers."""
    import torch

    products = ("hip_center", "tile", "image_plane", "shoulder_center", "coords", "offsets")
    macs = sum(int(getattr(nz, name).numel()) for nz in model.normalizers for name in products  # (1, rows) by (rows, cols)
               if getattr(nz, name) is not None)
    macs += sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 2 * macs * (2 if model.mirror_average else 1)  # mirror averaging runs every member twice


def batch_over_peak(runtime, flops: int, poses: np.ndarray, batch: int, seconds: float) -> tuple[float, float, float]:
    """A ``batch`` of ``poses`` (repeated) through ``runtime.probabilities`` against the MatMul peak, in turns:
    (median ratio of FLOP rates, the batch's FLOP/s at ``flops`` per pose, the peak's FLOP/s)."""
    big = np.ascontiguousarray(np.resize(poses, (batch, *poses.shape[1:])))
    matmul = _matmul_calls()
    return in_turns(lambda: throughput(runtime.probabilities, big, seconds) * flops,
                    lambda: 2.0 * PEAK_SIZE**3 * throughput(matmul, np.zeros(1), seconds))


def speed_targets(runtime, flops: int, poses: np.ndarray, rows: list[dict], config: BenchConfig) -> tuple[dict, list[str]]:
    """The figures and one note per target: single pose over the call floor, batch FLOP rate (``flops`` per pose)
    over the MatMul peak, single pose over the article's SVC; ``rows`` are the classifier rows of the same run."""
    from posenet_cls.bench.config import ARTICLE

    calls, seconds = max(config.calls // PAIRS, 1), config.seconds / PAIRS
    floor_call = _floor_call()
    over_floor, single, floor = in_turns(lambda: latency(runtime.pose_probabilities, poses, calls, seconds)[0],
                                         lambda: latency(floor_call, poses, calls, seconds)[0])
    batch = max(config.batches)
    over_peak, rate, peak = batch_over_peak(runtime, flops, poses, batch, seconds)
    ours = next(r for r in rows if r["backend"] == "onnxruntime")
    article = next(r for r in rows if r["backend"] == ARTICLE)
    figures = {"call_floor_us": floor, "single_pose_us": single, "single_over_floor": over_floor,
               "matmul_peak_gflops": peak / 1e9, "flops_per_pose": flops, "batch": batch,
               "batch_gflops": rate / 1e9, "batch_over_peak": over_peak,
               "article_over_single": article["median_us"] / ours["median_us"]}

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    notes = [
        f"onnxruntime's call floor: {floor:.2f} us (one Identity node on (1, 33, 4), IO binding, one thread); "
        f"MatMul peak: {peak / 1e9:.1f} GFLOP/s ({PEAK_SIZE}^3 float32, all cores)",
        f"single pose (PoseRuntime.pose_probabilities): {single:.2f} us, {over_floor:.2f}x the call floor (median of "
        f"{PAIRS} turns of each), target at most {SINGLE_TARGET:g}x: {verdict(over_floor <= SINGLE_TARGET)}",
        f"batch {batch} (PoseRuntime.probabilities): {rate / 1e9:.1f} GFLOP/s ({flops} FLOPs per pose), "
        f"{over_peak:.2f} of the MatMul peak (median of {PAIRS} turns of each), target at least {BATCH_TARGET:g}: "
        f"{verdict(over_peak >= BATCH_TARGET)}",
        f"single pose (the onnxruntime row: decide(pose_probabilities)) {figures['article_over_single']:.1f}x "
        f"faster than the article's SVC, target at least {ARTICLE_TARGET:g}x: "
        f"{verdict(figures['article_over_single'] >= ARTICLE_TARGET)}",
    ]
    return figures, notes
