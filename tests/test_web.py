"""``export --web``: the static site, run in headless Chromium against the Python pipeline on real data.

Parity at each boundary: the page's classifier against onnxruntime in Python (probabilities within
1e-4; a model that reads world landmarks too), its BlazePose port against the numpy/onnxruntime
backend on real yoga8 photos (x, y within 0.005 of the image, world landmarks within WORLD_TOLERANCE
metres, at the 95th percentile; in every photo attempt), its labels against ``posenet-cls
predict``'s, and a webcam run on Chromium's fake camera fed from an example clip (labels and a
repetition count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posenet_cls.cli import main
from posenet_cls.runtime import INPUT_NAME, NOVELTY_FLAG, NOVELTY_GRAPH_KEY, PoseRuntime
from posenet_cls.web.site import CONFIG_NAME, MODELS, VENDOR_FILES, write_web_classifier

from models import two_input_model
from web_browser import browser, driver, static_server

PHOTOS_PER_CLASS = 7  # 56 photos: one disagreement still leaves 98%
# The page's world landmarks against Python's on the photo sample, metres at the 95th percentile: measured 0.0059. As
# for the keypoints' 0.005 of the image, the browser's JPEG decoder is not OpenCV's, and on a few photos the landmark
# network is unstable (triangle10.jpg: keypoints 0.09 of the image apart, world landmarks 0.37 m).
WORLD_TOLERANCE = 0.02
# ... and on the squat clip's frames (lossless PNG), filtered: measured 0.0025; unfiltered they would be 0.015 away
TRACKED_WORLD_TOLERANCE = 0.0075


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `posenet-cls export --web` writes it (the command itself, in a subprocess)."""
    out = tmp_path_factory.mktemp("web") / "site"
    run = subprocess.run([sys.executable, "-m", "posenet_cls", "export", "--web", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"python -m http.server -d {out}" in run.stdout
    return out


@pytest.fixture(scope="module")
def served(site: Path, yoga8: Path, tmp_path_factory):
    """One local static server whose root holds the site and, beside it, the yoga8 photos: (base URL, root)."""
    root = tmp_path_factory.mktemp("served")
    (root / "site").symlink_to(site)
    (root / "yoga8").symlink_to(yoga8)
    with static_server(root) as base:
        yield base, root


@pytest.fixture(scope="module")
def chromium():
    """The module's one Playwright driver (a second one cannot start while it runs)."""
    with driver() as p:
        yield p


@pytest.fixture(scope="module")
def test_page(served, chromium):
    """The JavaScript's test page (wasm backend), loaded; its requests are recorded on ``page.requests``."""
    base, _ = served
    with browser(chromium) as b:
        page = b.new_page()
        page.requests = []
        page.on("request", lambda r: page.requests.append(r.url))
        page.goto(base + "site/test.html?backend=wasm")
        page.wait_for_function("document.body.dataset.state", timeout=120_000)
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#log")
        yield page


def test_export_web_writes_a_self_contained_site(site: Path, tmp_path: Path, capsys):
    for name in ("index.html", "test.html", "posenet.js", "blazepose.js", "coaching.js", "app.js", CONFIG_NAME,
                 *MODELS.values(), *(f"vendor/{f}" for f in VENDOR_FILES)):
        assert (site / name).is_file(), name
    config = json.loads((site / CONFIG_NAME).read_text())
    assert config["schema"]["landmarks"][0] == "nose" and len(config["schema"]["landmarks"]) == 33
    assert config["model"]["unknown_threshold"] == 0.5 and config["model"]["novelty"]["threshold"] > 0
    assert config["blazepose"]["detector_size"] == 224 and "squat" in config["coaching"]["exercises"]
    assert not list(site.glob(".*")) and not list(site.parent.glob(".site.*"))  # no temporary folder left
    for text in (site / "index.html").read_text(), (site / "posenet.js").read_text():
        assert "https://" not in text and "http://" not in text  # no CDN

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["export", "--web", str(other)]) == 1
    assert "the folder exists and holds other files" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine"
    again = tmp_path / "again"
    assert main(["export", "--web", str(again)]) == 0 and main(["export", "--web", str(again)]) == 0  # replaced
    assert (again / CONFIG_NAME).is_file()
    capsys.readouterr()
    assert main(["export", "--web", str(again), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(again) and report["files"] == sum(1 for f in again.rglob("*") if f.is_file())
    assert len(report["classes"]) == 8 and report["ort_version"]
    assert main(["export", "--web", str(tmp_path / "x"), "--model", str(tmp_path / "missing.onnx")]) == 1
    assert "missing.onnx: no such model file" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["export", "--model", "m.onnx"]) == 1
    assert "--model goes with --web DIR" in capsys.readouterr().err


def test_page_loads_nothing_from_outside_its_folder(test_page, served):
    base, _ = served
    assert test_page.requests and all(url.startswith(base + "site/") for url in test_page.requests), test_page.requests
    assert "anchors: 2254" in test_page.inner_text("#log")


def test_classify_landmarks_equals_onnxruntime(test_page, yoga8_table):
    """The shipped model, fed the poses' world landmarks as predict feeds them (a model that reads none ignores them,
    in Python and on the page alike)."""
    from posenet_cls.infer.photos import load_model
    from posenet_cls.schema import mirror_keypoints, mirror_world

    runtime = load_model()
    rng = np.random.default_rng(0)
    real, real_world = yoga8_table.keypoints[::8], yoga8_table.require_world("the web's parity test")[::8]
    poses = np.concatenate([real, mirror_keypoints(real[:10]),
                            real[:20] + rng.normal(0, 0.05, real[:20].shape).astype(np.float32)]).astype(np.float32)
    # the noisy copies are noisy in metres too (a novelty head may read either view; measured: 3 of 20 novel)
    world = np.concatenate([real_world, mirror_world(real_world[:10]),
                            real_world[:20] + rng.normal(0, 0.1, real_world[:20].shape)]).astype(np.float32)
    answers = test_page.evaluate("async ([poses, worlds]) => Promise.all(poses.map((p, i) =>"
                                 " posenet.classifyLandmarks(p, { world: worlds[i] })))",
                                 [poses.tolist(), world.tolist()])
    probs, novelty = runtime.scores(poses, world)
    web = np.array([[a["probabilities"][c] for c in runtime.classes] for a in answers])
    assert np.abs(web - probs).max() < 1e-4
    # novelty: float32 nearest-neighbour distances over 642 reference poses, summed in another order by the wasm
    # kernels (measured: at most 0.75% apart on 1446 poses); the threshold rule still gives the same answers
    assert np.allclose([a["novelty"] for a in answers], novelty, rtol=1e-2)
    decided = [runtime.decide(p, None, float(n)) for p, n in zip(probs, novelty)]
    assert [a["label"] for a in answers] == [d.label for d in decided]
    assert [a["unknown_reason"] for a in answers] == [d.reason for d in decided]
    assert {d.reason for d in decided} >= {None, "unlike the training poses"}  # both kinds of answer seen
    assert [a["best"] for a in answers] == [d.best for d in decided]


TURNED_PHOTO = "ArdhaChandrasana/v8.jpeg"


def photo_sample(yoga8: Path) -> list[str]:
    """The first photos of each class folder, sorted: a fixed sample of yoga8."""
    from posenet_cls.io.files import list_files

    names = list_files(yoga8)
    by_class: dict[str, list[str]] = {}
    for name in names:
        by_class.setdefault(name.split("/")[0], []).append(name)
    return [n for group in by_class.values() for n in group[:PHOTOS_PER_CLASS]]


def test_photos_match_the_python_pipeline(test_page, served, yoga8: Path, tmp_path: Path):
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

    from posenet_cls.pose.common import PREDICT_ATTEMPTS

    base, _ = served
    sample = photo_sample(yoga8) + [TURNED_PHOTO]  # v8: a body lying sideways, found only by the "turned" attempt
    web = test_page.evaluate("async (urls) => { const out = []; for (const u of urls) "
                             "out.push(await posenet.classifyImage(u)); return out; }",
                             [f"{base}yoga8/{name}" for name in sample])
    assert [r["source"] for r in web] == [f"{base}yoga8/{name}" for name in sample]

    # landmarks: the onnxruntime backend in Python, same networks, same retries
    with OnnxPoseExtractor(device="cpu") as extractor:
        found = extractor.photos([load_image(yoga8 / name) for name in sample], PREDICT_ATTEMPTS)
    both = [(np.array(r["landmarks"]), f.keypoints, np.array(r["world"]), f.world) for r, f in zip(web, found)
            if r["status"] == "pose" and f.keypoints is not None]
    assert len(both) >= len(sample) - 2
    assert [r["status"] == "pose" for r in web] == [f.keypoints is not None for f in found]
    diff = np.concatenate([np.abs(a[:, :2] - b[:, :2]).ravel() for a, b, _, _ in both])
    assert np.percentile(diff, 95) < 0.005, np.percentile(diff, 95)
    world = np.concatenate([np.abs(a - b).ravel() for _, _, a, b in both])  # metres
    assert np.percentile(world, 95) < WORLD_TOLERANCE, np.percentile(world, 95)
    assert all(r["attempt"] == f.attempt for r, f in zip(web, found) if r["status"] == "pose")
    assert web[-1]["attempt"] == "turned" and web[-1]["label"] == "ArdhaChandrasana"

    # labels: posenet-cls predict, the command, on the same photos
    folder = tmp_path / "sample"
    for name in sample:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(yoga8 / name)
    run = subprocess.run([sys.executable, "-m", "posenet_cls", "predict", str(folder), "--json", "--no-annotate"],
                         capture_output=True, text=True, env={**os.environ, "GLOG_minloglevel": "2"})
    assert run.returncode == 0, run.stderr
    by_source = {Path(r["source"]).relative_to(folder).as_posix(): r for r in map(json.loads, run.stdout.splitlines())}
    python = [by_source[name] for name in sample]
    assert len(by_source) == len(sample)
    same = sum(w.get("label") == p.get("label") for w, p in zip(web, python))
    assert same / len(sample) >= 0.98, [(w.get("label"), p.get("label")) for w, p in zip(web, python)]
    for w in web:
        if w["status"] == "pose":
            assert set(w) >= {"label", "confidence", "best", "probabilities", "novelty", "unknown_reason", "landmarks"}
            assert np.array(w["landmarks"]).shape == (33, 4)


# Photos every attempt finds the same pose on (v8's turned pose is unstable in both runtimes: 0.05 m apart at most)
ATTEMPT_PHOTOS = ("Triangle/triangle1.jpg", "Downward_dog/downward_dog1.jpg", "Veerabhadrasana/Veerabhadrasana_1.jpeg",
                  "BaddhaKonasana/BK_10.jpeg")
ATTEMPT_WORLD_TOLERANCE = 0.01  # measured at most 0.0034 m (95th percentile) in each attempt on these photos


def test_every_photo_attempt_maps_world_landmarks_back_as_python(test_page, served, yoga8: Path):
    """Each attempt alone (plain, padded, mirrored, turned) on a few photos: the page's keypoints and world landmarks
    against the onnx backend's, which maps them back to the photo (pose.common: mirror_world, unturn). The bound
    tells a wrong map: the world landmarks of the turn Python does not keep are 0.033 m away at the 95th percentile,
    a mirror's without the swap or the negated x far more."""
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor
    from posenet_cls.pose.common import PREDICT_ATTEMPTS

    base, _ = served
    web = test_page.evaluate(
        "async ([urls, attempts]) => { const p = await posenet.ready, bp = p.blazepose, kept = bp.c.attempts;"
        " const images = [];"
        " for (const u of urls) images.push(await modules.posenet.toImage(u, p.config.blazepose.max_side));"
        " const out = []; try { for (const attempt of attempts) { bp.c.attempts = [attempt];"
        " for (const image of images) out.push(await p.serial(() => bp.photo(image))); } }"
        " finally { bp.c.attempts = kept; } return out; }",
        [[f"{base}yoga8/{name}" for name in ATTEMPT_PHOTOS], list(PREDICT_ATTEMPTS)])
    images = [load_image(yoga8 / name) for name in ATTEMPT_PHOTOS]
    with OnnxPoseExtractor(device="cpu") as extractor:
        python = [f for attempt in PREDICT_ATTEMPTS for f in extractor.photos(images, (attempt,))]
    assert [w is not None for w in web] == [f.keypoints is not None for f in python]
    for i, attempt in enumerate(PREDICT_ATTEMPTS):
        pairs = [(w, f) for w, f in zip(web[i * len(images):], python[i * len(images):(i + 1) * len(images)])
                 if f.keypoints is not None]
        assert pairs and all(w["attempt"] == f.attempt == attempt for w, f in pairs), attempt
        diff = np.concatenate([np.abs(np.array(w["keypoints"])[:, :2] - f.keypoints[:, :2]).ravel() for w, f in pairs])
        world = np.concatenate([np.abs(np.array(w["world"]) - f.world).ravel() for w, f in pairs])
        assert np.percentile(diff, 95) < 0.005, (attempt, np.percentile(diff, 95))
        assert np.percentile(world, 95) < ATTEMPT_WORLD_TOLERANCE, (attempt, np.percentile(world, 95))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter
def test_a_model_that_reads_world_landmarks_is_fed_them(served, chromium, yoga8_table, tmp_path: Path, capsys):
    """`export --web --model` with a two-input model made by hand: config.model gains "world", the page feeds it."""
    model = two_input_model(tmp_path / "two.onnx")
    site = tmp_path / "site"
    assert main(["export", "--web", str(site), "--model", str(model)]) == 0
    capsys.readouterr()
    from posenet_cls.training.export import world_input

    assert "world" not in PoseRuntime(model).metadata
    assert json.loads((site / CONFIG_NAME).read_text())["model"]["world"] == world_input()
    base, root = served
    (root / "world").symlink_to(site)
    poses = yoga8_table.keypoints[::60][:20]
    world = yoga8_table.require_world("the web's two-input model")[::60][:20]
    with browser(chromium) as b:
        page = b.new_page()
        page.goto(base + "world/test.html?backend=wasm")
        page.wait_for_function("document.body.dataset.state", timeout=120_000)
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#log")
        answers = page.evaluate("async ([poses, worlds]) => Promise.all(poses.map((p, i) =>"
                                " posenet.classifyLandmarks(p, { world: worlds[i] })))",
                                [poses.tolist(), world.tolist()])
        errors = page.evaluate("async ([pose, bad]) => { const out = []; for (const w of [undefined, bad]) {"
                               " try { await posenet.classifyLandmarks(pose, { world: w }); out.push(null); }"
                               " catch (err) { out.push(err.message); } } return out; }",
                               [poses[0].tolist(), poses[0].tolist()])
    runtime = PoseRuntime(model)
    web = np.array([[a["probabilities"][c] for c in runtime.classes] for a in answers])
    assert np.abs(web - runtime.probabilities(poses, world)).max() < 1e-4
    assert not np.allclose(web, runtime.probabilities(poses, world[::-1]), atol=1e-3)  # the world landmarks count
    assert [a["novelty"] for a in answers] == [None] * len(poses)
    assert errors == ["this model reads world landmarks too; pass world: 33 x 3 values "
                      "(x, y, z in metres, BlazePose's world landmarks)",
                      "this model reads world landmarks too; pass world: 33 x 3 values "
                      "(x, y, z in metres, BlazePose's world landmarks), got 33 x 4"]


def open_page(b, base: str, query: str):
    """The page (``index.html?QUERY``) loaded from its folder alone; its page errors go to the list returned."""
    page = b.new_page(viewport={"width": 1000, "height": 600})
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{base}site/index.html?{query}")
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=120_000)
    assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#status")
    outside = [url for url in requests if not url.startswith((f"{base}site/", "data:", "blob:"))]
    assert not outside, outside  # the page, too, loads nothing from outside its folder
    return page, errors


@pytest.mark.parametrize("clip, exercise", [("squat_1rep.mp4", "squat"), ("plank_hold.mp4", "plank")])
def test_webcam_on_a_fake_camera_shows_labels_and_counts_reps(served, chromium, videos: Path, tmp_path: Path, clip,
                                                              exercise):
    from posenet_cls.infer.photos import load_model

    from web_browser import video_to_y4m

    base, _ = served
    y4m = video_to_y4m(videos / clip, tmp_path / "clip.y4m")
    frames = 75 if clip.startswith("squat") else 90
    flags = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-video-capture={y4m}")
    classes = set(load_model().classes)
    with browser(chromium, flags) as b:
        page, errors = open_page(b, base, f"backend=wasm&exercise={exercise}&autostart=webcam")
        # the camera loops the clip: wait for two passes' worth of frames (or, for the squat, a rep)
        done = "Number(document.body.dataset.reps) >= 1" if clip.startswith("squat") else \
            f"Number(document.body.dataset.frames) >= {frames}"
        page.wait_for_function(done, timeout=120_000)
        # one snapshot of what the page says and shows (it changes with every frame)
        state = page.evaluate("({...document.body.dataset, shown: $('label').textContent, "
                              "shown_reps: $('reps').textContent, shown_hold: $('hold').textContent, "
                              "shown_fps: $('fps').textContent, reason: $('reason').textContent, "
                              "coach: $('coach').textContent, coach_hidden: $('coach').hidden, "
                              "class_hidden: $('pose-class').hidden})"
                              .replace("$(", "document.getElementById("))
        assert state["label"] in classes | {"unknown"}, state
        # the page speaks about the exercise; the model has no class of its name, so the class block is hidden
        assert state["coach"].startswith(f"{exercise}: ") and not state["coach_hidden"] and state["class_hidden"], state
        assert float(state["fps"]) > 0 and state["shown_fps"].endswith("fps")
        assert state["shown"] == state["label"]
        if clip.startswith("squat"):
            assert int(state["reps"]) >= 1 and state["shown_reps"] == state["reps"]
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("POSENET_CLS_WEB_SCREENSHOT"):  # the README's screenshot: docs/browser.png
                page.screenshot(path=os.environ["POSENET_CLS_WEB_SCREENSHOT"])
        else:  # a plank, unlike any of the eight yoga poses: unknown (novelty), held (Python: one 2.97 s hold)
            assert state["label"] == "unknown" and state["reps"] == "0", state
            assert float(state["hold"]) > 1.0 and state["shown_hold"].endswith(" s"), state
            assert abs(float(state["shown_hold"][:-2]) - float(state["hold"])) <= 0.051, state
            assert state["reason"] == "unknown: unlike the training poses", state
        assert not errors, errors


def test_file_picker_labels_a_photo(served, chromium, yoga8: Path, videos: Path, tmp_path: Path):
    import cv2

    base, _ = served
    with browser(chromium) as b:
        page, errors = open_page(b, base, "backend=wasm")
        page.set_input_files("#file", str(yoga8 / "Triangle" / "triangle1.jpg"))
        page.wait_for_function("document.body.dataset.label", timeout=60_000)
        assert page.evaluate("document.body.dataset.label") == "Triangle"
        assert "triangle1.jpg: pose (plain)" in page.inner_text("#status")
        assert page.evaluate("document.getElementById('coach').hidden") and not page.evaluate(
            "document.getElementById('pose-class').hidden")
        # with an exercise, a photo is its one-frame case, as predict PHOTO --exercise: the squat's bottom
        frame = tmp_path / "squat_bottom.png"
        video = cv2.VideoCapture(str(videos / "squat_1rep.mp4"))
        video.set(cv2.CAP_PROP_POS_FRAMES, 31)
        cv2.imwrite(str(frame), video.read()[1])
        page.select_option("#exercise", "squat")
        page.set_input_files("#file", str(frame))
        page.wait_for_function("document.body.dataset.coach", timeout=60_000)
        state = page.evaluate("({...document.body.dataset, hidden: document.getElementById('pose-class').hidden})")
        assert state["coach"] == "squat: down" and state["form"] == "good form" and state["hidden"], state
        assert state["label"] and state["label"] != "Triangle"  # the class stays in the page's data
        assert not errors, errors


# -- each stage of the port against its Python original ------------------------------------------


def test_anchors_and_crops_equal_the_numpy_pipeline(test_page, served, yoga8: Path):
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.blazepose import anchors as ssd
    from posenet_cls.pose.blazepose import geometry as geo

    anchors = test_page.evaluate("(c) => modules.blazepose.ssdAnchors(...c)", [224, list(ssd.STRIDES), 0.5])
    assert np.abs(np.array(anchors) - ssd.ssd_anchors()).max() < 1e-6
    base, _ = served
    name = "Triangle/triangle1.jpg"
    rgb = load_image(yoga8 / name)
    h, w = rgb.shape[:2]
    # a rotated ROI that leaves the image on two sides: both borders (zero, replicated) are used
    roi = np.array([[w * 0.6, h * 0.45, w * 0.8, h * 0.7, 0.5]])
    for size, replicate, low in ((224, False, -1.0), (256, True, 0.0)):
        padded, _ = geo.pad_rois(roi, size, size)
        border = geo.BORDER_REPLICATE if replicate else geo.BORDER_ZERO
        crops = geo.warp_crops([rgb], geo.crop_matrices(padded, size, size), size, size, border)
        want = geo.to_tensor(crops, low, 1.0)[0]
        got = np.array(test_page.evaluate(
            "async ([u, roi, size, replicate, low]) => { const p = await posenet.ready;"
            " const image = await modules.posenet.toImage(u, p.config.blazepose.max_side);"
            " return Array.from(modules.blazepose.cropTensor(image, roi, size, size, replicate, low, 1)); }",
            [f"{base}yoga8/{name}", padded[0].tolist(), size, replicate, low])).reshape(size, size, 3)
        levels = np.abs(got - want) * 255 / (1.0 - low)  # in 8-bit levels
        # OpenCV samples at 1/32 pixel in fixed point and the browser's JPEG decoder is not OpenCV's
        assert levels.mean() < 1.0 and np.percentile(levels, 99) <= 6, (levels.mean(), np.percentile(levels, 99))


@pytest.fixture(scope="module")
def squat_frames(served, videos: Path) -> tuple[list[str], np.ndarray, float]:
    """The squat clip's frames as PNG files beside the site (lossless: both sides see the same pixels)."""
    import av
    from PIL import Image

    _, root = served
    (root / "frames").mkdir()
    names, frames = [], []
    with av.open(str(videos / "squat_1rep.mp4")) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 30)
        for i, frame in enumerate(container.decode(stream)):
            rgb = frame.reformat(640, 360, format="rgb24").to_ndarray()
            Image.fromarray(rgb).save(root / "frames" / f"{i:04d}.png", compress_level=1)
            names.append(f"frames/{i:04d}.png")
            frames.append(rgb)
    return names, np.stack(frames), fps


