"""``posenet-cls convert``: a keypoint table from CSV to Parquet and back, validated on read."""

from __future__ import annotations

import json

from posenet_cls.commands._parsing import add_command

EXAMPLES = """\
  posenet-cls convert poses.csv poses.parquet            # CSV -> Parquet (float32, zstd)
  posenet-cls convert poses.parquet poses.csv            # Parquet -> CSV
  posenet-cls convert ray_poses.parquet/ poses.csv       # the shard folder of 'extract --engine ray' -> one file
  posenet-cls convert poses.csv poses.parquet --json     # {"source", "out", "rows", "classes"}

The input is validated exactly as 'train' reads it; the output is written under a temporary
name and renamed into place. Parquet needs pyarrow: pip install "posenet-cls[parquet]".
"""


def register(sub) -> None:
    p = add_command(sub, "convert", "Convert a keypoint table between CSV and Parquet.", EXAMPLES)
    p.add_argument("source", metavar="IN", help="table to read: .csv, .parquet or a folder of .parquet shards")
    p.add_argument("out", metavar="OUT", help="table to write: .csv or .parquet")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from posenet_cls.data.table import convert_table

    table = convert_table(args.source, args.out)
    if args.json:
        print(json.dumps({"source": args.source, "out": args.out, "rows": len(table), "classes": table.classes}))
    else:
        print(f"{len(table)} rows, {len(table.classes)} classes: {args.source} -> {args.out}")
    return 0
