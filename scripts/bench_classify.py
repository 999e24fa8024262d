"""Pose classification speed: now the classifier section of ``posenet-cls benchmark``, which this runs.

    .venv/bin/python scripts/bench_classify.py [--data poses.csv] [benchmark options]

Same as ``posenet-cls benchmark --only classifiers ...``: the onnxruntime MLP (ours and with default
session options), torch eager, the SVC baseline, the article's raw-coordinate SVC and k-NN, trained
on one seeded split and timed on the same held-out poses. See ``posenet-cls benchmark --help``.
"""

from __future__ import annotations

import sys

from posenet_cls.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "--only", "classifiers", *sys.argv[1:]]))