def test_tracking_and_rep_count_equal_python_on_a_clip(test_page, served, squat_frames):
    from posenet_cls.coaching.exercises import ExerciseTracker, find_exercise
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

    base, _ = served
    names, frames, fps = squat_frames
    web = test_page.evaluate(
        "async (urls) => { const p = await posenet.ready; p.resetTracking(); const out = [];"
        " for (const u of urls) { const f = await p.trackFrame(u); out.push([f.landmarks, f.world]); } return out; }",
        [base + n for n in names])
    web, web_world = [w for w, _ in web], [w for _, w in web]
    with OnnxPoseExtractor(device="cpu", tracking=True) as extractor:
        python = [extractor.frame(rgb, i / fps) for i, rgb in enumerate(frames)]
    assert [w is not None for w in web] == [w is not None for w in web_world] == [p is not None for p in python]
    pairs = [(np.array(w), p[0]) for w, p in zip(web, python) if p is not None]
    assert len(pairs) == len(frames)  # the lifter is tracked on every frame
    diff = np.concatenate([np.abs(a[:, :2] - b[:, :2]).ravel() for a, b in pairs])
    assert np.percentile(diff, 95) < 0.005, np.percentile(diff, 95)
    # the world landmarks, filtered as Python's (one-euro, PoseFilters.WORLD)
    world = np.concatenate([np.abs(np.array(w) - p[1]).ravel() for w, p in zip(web_world, python)])
    assert np.percentile(world, 95) < TRACKED_WORLD_TOLERANCE, np.percentile(world, 95)

    # the rep counter: coaching.js on the page's landmarks and on Python's, against Python's tracker
    times = [i / fps for i in range(len(frames))]
    aspect = frames.shape[2] / frames.shape[1]
    script = ("([poses, times, aspect]) => { const p = window.modules, c = posenet.ready.then((x) => x.config);"
              " return c.then((config) => { const t = new p.coaching.ExerciseTracker("
              "config.coaching.exercises.squat, config.coaching);"
              " return poses.map((pose, i) => t.update(times[i], pose, aspect)); }); }")
    on_web = test_page.evaluate(script, [web, times, aspect])
    on_python = test_page.evaluate(script, [[p[0].tolist() for p in python], times, aspect])
    tracker = ExerciseTracker(find_exercise("squat"))
    want = [tracker.update(t, p[0], aspect=aspect) for t, p in zip(times, python)]
    assert [f["reps"] for f in on_python] == [f.reps for f in want]
    assert np.allclose([f["signal"] for f in on_python], [f.signal for f in want], atol=1e-6)
    assert on_web[-1]["reps"] == want[-1].reps == 1
    # the phase and the rep's form verdict (coaching.js's FormRecorder against form.FormRecorder)
    assert [f["phase"] for f in on_python] == [f.phase for f in want]
    judged = [(w, p) for w, p in zip(want, on_python) if w.form is not None or p["form"] is not None]
    assert len(judged) == 1 and judged[0][0].form["faults"] == judged[0][1]["form"]["faults"] == []
    for name, value in judged[0][0].form["values"].items():
        assert abs(judged[0][1]["form"]["values"][name] - value) <= 0.051, (name, judged)  # Python rounds to 0.1
    assert [f["form"]["faults"] for f in on_web if f["form"]] == [[]]


