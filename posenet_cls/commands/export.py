"""``posenet-cls export``: a trained run -> one ONNX file that any ONNX runtime can use."""

from __future__ import annotations

from posenet_cls.commands._parsing import add_command

EXAMPLES = """\
  posenet-cls export runs/mlp -o model.onnx                  # checks parity on the run's own table
  posenet-cls export runs/mlp -o model.onnx --table poses.csv
  posenet-cls export runs/mlp -o model.onnx --unknown-threshold 0.6
  posenet-cls export runs/mlp -o model.onnx --no-novelty      # a graph OpenCV's DNN module can read
  posenet-cls predict ../shared/data/yoga8 --model model.onnx

The graph takes raw BlazePose landmarks 'landmarks' float32 (batch, 33, 4), exactly as MediaPipe
returns them, and gives 'probabilities' (batch, classes); normalisation is inside the graph. Class
names, schema version, normalisation settings and the unknown threshold are JSON in the ONNX
metadata under the key 'posenet_cls'. With the run's novelty model (the default), the graph also
gives 'novelty' (batch,) when its input 'with_novelty' is 1.0: the distance to the nearest training
poses of the predicted class, behind an ONNX If, so plain classification costs nothing more.
"""


def register(sub) -> None:
    p = add_command(sub, "export", "Export a trained MLP run to ONNX (raw landmarks in, probabilities out).", EXAMPLES)
    p.add_argument("run_dir", help="run folder written by posenet-cls train (holds model.ckpt), or a .ckpt file")
    p.add_argument("-o", "--out", default="model.onnx", help="ONNX file to write (default model.onnx)")
    p.add_argument("--table", help="keypoint table for the parity check (default: the table the run was trained on)")
    p.add_argument("--unknown-threshold", type=float, default=None,
                   help="top probability under which predict answers 'unknown' (default 0.5, stored in the file)")
    p.add_argument("--no-novelty", action="store_true",
                   help="leave out the novelty score (its ONNX If node is not readable by OpenCV's DNN module)")
    p.set_defaults(func=run)


def run(args) -> int:
    from posenet_cls.training.export import PARITY_TOLERANCE, export_run, predict_command

    report = export_run(args.run_dir, args.out, table=args.table, unknown_threshold=args.unknown_threshold,
                        novelty=not args.no_novelty)
    print(f"wrote {report.path} ({report.size_bytes / 1024:.0f} KiB, {len(report.classes)} classes: {', '.join(report.classes)})")
    print(f"ONNX checker: ok; onnxruntime vs torch on {report.poses_checked} real poses: "
          f"max abs difference {report.max_abs_diff:.2e} (tolerance {PARITY_TOLERANCE:g}), "
          f"top class {'identical' if report.same_top_class else 'DIFFERENT'}")
    print(f"use it:\n  {predict_command(report.path)}")
    return 0
