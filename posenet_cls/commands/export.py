"""``posenet-cls export``: a trained run -> one ONNX file any ONNX runtime can use; ``--web DIR``: a static site."""

from __future__ import annotations

import json
from dataclasses import asdict

from posenet_cls.commands._parsing import add_command
from posenet_cls.errors import PosenetError

EXAMPLES = """\
  posenet-cls export runs/mlp -o model.onnx                  # checks parity on the run's own table
  posenet-cls export runs/mlp -o model.onnx --table poses.csv
  posenet-cls export runs/mlp -o model.onnx --unknown-threshold 0.6
  posenet-cls export runs/mlp -o model.onnx --no-novelty      # without the novelty score
  posenet-cls export runs/mlp -o model.onnx --json            # {"path", "classes", "poses_checked", ...}
  posenet-cls predict ../shared/data/yoga8 --model model.onnx
  posenet-cls export --web site/                              # the shipped model in a static site
  posenet-cls export --web site/ --model model.onnx           # your own model
  python -m http.server -d site 8000                          # then open http://localhost:8000

The graph takes raw BlazePose landmarks 'landmarks' float32 (batch, 33, 4), exactly as MediaPipe
returns them, and gives 'probabilities' (batch, classes); normalisation is inside the graph. Class
names, schema version, normalisation settings and the unknown threshold are JSON in the ONNX
metadata under the key 'posenet_cls'. With the run's novelty model (the default), the file also
carries the novelty head, a second graph under the metadata key 'posenet_cls.novelty' that gives
'novelty' (batch,) from (landmarks, probabilities): the distance to the nearest training poses of
the predicted class. PoseRuntime runs it only when novelty is asked for, so plain classification
costs nothing more.

--web DIR writes a self-contained static site instead: the page and its JavaScript, onnxruntime-web
(vendored, no CDN), the classifier (the shipped one or --model) and BlazePose's two networks. Any
static server works; nothing is fetched from outside DIR. A DIR holding other files is refused; a
site written by an earlier --web is replaced.
"""


def register(sub) -> None:
    p = add_command(sub, "export", "Export a trained MLP run to ONNX (raw landmarks in, probabilities out).", EXAMPLES)
    p.add_argument("run_dir", nargs="?",
                   help="run folder written by posenet-cls train (holds model.ckpt), or a .ckpt file")
    p.add_argument("-o", "--out", default="model.onnx", help="ONNX file to write (default model.onnx)")
    p.add_argument("--table", help="keypoint table for the parity check (default: the table the run was trained on)")
    p.add_argument("--unknown-threshold", type=float, default=None,
                   help="top probability under which predict answers 'unknown' (default 0.5, stored in the file)")
    p.add_argument("--no-novelty", action="store_true",
                   help="leave out the novelty score (a smaller file; the classifier graph is the same)")
    p.add_argument("--web", metavar="DIR", help="write a static site that runs BlazePose and the model in a browser")
    p.add_argument("--model", help="--web: the exported ONNX classifier to put in the site (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print what was written (and the parity figures) as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.web is not None or args.model is not None:
        return run_web(args)
    if args.run_dir is None:
        raise PosenetError("give a run folder to export (posenet-cls export runs/mlp -o model.onnx) or --web DIR")
    from posenet_cls.training.export import NOVELTY_TOLERANCE, PARITY_TOLERANCE, export_run, predict_command

    report = export_run(args.run_dir, args.out, table=args.table, unknown_threshold=args.unknown_threshold,
                        novelty=not args.no_novelty)
    if args.json:
        print(json.dumps({**asdict(report), "predict": predict_command(report.path)}))
        return 0
    print(f"wrote {report.path} ({report.size_bytes / 1024:.0f} KiB, {len(report.classes)} classes: {', '.join(report.classes)})")
    print(f"ONNX checker: ok; onnxruntime vs torch on {report.poses_checked} real poses: "
          f"max abs difference {report.max_abs_diff:.2e} (tolerance {PARITY_TOLERANCE:g}), "
          f"top class {'identical' if report.same_top_class else 'DIFFERENT'}")
    if report.novelty_max_abs_diff is not None:
        print(f"novelty head vs numpy: max abs difference {report.novelty_max_abs_diff:.2e} (tolerance {NOVELTY_TOLERANCE:g})")
    print(f"use it:\n  {predict_command(report.path)}")
    return 0


def run_web(args) -> int:
    """``export --web DIR [--model M]``: the static site."""
    from pathlib import Path

    from posenet_cls.web.site import SiteOptions, export_site

    if args.web is None:
        raise PosenetError("--model goes with --web DIR (a run is exported with: posenet-cls export RUN -o model.onnx)")
    if args.run_dir is not None:
        raise PosenetError(f"--web exports an ONNX model (--model), not a run folder; got {args.run_dir!r}")
    report = export_site(SiteOptions(Path(args.web), Path(args.model) if args.model else None))
    if args.json:
        print(json.dumps({**asdict(report), "path": str(report.path), "classes": list(report.classes)}))
        return 0
    print(f"wrote {report.path}/ ({report.files} files, {report.size_bytes / 2**20:.1f} MiB; onnxruntime-web "
          f"{report.ort_version}; {len(report.classes)} classes: {', '.join(report.classes)})")
    print(f"serve it:\n  python -m http.server -d {report.path} 8000    # then open http://localhost:8000")
    return 0
