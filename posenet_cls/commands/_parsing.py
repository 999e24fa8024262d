"""What every verb's parser shares: worked examples in --help, and the BlazePose backend options."""

from __future__ import annotations

import argparse
import sys

from posenet_cls.pose.extract import BACKENDS, PoseOptions


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


def pose_options(args, **extra) -> PoseOptions:
    """The pose options of a verb's arguments (``extra``: fields the verb sets itself); when several people
    moved BlazePose to onnxruntime (:class:`PoseOptions` decides), say so once on stderr."""
    options = PoseOptions(backend=args.backend, model=args.pose_model, device=args.device, batch=args.batch,
                          max_people=args.max_people, **extra)
    if options.backend != args.backend:
        print(f"--max-people {args.max_people}: several people need BlazePose on onnxruntime; using --backend onnx",
              file=sys.stderr)
    return options
