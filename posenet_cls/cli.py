"""The ``posenet-cls`` command: thin argument parsing over the library, one module per verb.

Errors from the library (:class:`PosenetError`) become one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from posenet_cls import __version__
from posenet_cls.errors import OtherRankDone, PosenetError

# Quiet MediaPipe/TFLite start-up logging; must be set before mediapipe is imported. OpenCV's own log
# (V4L2 warnings for a missing webcam) and FFmpeg's through OpenCV ("moov atom not found", decode
# errors mid-stream, on the reader thread) are read when cv2 first uses them: errors stay ours, one line.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

# Verbs in the order --help lists them; each is a module of posenet_cls.commands.
ORDER = ("extract", "convert", "train", "evaluate", "export", "predict", "benchmark", "convert-blazepose")


def command_names() -> list[str]:
    """The verbs present in posenet_cls.commands, in ORDER first."""
    import pkgutil

    from posenet_cls import commands

    found = {m.name.replace("_", "-") for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every verb's sub-parser."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="posenet-cls",
        description="Recognise human poses (yoga, fitness) from photos, videos and a webcam.",
        epilog="Run 'posenet-cls COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"posenet-cls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_names():
        importlib.import_module(f"posenet_cls.commands.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run the verb, turn library errors into one line and an exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except OtherRankDone:  # a distributed-training worker: rank 0 reports
        return 0
    except PosenetError as e:
        print(f"posenet-cls {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"posenet-cls {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (| head): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
