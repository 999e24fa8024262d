"""``posenet-cls export --web DIR``: a static site that runs BlazePose and the classifier in a browser.

The site is self-contained: the page and its JavaScript (``static/``), onnxruntime-web's files
(``vendor/``, vendored from npm by ``scripts/update_onnxruntime_web.py``), the classifier ONNX and
BlazePose's two networks (``models/``), and ``config.json``, which carries everything the
JavaScript must agree on with Python, generated here from the one place each is defined: the
landmark schema, the model's metadata (classes, thresholds), BlazePose's pre/post-processing
constants, the joint angles and the exercise presets. Nothing is fetched from outside the folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from posenet_cls.errors import PosenetError

WEB_DIR = Path(__file__).resolve().parent
STATIC = WEB_DIR / "static"
VENDOR = WEB_DIR / "vendor"
# onnxruntime-web's WebGPU build: its ES module has the WebGPU and the plain wasm backends, on one wasm binary.
VENDOR_FILES: tuple[str, ...] = ("ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs",
                                 "ort-wasm-simd-threaded.asyncify.wasm")
CONFIG_NAME = "config.json"
GENERATOR = "posenet-cls export --web"
MODELS = {"classifier": "models/classifier.onnx", "detector": "models/pose_detection.onnx",
          "landmark": "models/pose_landmark_full.onnx"}


@dataclass(frozen=True)
class SiteOptions:
    """Where the site goes and what it carries: ``model`` None is the shipped classifier."""

    out: Path
    model: Path | None = None
    blazepose_dir: Path | None = None


@dataclass(frozen=True)
class SiteReport:
    """What was written: the folder, its file count and size, the model's classes, onnxruntime-web's version."""

    path: Path
    files: int
    size_bytes: int
    classes: tuple[str, ...]
    ort_version: str


def ort_version() -> str:
    """The vendored onnxruntime-web version (from vendor/VERSION), or an error naming the update script."""
    missing = [name for name in (*VENDOR_FILES, "VERSION") if not (VENDOR / name).is_file()]
    if missing:
        raise PosenetError(f"{VENDOR}: onnxruntime-web files missing ({', '.join(missing)}); "
                           "run python scripts/update_onnxruntime_web.py")
    return (VENDOR / "VERSION").read_text().split()[-1]


def schema_config() -> dict:
    """The landmark schema by index: names, channels, left/right pairs, skeleton edges, the mirror permutation."""
    from posenet_cls.schema import CHANNELS, LANDMARK_NAMES, LEFT_RIGHT_PAIRS, SCHEMA_VERSION, SKELETON_EDGES
    from posenet_cls.schema import mirror_permutation

    return {"version": SCHEMA_VERSION, "landmarks": list(LANDMARK_NAMES), "channels": list(CHANNELS),
            "pairs": [[int(a), int(b)] for a, b in LEFT_RIGHT_PAIRS],
            "edges": sorted([int(a), int(b)] for a, b in SKELETON_EDGES),
            "mirror": [int(i) for i in mirror_permutation()]}


def blazepose_config() -> dict:
    """The constants of MediaPipe's pre/post-processing, as the numpy pipeline uses them."""
    from posenet_cls.pose.blazepose import anchors as ssd
    from posenet_cls.pose.blazepose import geometry as geo
    from posenet_cls.pose.blazepose.pipeline import DETECTOR_OUTPUTS, FRAME_US, INPUT_NAME, LANDMARK_OUTPUTS
    from posenet_cls.pose.blazepose.pipeline import PoseFilters
    from posenet_cls.pose.common import PAD_MARGIN, PREDICT_ATTEMPTS, TURN_AGREEMENT
    from posenet_cls.io.images import MAX_SIDE

    return {"input": INPUT_NAME, "detector_outputs": list(DETECTOR_OUTPUTS), "landmark_outputs": list(LANDMARK_OUTPUTS),
            "detector_size": ssd.DETECTOR_SIZE, "strides": list(ssd.STRIDES), "anchor_offset": ssd.ANCHOR_OFFSET,
            "num_keypoints": ssd.NUM_KEYPOINTS, "box_coords": ssd.BOX_COORDS, "score_clip": ssd.SCORE_CLIP,
            "nms_iou": ssd.NMS_IOU, "landmark_size": geo.LANDMARK_SIZE, "num_points": geo.NUM_POINTS,
            "num_values": geo.NUM_VALUES, "aux_points": [geo.AUX_POINTS.start, geo.AUX_POINTS.stop],
            "roi_scale": geo.ROI_SCALE, "target_angle": geo.TARGET_ANGLE, "heatmap_kernel": geo.HEATMAP_KERNEL,
            "heatmap_min_confidence": geo.HEATMAP_MIN_CONFIDENCE, "min_confidence": 0.5, "frame_us": FRAME_US,
            "visibility_alpha": PoseFilters.VISIBILITY_ALPHA, "filter_landmarks": list(PoseFilters.LANDMARKS),
            "filter_world": list(PoseFilters.WORLD), "filter_aux": list(PoseFilters.AUX),
            "attempts": list(PREDICT_ATTEMPTS), "turn_agreement": TURN_AGREEMENT, "pad_margin": PAD_MARGIN,
            "max_side": MAX_SIDE}


