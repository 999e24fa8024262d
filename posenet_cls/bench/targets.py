"""The speed targets of the exported graph (issue 28), as ratios and rates measured in the same run.

The references: onnxruntime's call floor (one Identity node on a (1, 33, 4) input, run through the
same IO binding on a one-thread session as :meth:`PoseRuntime.pose_probabilities`), timed in turns
with the single pose so that both see the machine alike, and the article's SVC (the classifier rows'
reference). The batch targets are rates: poses per second of a 4096 batch through
:meth:`PoseRuntime.probabilities`, and with the novelty score through :meth:`PoseRuntime.scores`. (The
classifier runs about 30,000 times faster than BlazePose: its batch speed is no user's bottleneck,
so a rate on the machine at hand is the measure, not a share of the machine's MatMul peak.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posenet_cls.bench.classifiers import parts
from posenet_cls.bench.config import BenchConfig
from posenet_cls.bench.timing import latency, throughput

SINGLE_TARGET = 4.0  # single-pose latency over the call floor, at most
ARTICLE_TARGET = 4.0  # single-pose speed over the article's SVC, at least
BATCH_TARGET = 1_000_000  # poses per second of the largest batch, at least
NOVELTY_TARGET = 100_000  # poses per second of the largest batch with the novelty score, at least
PAIRS = 5  # the single pose and its reference are measured this many times, in turns, and the median ratio taken


def _one_node_session(op: str, shape: list[int], threads: int):
    """A session of a graph of one ``op`` node on a float32 input of ``shape``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    names = ["a"]
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


def in_turns(ours: Callable[[], float], reference: Callable[[], float]) -> tuple[float, float, float]:
    """``ours() / reference()`` measured PAIRS times in turns, so that a machine whose speed drifts (another load,
    the clock) moves both alike: (median ratio, median of ours, median of the reference)."""
    pairs = []
    for _ in range(PAIRS):
        a, b = ours(), reference()
        pairs.append((a / b, a, b))
    return tuple(float(v) for v in np.median(np.asarray(pairs), axis=0))


def speed_targets(runtime, poses: np.ndarray, rows: list[dict], config: BenchConfig) -> tuple[dict, list[str]]:
    """The figures and one note per target: single pose over the call floor, single pose over the article's SVC,
    the largest batch's poses/s without and with the novelty score; ``rows`` are the classifier rows of the same run."""
    from posenet_cls.bench.config import ARTICLE

    calls, seconds = max(config.calls // PAIRS, 1), config.seconds / PAIRS
    floor_call = _floor_call()
    over_floor, single, floor = in_turns(
        lambda: latency(lambda p: runtime.pose_probabilities(*parts(p)), poses, calls, seconds)[0],
        lambda: latency(lambda p: floor_call(parts(p)[0]), poses, calls, seconds)[0])
    batch = max(config.batches)
    big = np.ascontiguousarray(np.resize(poses, (batch, *poses.shape[1:])))
    rate = float(np.median([throughput(lambda p: runtime.probabilities(*parts(p)), big, seconds) for _ in range(PAIRS)]))
    novelty_rate = None
    if runtime.novelty_threshold is not None:
        novelty_rate = float(np.median([throughput(lambda p: runtime.scores(*parts(p)), big, seconds)
                                        for _ in range(PAIRS)]))
    ours = next(r for r in rows if r["backend"] == "onnxruntime")
    article = next(r for r in rows if r["backend"] == ARTICLE)
    figures = {"call_floor_us": floor, "single_pose_us": single, "single_over_floor": over_floor, "batch": batch,
               "batch_poses_per_s": rate, "novelty_batch_poses_per_s": novelty_rate,
               "article_over_single": article["median_us"] / ours["median_us"]}

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    notes = [
        f"onnxruntime's call floor: {floor:.2f} us (one Identity node on (1, 33, 4), IO binding, one thread)",
        f"single pose (PoseRuntime.pose_probabilities): {single:.2f} us, {over_floor:.2f}x the call floor (median of "
        f"{PAIRS} turns of each), target at most {SINGLE_TARGET:g}x: {verdict(over_floor <= SINGLE_TARGET)}",
        f"single pose (the onnxruntime row: decide(pose_probabilities)) {figures['article_over_single']:.1f}x "
        f"faster than the article's SVC, target at least {ARTICLE_TARGET:g}x: "
        f"{verdict(figures['article_over_single'] >= ARTICLE_TARGET)}",
        f"batch {batch} (PoseRuntime.probabilities): {rate / 1e6:.2f} M poses/s (median of {PAIRS}), target at least "
        f"{BATCH_TARGET / 1e6:g} M: {verdict(rate >= BATCH_TARGET)}",
    ]
    if novelty_rate is not None:
        notes.append(f"batch {batch} with the novelty score (PoseRuntime.scores): {novelty_rate / 1e3:.0f} k poses/s "
                     f"(median of {PAIRS}), target at least {NOVELTY_TARGET / 1e3:g} k: "
                     f"{verdict(novelty_rate >= NOVELTY_TARGET)}")
    return figures, notes
