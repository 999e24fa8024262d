"""Extraction speed: now the extraction section of ``posenet-cls benchmark``, which this runs.

    .venv/bin/python scripts/bench_extract.py [DATA_DIR] [--limit N] [--workers N] [benchmark options]

Same as ``posenet-cls benchmark --only extraction --data DATA_DIR ...``: ms per photo (static mode)
and per frame (tracking mode) of a bare MediaPipe loop and of ours with 1..N workers.
"""

from __future__ import annotations

import sys

from posenet_cls.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):  # the data folder, given as the first argument
        args = ["--data", *args]
    sys.exit(main(["benchmark", "--only", "extraction", *args]))
