"""Convert BlazePose's detector and landmark networks from the installed mediapipe wheel to ONNX.

    python -m posenet_cls.pose.blazepose                   # into the default folder (scripts/convert_blazepose.py: the same)
    python -m posenet_cls.pose.blazepose --out nets --check  # + raw parity vs the TFLite interpreter
    python -m posenet_cls.pose.blazepose --out nets --bench  # + ms per image, onnxruntime vs TFLite
    python -m posenet_cls.pose.blazepose --out nets --json   # paths, sizes, seconds as JSON

Needs the ``convert`` extra (tflite, ai-edge-litert). Files outside the default folder are found
through $POSENET_CLS_BLAZEPOSE_DIR. --check compares every kept output on random inputs and on photos
of the example data (stretched to the input size, scaled to its range).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from posenet_cls.pose.blazepose import convert as conv
from posenet_cls.pose.blazepose.files import DIR_ENV, cache_dir, default_dir
from posenet_cls.config import data_dir
from posenet_cls.errors import PosenetError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def example_photos(limit: int) -> list[Path]:
    """Up to limit photos of the example data's yoga8 folder, spread over its classes."""
    root = data_dir() / "yoga8"
    photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise PosenetError(f"{root}: no example photos for --check (set POSENET_CLS_DATA)")
    step = max(len(photos) // limit, 1)
    return photos[::step][:limit]


def check(paths: dict[str, Path], n_random: int, n_photos: int) -> dict[str, dict[str, dict[str, float]]]:
    """Max abs diff per network, input set and output: onnxruntime vs the TFLite interpreter."""
    photos = example_photos(n_photos)
    report = {}
    for key, net in conv.NETWORKS.items():
        shape = (n_random, net.input_size, net.input_size, 3)
        noise = np.random.default_rng(0).uniform(*net.input_range, size=shape).astype(np.float32)
        report[key] = {
            "random": conv.parity(key, paths[key], noise),
            "photos": conv.parity(key, paths[key], conv.simple_inputs(photos, key)),
        }
    return report


def _median_ms(fn, seconds: float) -> float:
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def bench(paths: dict[str, Path], rounds: int = 3, seconds: float = 0.4) -> dict[str, dict[str, float]]:
    """ms per image, best of rounds of medians: onnxruntime (batch 1, 16) and TFLite (batch 1), 1 and 2 threads."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    sources, report = conv.source_paths(), {}
    for key, net in conv.NETWORKS.items():
        shape = (16, net.input_size, net.input_size, 3)
        x = np.random.default_rng(0).uniform(*net.input_range, size=shape).astype(np.float32)
        runs = {}
        for threads in (1, 2):
            interp = Interpreter(model_path=str(sources[key]), num_threads=threads)
            interp.allocate_tensors()
            index = interp.get_input_details()[0]["index"]

            def tflite(interp=interp, index=index, x=x):
                interp.set_tensor(index, x[:1])
                interp.invoke()

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(paths[key]), options, providers=["CPUExecutionProvider"])
            runs[f"tflite_t{threads}_b1"] = (tflite, 1)
            for batch in (1, 16):
                runs[f"onnx_t{threads}_b{batch}"] = (
                    lambda s=session, b=batch, x=x: s.run(None, {"image": x[:b]}),
                    batch,
                )
        times = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (fn, batch) in runs.items():
                times[name].append(_median_ms(fn, seconds) / batch)
        report[key] = {name: round(min(v), 3) for name, v in times.items()}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"output folder (default: ${DIR_ENV} or {cache_dir()})"
    )
    parser.add_argument("--weights", choices=conv.WEIGHT_DTYPES, default="float16",
                        help="float16: half-size files, bit-identical outputs (the TFLite weights are float16)")  # fmt: skip
    parser.add_argument("--check", action="store_true", help="raw parity vs the TFLite interpreter")
    parser.add_argument("--random", type=int, default=4, help="random inputs for --check (default 4)")
    parser.add_argument("--photos", type=int, default=8, help="example photos for --check (default 8)")
    parser.add_argument("--bench", action="store_true", help="ms per image, onnxruntime vs the TFLite interpreter")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        start = time.perf_counter()
        out = args.out if args.out is not None else Path(os.environ.get(DIR_ENV) or cache_dir()).expanduser()
        paths = conv.convert_all(out, weights=args.weights)
        seconds = time.perf_counter() - start
        result = {
            "seconds": round(seconds, 3),
            "networks": {key: {"path": str(p), "bytes": p.stat().st_size} for key, p in paths.items()},
        }
        if args.check:
            result["max_abs_diff"] = check(paths, args.random, args.photos)
        if args.bench:
            result["ms_per_image"] = bench(paths)
    except (PosenetError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, info in result["networks"].items():
        print(f"{key:9s} {info['path']}  {info['bytes'] / 1e6:.1f} MB")
    print(f"converted in {result['seconds']:.2f} s")
    for key, sets in result.get("max_abs_diff", {}).items():
        for name, diffs in sets.items():
            print(f"{key:9s} max |onnx - tflite| on {name}: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items()))
    for key, times in result.get("ms_per_image", {}).items():
        print(f"{key:9s} ms/image: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
    out = next(iter(paths.values())).parent
    if out != default_dir():
        print(f"use them with: export {DIR_ENV}={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
