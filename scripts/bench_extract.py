"""Print ms per photo for posenet-cls extraction (1 and 2 workers) next to a bare MediaPipe loop.

    .venv/bin/python scripts/bench_extract.py [DATA_DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

from posenet_cls.bench import extraction_benchmark, machine_description  # noqa: E402
from posenet_cls.config import data_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=data_dir() / "yoga8", help="class-folder tree")
    parser.add_argument("--limit", type=int, help="use N photos spread over the classes (default: all)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = extraction_benchmark(args.data, args.limit, tuple(args.workers))
    print(f"# extraction, {rows[0]['photos']} photos of {args.data}; {machine_description()}")
    print("| what | workers | poses | ms/photo | speed vs bare loop |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['workers']} | {r['poses']} | {r['ms_per_photo']:.1f} | {r['vs_bare']:.2f}x |")


if __name__ == "__main__":
    main()
