"""The exported page in headless Chromium against Python: speed on the example clips, parity on yoga8 photos.

    .venv/bin/python scripts/bench_web.py                  # fps: the page (wasm) vs the Python loop, per clip
    .venv/bin/python scripts/bench_web.py --parity         # and landmarks / labels on every yoga8 photo

Speed: the page runs on Chromium's fake camera fed from each clip (looped), on the wasm backend, and
counts the frames it finishes in ``--seconds`` after a warm-up; the Python loop is ``predict_video``
(tracking, smoothing, no annotated video) with each BlazePose backend. Parity: ``classifyImage`` on
every photo against the onnxruntime backend's landmarks and ``predict_photos``' labels (the default
MediaPipe backend, as ``posenet-cls predict``). Uses the browser helpers of tests/web_browser.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from web_browser import browser, driver, static_server, video_to_y4m  # noqa: E402

from posenet_cls.config import data_dir  # noqa: E402
from posenet_cls.infer.photos import load_model, predict_photos  # noqa: E402
from posenet_cls.infer.stream import predict_video  # noqa: E402
from posenet_cls.io.files import list_files  # noqa: E402
from posenet_cls.io.images import load_image  # noqa: E402
from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor  # noqa: E402
from posenet_cls.pose.extract import PoseOptions  # noqa: E402
from posenet_cls.web.site import SiteOptions, export_site  # noqa: E402


def page_fps(playwright, base: str, clip: Path, work: Path, seconds: float) -> float:
    """Frames per second the page finishes on a fake camera playing ``clip``, after 20 warm-up frames."""
    y4m = video_to_y4m(clip, work / f"{clip.stem}.y4m")
    flags = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-video-capture={y4m}")
    with browser(playwright, flags) as b:
        page = b.new_page()
        page.goto(f"{base}site/index.html?backend=wasm&exercise=squat&autostart=webcam")
        page.wait_for_function("Number(document.body.dataset.frames) >= 20", timeout=120_000)
        start, t0 = int(page.evaluate("document.body.dataset.frames")), time.perf_counter()
        page.wait_for_timeout(seconds * 1000)
        end, t1 = int(page.evaluate("document.body.dataset.frames")), time.perf_counter()
    return (end - start) / (t1 - t0)


def python_fps(clip: Path, runtime, backend: str) -> tuple[float, int]:
    """Frames per second of the Python loop on ``clip`` (BlazePose ``backend``), and its frame count."""
    start = time.perf_counter()
    frames = sum(1 for _ in predict_video(clip, runtime, pose=PoseOptions(backend=backend), show=False))
    return frames / (time.perf_counter() - start), frames


def parity(base: str, yoga8: Path, page) -> None:
    """Landmark differences and label agreement of the page against Python on every yoga8 photo."""
    names = list_files(yoga8)
    web = page.evaluate("async (urls) => { const out = []; for (const u of urls) "
                        "out.push(await posenet.classifyImage(u)); return out; }",
                        [f"{base}yoga8/{n}" for n in names])
    with OnnxPoseExtractor(device="cpu") as extractor:
        found = extractor.photos([load_image(yoga8 / n) for n in names])
    diffs = [np.abs(np.array(w["landmarks"])[:, :2] - f.keypoints[:, :2]).ravel()
             for w, f in zip(web, found) if w["status"] == "pose" and f.keypoints is not None]
    diff = np.concatenate(diffs)
    labels = [r.label for r in predict_photos(yoga8, load_model())]
    same = sum(w.get("label") == p for w, p in zip(web, labels))
    print(f"photos: {len(names)}, a pose in {sum(w['status'] == 'pose' for w in web)} (page) and "
          f"{sum(f.keypoints is not None for f in found)} (Python)")
    print(f"landmark x, y vs the onnx backend: median {np.median(diff):.5f}, p95 {np.percentile(diff, 95):.5f}, "
          f"max {diff.max():.4f} (of the image)")
    print(f"labels equal to posenet-cls predict's: {same}/{len(names)} ({100 * same / len(names):.1f}%)")
    people = [f for f in found if f.keypoints is not None]
    landmark_parity(page, np.stack([f.keypoints for f in people]), np.stack([f.world for f in people]))


def landmark_parity(page, real: np.ndarray, world: np.ndarray) -> None:
    """classifyLandmarks against onnxruntime in Python on real poses (with their world landmarks), their mirror
    images and noisy copies."""
    from posenet_cls.schema import mirror_keypoints, mirror_world

    rng = np.random.default_rng(0)
    poses = np.concatenate([real, mirror_keypoints(real), real + rng.normal(0, 0.05, real.shape)]).astype(np.float32)
    worlds = np.concatenate([world, mirror_world(world), world + rng.normal(0, 0.1, world.shape)]).astype(np.float32)
    runtime = load_model()
    answers = page.evaluate("async ([poses, worlds]) => Promise.all(poses.map((p, i) => "
                            "posenet.classifyLandmarks(p, { world: worlds[i] })))", [poses.tolist(), worlds.tolist()])
    probs, novelty = runtime.scores(poses, worlds)
    web = np.array([[a["probabilities"][c] for c in runtime.classes] for a in answers])
    relative = np.abs(np.array([a["novelty"] for a in answers]) - novelty) / novelty
    same = sum(a["label"] == runtime.decide(p, None, float(n)).label for a, p, n in zip(answers, probs, novelty))
    print(f"classifyLandmarks on {len(poses)} poses (real, mirrored, noisy): probabilities max difference "
          f"{np.abs(web - probs).max():.1e}, novelty max relative difference {relative.max():.2%}, "
          f"the same answer on {same}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0, help="how long the page is timed on each clip")
    p.add_argument("--parity", action="store_true", help="also compare landmarks and labels on every yoga8 photo")
    args = p.parse_args()
    data = data_dir()
    runtime = load_model()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export_site(SiteOptions(work / "served" / "site"))
        (work / "served" / "yoga8").symlink_to(data / "yoga8")
        with static_server(work / "served") as base, driver() as playwright:
            print("| clip | frames | page, wasm (fps) | Python, onnx backend (fps) | Python, mediapipe backend (fps) |")
            print("|---|---:|---:|---:|---:|")
            for clip in sorted((data / "video").glob("*.mp4")):
                web = page_fps(playwright, base, clip, work, args.seconds)
                onnx, frames = python_fps(clip, runtime, "onnx")
                mediapipe, _ = python_fps(clip, runtime, "mediapipe")
                print(f"| {clip.name} | {frames} | {web:.1f} | {onnx:.1f} | {mediapipe:.1f} |", flush=True)
            if args.parity:
                with browser(playwright) as b:
                    page = b.new_page()
                    page.goto(f"{base}site/test.html?backend=wasm")
                    page.wait_for_function("document.body.dataset.state === 'ready'", timeout=120_000)
                    parity(base, data / "yoga8", page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