def coaching_config() -> dict:
    """Joint angles by landmark index, the exercise presets, ``auto``'s settings and the default smoothing window."""
    from posenet_cls.coaching import auto
    from posenet_cls.coaching.angles import BASE_NAMES, HIPS, JOINT_ANGLES, SHOULDERS, TRUNK_LEAN
    from posenet_cls.coaching.clip import ClipConfig
    from posenet_cls.coaching.exercises import BUILTIN
    from posenet_cls.coaching.form import BODY_LINE, LINES, SHOW_S
    from posenet_cls.coaching.temporal import DEFAULT_WINDOW_S, HoldTimer

    return {"angles": {name: [int(j) for j in joints] for name, joints in JOINT_ANGLES.items()},
            "trunk_lean": TRUNK_LEAN, "shoulders": [int(j) for j in SHOULDERS], "hips": [int(j) for j in HIPS],
            "base_names": list(BASE_NAMES), "window_s": DEFAULT_WINDOW_S, "hold_tolerance_s": HoldTimer.tolerance_s,
            "body_line": BODY_LINE, "body_lines": {name: [int(j) for j in joints] for name, joints in LINES.items()},
            "form_show_s": SHOW_S,
            "exercises": {name: dataclasses.asdict(ex) for name, ex in BUILTIN.items()},
            "auto": {**dataclasses.asdict(auto.AutoConfig()), "joints": [int(j) for j in auto.MOTION_JOINTS],
                     "spread_percentile": auto.SPREAD_PERCENTILE, "drift_window_s": auto.DRIFT_WINDOW_S,
                     "period": {name: getattr(ClipConfig(), name)  # the window's period, found as the file counter does
                                for name in ("min_period_s", "max_period_s", "min_cycles", "peak_share")}}}


def site_config(metadata: dict, version: str) -> dict:
    """Everything the JavaScript shares with Python: config.json."""
    return {"generator": GENERATOR, "onnxruntime_web": version, "models": MODELS, "schema": schema_config(),
            "model": metadata, "blazepose": blazepose_config(), "coaching": coaching_config()}


def write_web_classifier(source: Path, out: Path, metadata: dict) -> dict:
    """The classifier as one graph with its novelty flag as a plain input; returns the metadata for config.json.

    onnxruntime-web runs one graph per session and accepts no feed for an initializer, so the web
    copy has the novelty head behind an If on the required input ``with_novelty`` (the page feeds 1).
    A model that carries the head as a second graph (metadata ``posenet_cls.novelty``) has it grafted
    in; an older If form model has the flag's default dropped. A graph with a ``world`` input gets the
    metadata entry that makes the page feed it, if it lacks one. Nothing else changes.
    """
    import base64

    import onnx

    from posenet_cls.runtime import NOVELTY_FLAG, NOVELTY_GRAPH_KEY, WORLD_NAME
    from posenet_cls.training.export import graft_novelty, world_input

    model = onnx.load(str(source))
    if WORLD_NAME in [i.name for i in model.graph.input] and "world" not in metadata:
        metadata = {**metadata, "world": world_input()}
    heads = [e for e in model.metadata_props if e.key == NOVELTY_GRAPH_KEY]
    if heads and "novelty" in metadata:
        graft_novelty(model, base64.b64decode(heads[0].value))
        metadata = {**metadata, "novelty": {**metadata["novelty"], "flag": NOVELTY_FLAG}}
    kept_props = [e for e in model.metadata_props if e.key != NOVELTY_GRAPH_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept_props)
    flag = (metadata.get("novelty") or {}).get("flag")
    kept = [init for init in model.graph.initializer if init.name != flag]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.save(model, str(out))
    return metadata


def _check_target(out: Path) -> None:
    """Refuse a DIR that exists and is not empty, unless it is a site this command wrote (then it is replaced)."""
    if out.exists() and not out.is_dir():
        raise PosenetError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            previous = json.loads((out / CONFIG_NAME).read_text()).get("generator")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != GENERATOR:
            raise PosenetError(f"{out}: the folder exists and holds other files; choose a new or empty folder "
                               f"(a site written by '{GENERATOR}' is replaced)")


def export_site(options: SiteOptions) -> SiteReport:
    """Write the site into ``options.out`` atomically: a temporary folder beside it, renamed into place."""
    from posenet_cls.infer.photos import load_model
    from posenet_cls.pose.blazepose import files

    out = Path(options.out)
    _check_target(out)
    version = ort_version()
    runtime = load_model(options.model)
    networks = files.require_networks(options.blazepose_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    try:
        shutil.copytree(STATIC, tmp)
        shutil.copytree(VENDOR, tmp / "vendor", ignore=shutil.ignore_patterns("node_modules"))
        (tmp / "models").mkdir()
        metadata = write_web_classifier(runtime.path, tmp / MODELS["classifier"], runtime.metadata)
        shutil.copy(networks["detector"], tmp / MODELS["detector"])
        shutil.copy(networks["landmark"], tmp / MODELS["landmark"])
        (tmp / CONFIG_NAME).write_text(json.dumps(site_config(metadata, version), indent=1))
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    written = [p for p in out.rglob("*") if p.is_file()]
    return SiteReport(out, len(written), sum(p.stat().st_size for p in written), runtime.classes, version)
