"""What every verb's parser shares: worked examples in --help, and the BlazePose backend options."""

from __future__ import annotations

import argparse
import sys

from posenet_cls.errors import PosenetError
from posenet_cls.pose.extract import BACKENDS


def add_command(sub, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A sub-parser whose --help ends with worked examples."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """--backend, --batch and --device: which BlazePose runs (extract and predict share them)."""
    p.add_argument("--backend", choices=BACKENDS, default="mediapipe",
                   help="BlazePose through MediaPipe (default) or onnxruntime (batched, CUDA when present; "
                        "its networks ship with posenet-cls)")
    p.add_argument("--batch", type=int, default=16, help="--backend onnx: photos per network call (default 16)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="--backend onnx: where the networks run (default auto: CUDA when onnxruntime has it)")


def add_max_people_argument(p: argparse.ArgumentParser, what: str) -> None:
    """--max-people N: several people per photo or frame (extract and predict share it); ``what`` ends its help."""
    p.add_argument("--max-people", type=int, default=1, metavar="N",
                   help=f"up to N people per photo or frame (default 1; N > 1 runs BlazePose on onnxruntime); {what}")


def use_max_people(args) -> None:
    """Refuse a bad --max-people; with N > 1 switch to the onnx backend, saying so once on stderr."""
    if not isinstance(args.max_people, int) or args.max_people < 1:
        raise PosenetError(f"--max-people must be a whole number >= 1, got {args.max_people}")
    if args.max_people > 1 and args.backend != "onnx":
        print(f"--max-people {args.max_people}: several people need BlazePose on onnxruntime; using --backend onnx",
              file=sys.stderr)
        args.backend = "onnx"
