"""What every verb's parser shares: worked examples in --help, and the BlazePose backend options."""

from __future__ import annotations

import argparse

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