def test_auto_counter_equals_python(test_page, squat_frames):
    """coaching.js's --exercise auto on Python's landmarks of the squat clip, sped up and repeated, against AutoCounter."""
    from posenet_cls.coaching.exercises import BUILTIN, ExerciseTracker
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

    _, frames, fps = squat_frames
    with OnnxPoseExtractor(device="cpu", tracking=True) as extractor:
        poses = [extractor.frame(rgb, i / fps)[0] for i, rgb in enumerate(frames)]
    poses = (poses + poses[::-1]) * 3  # down and up, then back: six squats
    poses[40:50] = [None] * 10  # and a short gap without a person
    times = [i / fps for i in range(len(poses))]
    aspect = frames.shape[2] / frames.shape[1]
    script = ("([poses, times, aspect]) => posenet.ready.then((p) => { const t = new window.modules.coaching"
              ".ExerciseTracker(p.config.coaching.exercises.auto, p.config.coaching);"
              " return poses.map((pose, i) => t.update(times[i], pose, aspect)); })")
    web = test_page.evaluate(script, [[None if p is None else p.tolist() for p in poses], times, aspect])
    tracker = ExerciseTracker(BUILTIN["auto"])
    want = [tracker.update(t, p, aspect=aspect) for t, p in zip(times, poses)]
    assert [f["reps"] for f in web] == [f.reps for f in want] and want[-1].reps >= 5
    signals = [(w["signal"], p.signal) for w, p in zip(web, want) if p.signal is not None]
    assert len(signals) == sum(w["signal"] is not None for w in web) > 100
    assert np.allclose([abs(a) for a, _ in signals], [abs(b) for _, b in signals], atol=1e-6)


