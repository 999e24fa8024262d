"""Pose classification speed: our runtime vs onnxruntime raw, torch eager and the article's SVC recipe.

    .venv/bin/python scripts/bench_classify.py            # the figures of the README's speed table

Single-pose latency is the median and 99th percentile of one call on one real pose (after a warm-up),
cycling through the real yoga8 poses; batched throughput is poses per second for batches of 1, 64
and 4096. Inputs: checkpoints/pose_mlp.onnx, and from scripts/train_default_model.py's work folder
the keypoint table and the checkpoint the ONNX file was exported from (for the torch row).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def latency(fn, poses: np.ndarray, calls: int) -> tuple[float, float]:
    """Median and p99 microseconds of ``fn(pose)`` over ``calls`` calls, cycling through ``poses``."""
    for i in range(min(calls, 2000)):
        fn(poses[i % len(poses)])
    times = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        pose = poses[i % len(poses)]
        t0 = clock()
        fn(pose)
        times[i] = clock() - t0
    return float(np.median(times) / 1000), float(np.percentile(times, 99) / 1000)


def throughput(fn, batch: np.ndarray, seconds: float = 1.5) -> float:
    """Poses per second of ``fn(batch)``: the median of repeated calls."""
    fn(batch)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - t0)
    return len(batch) / float(np.median(times))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "checkpoints" / "pose_mlp.onnx"))
    p.add_argument("--table", default=str(ROOT / "runs" / "default_model" / "poses.csv"))
    p.add_argument("--checkpoint", default=str(ROOT / "runs" / "default_model" / "run" / "model.ckpt"))
    p.add_argument("--calls", type=int, default=20000, help="single-pose calls per row")
    args = p.parse_args()

    import onnxruntime as ort

    from posenet_cls.runtime import PoseRuntime
    from posenet_cls.table import read_table

    table = read_table(args.table)
    poses = np.ascontiguousarray(table.keypoints)
    runtime = PoseRuntime(args.model)
    raw = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])  # naive: default options
    rows: list[tuple[str, float, float]] = []

    rows.append(("posenet_cls PoseRuntime.classify (ours)", *latency(runtime.classify, poses, args.calls)))
    rows.append(("onnxruntime session.run, default options", *latency(
        lambda pose: raw.run(None, {"landmarks": pose[None]}), poses, args.calls)))
    torch_row = None
    if Path(args.checkpoint).is_file():
        import torch

        from posenet_cls.checkpoint import load_checkpoint

        torch.set_num_threads(1)
        model, _ = load_checkpoint(args.checkpoint)

        def torch_eager(pose):
            with torch.inference_mode():
                return torch.softmax(model(torch.from_numpy(pose)[None]), dim=1)

        torch_row = ("torch eager (same model, 1 thread)", *latency(torch_eager, poses, args.calls // 4))
        rows.append(torch_row)
    from posenet_cls.models.baselines import make_baseline

    svc = make_baseline("svc-poly", None).fit(poses, table.labels.astype(str))
    rows.append(("article recipe: SVC(kernel='poly') on raw landmarks, predict", *latency(
        lambda pose: svc.predict(pose[None]), poses, args.calls // 10)))

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__}, "
          f"model {Path(args.model).name} ({Path(args.model).stat().st_size // 1024} KiB), {len(poses)} real poses")
    print("\n| single pose | median us | p99 us | vs ours |\n|---|---:|---:|---:|")
    ours = rows[0][1]
    for name, med, p99 in rows:
        print(f"| {name} | {med:.1f} | {p99:.1f} | {med / ours:.1f}x |")

    print("\n| batch | ours, poses/s | onnxruntime default options, poses/s |\n|---:|---:|---:|")
    for size in (1, 64, 4096):
        batch = np.ascontiguousarray(np.resize(poses, (size, 33, 4)))
        ours_b = throughput(runtime.probabilities, batch)
        raw_b = throughput(lambda b: raw.run(None, {"landmarks": b}), batch)
        print(f"| {size} | {ours_b:,.0f} | {raw_b:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
