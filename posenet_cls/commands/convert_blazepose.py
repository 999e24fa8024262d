"""``posenet-cls convert-blazepose``: BlazePose's two networks from the installed mediapipe wheel to ONNX."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from posenet_cls.commands._parsing import add_command

EXAMPLES = """\
  posenet-cls convert-blazepose --out nets                # into a folder of your own
  posenet-cls convert-blazepose --out nets --check        # + raw parity vs the TFLite interpreter
  posenet-cls convert-blazepose --out nets --bench        # + ms per image, onnxruntime vs TFLite
  posenet-cls convert-blazepose --out nets --json         # paths, sizes, seconds as JSON

The networks ship with posenet-cls (checkpoints/blazepose); this makes them again, e.g. for
another mediapipe release. Needs the convert extra: pip install "posenet-cls[convert]". Folders
other than the default are used through $POSENET_CLS_BLAZEPOSE_DIR. --check compares every kept
output on random inputs and on photos of the example data.
"""


def register(sub) -> None:
    from posenet_cls.pose.blazepose.files import DIR_ENV, cache_dir

    p = add_command(sub, "convert-blazepose", "Convert BlazePose's networks from the mediapipe wheel to ONNX.",
                    EXAMPLES)
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default: ${DIR_ENV} or {cache_dir()})")
    p.add_argument("--weights", choices=("float16", "float32"), default="float16",
                   help="float16: half-size files, bit-identical outputs (the TFLite weights are float16)")
    p.add_argument("--check", action="store_true", help="raw parity vs the TFLite interpreter")
    p.add_argument("--random", type=int, default=4, help="random inputs for --check (default 4)")
    p.add_argument("--photos", type=int, default=8, help="example photos for --check (default 8)")
    p.add_argument("--bench", action="store_true", help="ms per image, onnxruntime vs the TFLite interpreter")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from posenet_cls.pose.blazepose import convert as conv
    from posenet_cls.pose.blazepose import tools
    from posenet_cls.pose.blazepose.files import DIR_ENV, cache_dir, default_dir

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    out = args.out if args.out is not None else Path(os.environ.get(DIR_ENV) or cache_dir()).expanduser()
    paths = conv.convert_all(out, weights=args.weights)
    result = {
        "seconds": round(time.perf_counter() - start, 3),
        "networks": {key: {"path": str(p), "bytes": p.stat().st_size} for key, p in paths.items()},
    }
    if args.check:
        result["max_abs_diff"] = tools.check(paths, args.random, args.photos)
    if args.bench:
        result["ms_per_image"] = tools.bench(paths)
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
    if out.resolve() != default_dir().resolve():
        print(f"use them with: export {DIR_ENV}={out}")
    return 0