@pytest.mark.parametrize("exercise", ["squat", "auto"])
def test_file_picker_plays_a_video_and_counts_its_rep(served, chromium, videos: Path, exercise):
    base, _ = served
    with browser(chromium) as b:
        page, errors = open_page(b, base, f"backend=wasm&exercise={exercise}")
        page.set_input_files("#file", str(videos / "squat_1rep.mp4"))
        page.wait_for_function("document.getElementById('status').textContent.includes('done')", timeout=120_000)
        state = page.evaluate("({...document.body.dataset})")
        assert int(state["frames"]) > 10 and state["reps"] == "1", state  # the clip's one squat, played once
        assert not errors, errors


@pytest.fixture(scope="module")
def head_model(yoga8_table, tmp_path_factory) -> Path:
    """A model exported with its novelty head as a second graph (seeded weights, novelty fitted on yoga8)."""
    import torch

    from posenet_cls.training.export import export_model
    from posenet_cls.training.models.mlp import PoseClassifier
    from posenet_cls.training.novelty import fit_novelty

    torch.manual_seed(0)
    classes, kp = yoga8_table.classes, yoga8_table.keypoints
    labels = np.searchsorted(np.asarray(classes), yoga8_table.labels.astype(str))
    model = PoseClassifier(len(classes)).eval()
    path = tmp_path_factory.mktemp("head") / "model.onnx"
    export_model(model, classes, model.features.to_dict(), path, kp,
                 novelty=fit_novelty(kp[::2], labels[::2], kp[1::2], labels[1::2], 2.5))
    return path


def test_web_classifier_puts_the_novelty_head_behind_the_flag(head_model, yoga8_table, tmp_path):
    # The page runs one graph and feeds the flag 1 (posenet.js): the same answers as the Python runtime.
    import onnx
    import onnxruntime as ort

    runtime = PoseRuntime(head_model)
    out = tmp_path / "classifier.onnx"
    metadata = write_web_classifier(head_model, out, runtime.metadata)
    assert metadata["novelty"]["flag"] == NOVELTY_FLAG and "flag" not in runtime.metadata["novelty"]
    proto = onnx.load(str(out))
    assert [i.name for i in proto.graph.input] == [INPUT_NAME, NOVELTY_FLAG]
    assert NOVELTY_FLAG not in {init.name for init in proto.graph.initializer}
    assert NOVELTY_GRAPH_KEY not in [e.key for e in proto.metadata_props]
    poses = yoga8_table.keypoints[:50]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs, novelty = session.run(None, {INPUT_NAME: poses, NOVELTY_FLAG: np.array(1.0, np.float32)})
    want_probs, want_novelty = runtime.scores(poses)
    assert np.abs(probs - want_probs).max() < 1e-6 and np.abs(novelty - want_novelty).max() < 1e-4
