"""Checks of the converted networks: raw parity with the TFLite interpreter, and their speed (ms per image).

Needs the ``convert`` extra (tflite, ai-edge-litert), like the converter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from posenet_cls.config import data_dir
from posenet_cls.errors import PosenetError
from posenet_cls.pose.blazepose import convert as conv

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
