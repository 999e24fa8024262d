"""Parity and speed of the onnxruntime BlazePose backend against MediaPipe's own (``--backend onnx`` vs mediapipe).

    .venv/bin/python scripts/blazepose_parity.py                 # all of yoga8 + the clips, ONNX networks
    .venv/bin/python scripts/blazepose_parity.py --json          # the same figures as JSON
    .venv/bin/python scripts/blazepose_parity.py --speed         # + per-stage times at batch 1, 16, 64
    .venv/bin/python scripts/blazepose_parity.py --networks tflite   # dev: the wheel's TFLite networks instead

Static mode (photos, with the retries of posenet_cls.pose.extract): photos with a pose in each backend
and how many differ, landmark x, y absolute difference (image-normalised) median and 95th
percentile, visibility 95th percentile, and the shipped classifier's label agreement ("no pose"
counts as a label). Tracking mode: the same per clip of shared/data/video. Photos are decoded
before timing. ``--networks tflite`` needs ai-edge-litert (a dev tool, never used by the package).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from posenet_cls.pose.blazepose.pipeline import DETECTOR_OUTPUTS, LANDMARK_OUTPUTS, STAGES, OnnxPoseExtractor
from posenet_cls.config import data_dir
from posenet_cls.io.images import load_image
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.mediapipe_backend import PoseExtractor

TFLITE_FILES = {
    "detector": (
        "modules/pose_detection/pose_detection.tflite",
        dict(zip(DETECTOR_OUTPUTS, ("Identity", "Identity_1"))),
    ),
    "landmark": (
        "modules/pose_landmark/pose_landmark_full.tflite",
        dict(zip(LANDMARK_OUTPUTS, ("Identity", "Identity_1", "Identity_3", "Identity_4"))),
    ),
}
SPEED_BATCHES = (1, 16, 64)


class TfliteNetwork:
    """A TFLite network of the mediapipe wheel behind onnxruntime's ``run(names, feeds)`` (one image per invoke).

    An interpreter is not thread-safe: calls from the extractor's workers take turns.
    """

    def __init__(self, path: Path, outputs: dict[str, str], threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self._lock = threading.Lock()
        self._interpreter = Interpreter(str(path), num_threads=threads or 1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        by_name = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._outputs = {key: by_name[name] for key, name in outputs.items()}

    def run(self, output_names, feeds):
        images = feeds["image"]
        got: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
        with self._lock:
            for i in range(len(images)):
                self._interpreter.set_tensor(self._input, np.ascontiguousarray(images[i : i + 1]))
                self._interpreter.invoke()
                for name in output_names:
                    got[name].append(self._interpreter.get_tensor(self._outputs[name]).copy())
        return [np.concatenate(got[name]) for name in output_names]


def tflite_networks(threads: int | None = None) -> dict[str, TfliteNetwork]:
    """The wheel's detector and landmark (full) TFLite networks with the ONNX networks' interface."""
    root = Path(importlib.util.find_spec("mediapipe").origin).parent
    return {key: TfliteNetwork(root / rel, outputs, threads) for key, (rel, outputs) in TFLITE_FILES.items()}


def extractor(args, **kwargs) -> OnnxPoseExtractor:
    """The backend under test, on ONNX (default) or TFLite networks."""
    networks = tflite_networks(args.threads) if args.networks == "tflite" else None
    return OnnxPoseExtractor(args.model_dir, device=args.device, threads=args.threads, networks=networks, **kwargs)


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


def compare(reference: list[np.ndarray | None], ours: list[np.ndarray | None]) -> dict:
    """Pose presence counts and landmark differences between two lists of (33, 4) poses (None: no pose)."""
    both = [(a, b) for a, b in zip(reference, ours) if a is not None and b is not None]
    out = {
        "items": len(reference),
        "pose_mediapipe": sum(a is not None for a in reference),
        "pose_onnx": sum(b is not None for b in ours),
        "pose_differs": sum((a is None) != (b is None) for a, b in zip(reference, ours)),
    }
    if both:
        diff = np.abs(np.stack([a for a, _ in both]) - np.stack([b for _, b in both]))
        xy = diff[..., :2]
        out.update(
            xy_median=float(np.median(xy)),
            xy_p95=float(np.percentile(xy, 95)),
            xy_max=float(xy.max()),
            visibility_p95=float(np.percentile(diff[..., 3], 95)),
            z_p95=float(np.percentile(diff[..., 2], 95)),
        )
    return out


def label_agreement(reference: list[np.ndarray | None], ours: list[np.ndarray | None]) -> dict:
    """The shipped classifier's labels on both backends' poses; 'no pose' is a label of its own."""
    from posenet_cls.infer.photos import load_model

    runtime = load_model()

    def labels(poses):
        found = [p for p in poses if p is not None]
        preds = iter(runtime.classify_batch(np.stack(found)) if found else [])
        return [next(preds).label if p is not None else "no pose" for p in poses]

    a, b = labels(reference), labels(ours)
    same = sum(x == y for x, y in zip(a, b))
    return {"photos": len(a), "same_label": same, "agreement": same / max(1, len(a))}


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def photos_run(args) -> dict:
    """Static mode on every photo of yoga8 in both backends."""
    root = args.data / "yoga8"
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if args.limit:
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
    images = [load_image(p) for p in files]
    with PoseExtractor() as mp:
        t = time.perf_counter()
        reference = [mp.photo(im) for im in images]
        mp_s = time.perf_counter() - t
    with extractor(args, batch=args.batch) as ours:
        ours.photos(images[:2])  # warm-up: session start, first allocations
        t = time.perf_counter()
        found = ours.photos(images)
        ours_s = time.perf_counter() - t
    ref_kp = [r.keypoints for r in reference]
    our_kp = [r.keypoints for r in found]
    result = compare(ref_kp, our_kp)
    result["attempt_differs"] = sum(a.attempt != b.attempt for a, b in zip(reference, found))
    result["no_pose_mediapipe"] = [str(f.relative_to(root)) for f, r in zip(files, reference) if r.keypoints is None]
    result["no_pose_onnx"] = [str(f.relative_to(root)) for f, r in zip(files, found) if r.keypoints is None]
    result["classifier"] = label_agreement(ref_kp, our_kp)
    result["photos_per_s"] = {"mediapipe": len(images) / mp_s, "onnx": len(images) / ours_s}
    return result


def clips_run(args) -> dict:
    """Tracking mode on each clip of shared/data/video in both backends."""
    out = {}
    for clip in sorted((args.data / "video").glob("*.mp4")):
        with VideoReader(clip) as video:
            frames = [(t, rgb) for _, t, rgb in video]
        with PoseExtractor(tracking=True) as mp:
            t0 = time.perf_counter()
            reference = [mp.frame(rgb, t) for t, rgb in frames]
            mp_s = time.perf_counter() - t0
        with extractor(args, tracking=True) as ours:
            ours.frame(frames[0][1], 0.0)
            ours.reset()
            t0 = time.perf_counter()
            found = [ours.frame(rgb, t) for t, rgb in frames]
            ours_s = time.perf_counter() - t0
        result = compare([r[0] if r else None for r in reference], [r[0] if r else None for r in found])
        result["frames_per_s"] = {"mediapipe": len(frames) / mp_s, "onnx": len(frames) / ours_s}
        out[clip.name] = result
    return out


def speed_run(args) -> dict:
    """Per-stage ms per photo of the ONNX backend at several batch sizes (plain attempt only), and tracking per frame."""
    root = args.data / "yoga8"
    files = sorted(p for p in root.rglob("*") if p.is_file())[:: max(1, 483 // args.speed_photos)][: args.speed_photos]
    images = [load_image(p) for p in files]
    out = {}
    for batch in SPEED_BATCHES:
        with extractor(args, batch=batch, retries=False) as ours:
            ours.photos(images[:batch])
            ours.stage_seconds = dict.fromkeys(STAGES, 0.0)
            t = time.perf_counter()
            ours.photos(images)
            total = time.perf_counter() - t
        stages = {k: 1000 * v / len(images) for k, v in ours.stage_seconds.items() if k != "filter"}
        out[f"batch {batch}"] = {"ms_per_photo": 1000 * total / len(images), "stages_ms": stages}
    with PoseExtractor(retries=False) as mp:
        t = time.perf_counter()
        for im in images:
            mp.photo(im)
        out["mediapipe"] = {"ms_per_photo": 1000 * (time.perf_counter() - t) / len(images)}
    clip = min((args.data / "video").glob("*.mp4"))
    with VideoReader(clip) as video:
        frames = [rgb for _, _, rgb in video]
    with extractor(args, tracking=True) as ours:
        ours.frame(frames[0], 0.0)
        ours.reset()
        ours.stage_seconds = dict.fromkeys(STAGES, 0.0)
        t = time.perf_counter()
        for i, rgb in enumerate(frames):
            ours.frame(rgb, i / 30)
        total = time.perf_counter() - t
    out["tracking"] = {
        "ms_per_frame": 1000 * total / len(frames),
        "stages_ms": {k: 1000 * v / len(frames) for k, v in ours.stage_seconds.items()},
    }
    return out


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------


def _row(name: str, r: dict) -> str:
    if "xy_median" not in r:
        return f"{name:28s} {r['pose_mediapipe']:>5d} {r['pose_onnx']:>5d} {r['pose_differs']:>6d}"
    return (
        f"{name:28s} {r['pose_mediapipe']:>5d} {r['pose_onnx']:>5d} {r['pose_differs']:>6d} "
        f"{r['xy_median']:>10.6f} {r['xy_p95']:>10.6f} {r['xy_max']:>9.5f} {r['visibility_p95']:>9.5f}"
    )


def print_report(report: dict) -> None:
    print(f"networks: {report['networks']}, device: {report['device']}, batch: {report['batch']}")
    print(
        f"{'':28s} {'pose':>5s} {'pose':>5s} {'differ':>6s} {'xy median':>10s} {'xy p95':>10s} {'xy max':>9s} {'vis p95':>9s}"
    )
    print(f"{'':28s} {'mp':>5s} {'onnx':>5s}")
    if "photos" in report:
        p = report["photos"]
        print(_row(f"yoga8 ({p['items']} photos)", p))
        c = p["classifier"]
        print(f"  classifier labels: {c['same_label']}/{c['photos']} agree ({100 * c['agreement']:.1f}%)")
        print(
            f"  attempt differs: {p['attempt_differs']}; no pose: mediapipe {p['no_pose_mediapipe']}, onnx {p['no_pose_onnx']}"
        )
        s = p["photos_per_s"]
        print(f"  photos/s: mediapipe {s['mediapipe']:.1f}, onnx {s['onnx']:.1f} ({s['onnx'] / s['mediapipe']:.2f}x)")
    for name, r in report.get("clips", {}).items():
        print(_row(f"{name} (tracking)", r))
        s = r["frames_per_s"]
        print(f"  frames/s: mediapipe {s['mediapipe']:.1f}, onnx {s['onnx']:.1f} ({s['onnx'] / s['mediapipe']:.2f}x)")
    if "speed" in report:
        print("\nms per photo (plain attempt; total is wall time, stages are summed over the worker threads):")
        names = [k for k in STAGES if k != "filter"]
        print(f"{'':12s} {'total':>7s} " + " ".join(f"{k:>10s}" for k in names))
        for key, r in report["speed"].items():
            stages = r.get("stages_ms", {})
            total = r.get("ms_per_photo", r.get("ms_per_frame"))
            print(
                f"{key:12s} {total:7.2f} "
                + " ".join(f"{stages.get(k, float('nan')):10.2f}" for k in names)
                + (f"  filter {stages['filter']:.2f}" if "filter" in stages else "")
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=data_dir(), help="example data folder (yoga8/, video/)")
    parser.add_argument("--networks", choices=("onnx", "tflite"), default="onnx")
    parser.add_argument("--model-dir", type=Path, default=None, help="folder of the ONNX networks")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--limit", type=int, default=0, help="use only this many photos, spread over yoga8")
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--no-clips", action="store_true")
    parser.add_argument("--speed", action="store_true", help="per-stage times at batch 1, 16, 64")
    parser.add_argument("--speed-photos", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict = {"networks": args.networks, "device": args.device, "batch": args.batch}
    if not args.no_photos:
        report["photos"] = photos_run(args)
    if not args.no_clips:
        report["clips"] = clips_run(args)
    if args.speed:
        report["speed"] = speed_run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
