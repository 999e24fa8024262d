"""extract --engine ray on a local Ray (2 CPUs, started here): the local rows, resume, killed actors, --address."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from crashing_backend import CrashingFactory

from posenet_cls.data import ray_engine
from posenet_cls.cli import main
from posenet_cls.data.dataset import build_dataset, report_path_for
from posenet_cls.errors import PosenetError
from posenet_cls.data.ray_engine import RayConfig, extract_ray
from posenet_cls.data.table import convert_table, parquet_shards, read_table


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray for the module: 2 CPUs, no dashboard; the crashing test backend travels to actors by value."""
    import crashing_backend
    import ray

    ray.cloudpickle.register_pickle_by_value(crashing_backend)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(crashing_backend)


@pytest.fixture(scope="module")
def tree(yoga8, tmp_path_factory) -> Path:
    """12 real photos in two classes and a file that is not a photo: 13 files, 4 shards of 4."""
    root = tmp_path_factory.mktemp("ray") / "data"
    for label in ("Downward_dog", "Vrukshasana"):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:6]:
            (root / label / photo.name).symlink_to(photo)
    (root / "Vrukshasana" / "notes.txt").write_text("not a photo")
    return root


@pytest.fixture(scope="module")
def local_table(tree, tmp_path_factory):
    """The local engine's Parquet table of the tree: what every Ray run must give, exactly."""
    out = tmp_path_factory.mktemp("local") / "poses.parquet"
    build_dataset(tree, out, workers=1)
    return read_table(out)


def _assert_same(a, b) -> None:
    for field in ("labels", "sources", "sha1", "attempts"):
        assert getattr(a, field).tolist() == getattr(b, field).tolist(), field
    assert np.array_equal(a.keypoints, b.keypoints)


def test_yoga8_on_ray_gives_the_local_rows(ray_cluster, yoga8, yoga8_csv, tmp_path):
    """All 483 photos: the Ray table, written as CSV, is byte for byte the local engine's; the reports agree."""
    out = tmp_path / "yoga8.parquet"
    report = extract_ray(yoga8, out, RayConfig(workers=2))
    convert_table(out, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == yoga8_csv.read_bytes()
    local = json.loads(report_path_for(yoga8_csv).read_text())
    for key in ("files", "poses", "attempts", "no_pose", "unreadable", "duplicates"):
        assert getattr(report, key) == local[key], key
    assert len(parquet_shards(out)) == 5 and json.loads(report_path_for(out).read_text())["poses"] == local["poses"]


def test_photos_are_float32_exact_and_video_frames_are_rows(ray_cluster, tree, local_table, videos, tmp_path):
    """Photos: the local engine's float32 values exactly. A video: one row per frame, sharing the video's sha1."""
    data = tmp_path / "data"
    data.mkdir()
    for label in ("Downward_dog", "Vrukshasana"):
        (data / label).symlink_to(tree / label)
    (data / "Squat").mkdir()
    (data / "Squat" / "squat.mp4").symlink_to(videos / "squat_1rep.mp4")
    out = tmp_path / "poses.parquet"
    report = extract_ray(data, out, RayConfig(workers=2, shard_files=4))
    table = read_table(out)
    frames = np.array(["#" in s for s in table.sources])
    _assert_same(table.subset(~frames), local_table)
    video = table.subset(frames)
    assert video.sources[0] == "Squat/squat.mp4#000000" and len(video) >= 70 and set(video.labels.tolist()) == {"Squat"}
    assert len(set(video.sha1.tolist())) == 1 and len(set(table.sources.tolist())) == len(table)
    assert report.files == 14 and report.poses == len(table) and len(parquet_shards(out)) == 4
    assert report.unreadable == [{"source": "Vrukshasana/notes.txt", "reason": "not an image file"}]


def test_interrupted_run_resumes_without_loss_or_duplicates(ray_cluster, tree, local_table, tmp_path):
    out = tmp_path / "resumed.parquet"

    def stop_after_first_shard(total, resumed, chunks):
        assert (total, resumed, chunks) == (13, 0, 4)

        def tick(files):
            raise KeyboardInterrupt  # as Ctrl-C would, once a shard is written
        return tick

    with pytest.raises(KeyboardInterrupt):
        extract_ray(tree, out, RayConfig(workers=2, shard_files=4), progress=stop_after_first_shard)
    assert len(parquet_shards(out)) == 1 and not report_path_for(out).exists()
    (out / "part-00002.parquet.tmp").write_bytes(b"torn write")  # what a kill during a write leaves
    seen = []
    report = extract_ray(tree, out, RayConfig(workers=2, shard_files=4),
                         progress=lambda total, resumed, chunks: seen.append((resumed, chunks)))
    assert seen == [(4, 3)] and report.resumed == 4
    _assert_same(read_table(out), local_table)
    assert not list(out.glob("*.tmp"))
    again = extract_ray(tree, out, RayConfig(workers=2, shard_files=4))  # nothing left to do: no Ray work
    assert again.resumed == 13 and again.poses == report.poses == 12


def test_stale_shards_are_redone(ray_cluster, tree, local_table, tmp_path):
    """A shard from another listing or a torn file is replaced, never mixed in."""
    first = tmp_path / "first.parquet"
    extract_ray(tree, first, RayConfig(workers=2, shard_files=4))
    out = tmp_path / "stale.parquet"
    first.rename(out)
    (out / "part-00001.parquet").write_bytes(b"PAR1 torn")
    (out / "part-00000.parquet").write_bytes((out / "part-00002.parquet").read_bytes())  # another chunk's files
    (out / "part-00009.parquet").write_bytes((out / "part-00003.parquet").read_bytes())  # past the last chunk
    report = extract_ray(tree, out, RayConfig(workers=2, shard_files=4))
    assert report.resumed == 5  # shards 2 (4 files) and 3 (1 file) kept
    _assert_same(read_table(out), local_table)


def test_killed_actor_is_retried_and_nothing_is_lost(ray_cluster, tree, local_table, tmp_path):
    """An actor that dies mid-batch once is restarted, its batch retried: complete, duplicate-free, nothing failed."""
    hook = tmp_path / "kill-one-actor"
    hook.write_text("kill")  # the first actor to delete it SIGKILLs itself mid-batch
    out = tmp_path / "killed.parquet"
    report = extract_ray(tree, out, RayConfig(workers=2, shard_files=4), factory=CrashingFactory(once=str(hook)))
    assert not hook.exists()  # an actor did die
    table = read_table(out)
    assert len(set(table.sources.tolist())) == len(table)
    _assert_same(table, local_table)
    assert report.failed == [] and report.poses == len(local_table)


DEADLY_SHAPE = (211, 317)  # (height, width): no yoga8 photo has it


@pytest.fixture(scope="module")
def deadly_tree(yoga8, tmp_path_factory) -> Path:
    """5 real photos in two classes, copied, and a real photo resized to DEADLY_SHAPE: it kills the backend."""
    from posenet_cls.io.images import load_image

    root = tmp_path_factory.mktemp("deadly") / "data"
    for label, n in (("Downward_dog", 3), ("Vrukshasana", 2)):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:n]:
            shutil.copy(photo, root / label / photo.name)
            assert load_image(photo).shape[:2] != DEADLY_SHAPE
    photo = cv2.imread(str(sorted((yoga8 / "Vrukshasana").iterdir())[3]))
    cv2.imwrite(str(root / "Vrukshasana" / "deadly.png"), cv2.resize(photo, DEADLY_SHAPE[::-1]))
    return root


def _same_reports(a, b) -> None:
    for key in ("files", "poses", "attempts", "no_pose", "unreadable", "failed", "videos", "duplicates"):
        assert getattr(a, key) == getattr(b, key), key


def test_a_photo_that_always_kills_the_backend_is_failed_by_both_engines(ray_cluster, deadly_tree, tmp_path):
    """It crashes once among others and twice alone, then is reported failed; the other rows are the same in both."""
    deaths = {engine: tmp_path / f"deaths-{engine}" for engine in ("local", "ray")}
    for folder in deaths.values():
        folder.mkdir()
    local = build_dataset(deadly_tree, tmp_path / "local.csv", workers=2,
                          factory=CrashingFactory(shape=DEADLY_SHAPE, deaths=str(deaths["local"])))
    out = tmp_path / "ray.parquet"
    ray_factory = CrashingFactory(shape=DEADLY_SHAPE, deaths=str(deaths["ray"]))
    report = extract_ray(deadly_tree, out, RayConfig(workers=2), factory=ray_factory)
    failed = [{"source": "Vrukshasana/deadly.png", "reason": "the pose backend crashed on this file (2 times)"}]
    assert local.failed == report.failed == failed and local.files == 6 and local.poses == 5
    _same_reports(local, report)
    convert_table(out, tmp_path / "ray.csv")
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert [len(list(folder.iterdir())) for folder in deaths.values()] == [3, 3]
    again = extract_ray(deadly_tree, out, RayConfig(workers=2), factory=ray_factory)  # the shard holds the outcome
    assert again.resumed == 6 and again.failed == failed and len(list(deaths["ray"].iterdir())) == 3


def test_a_video_in_a_class_folder_gives_the_same_frame_rows_in_both_engines(ray_cluster, yoga8, videos, tmp_path):
    """Two photos and a real clip: one row per frame with a person, and the same report, in either engine."""
    data = tmp_path / "data"
    (data / "Squat").mkdir(parents=True)
    for photo in sorted((yoga8 / "UtkataKonasana").iterdir())[:2]:
        shutil.copy(photo, data / "Squat" / photo.name)
    (data / "Squat" / "squat.mp4").symlink_to(videos / "squat_1rep.mp4")
    local = build_dataset(data, tmp_path / "local.csv", workers=2)
    report = extract_ray(data, tmp_path / "ray.parquet", RayConfig(workers=2))
    convert_table(tmp_path / "ray.parquet", tmp_path / "ray.csv")
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    _same_reports(local, report)
    assert local.files == 3 and local.unreadable == []
    assert local.videos == [{"source": "Squat/squat.mp4", "reason": "a person in 75 of 75 frames"}]
    table = read_table(tmp_path / "local.csv")
    frames = [s for s in table.sources if "#" in s]
    assert len(table) == 77 and frames[0] == "Squat/squat.mp4#000000" and frames[-1] == "Squat/squat.mp4#000074"
    assert len({h for s, h in zip(table.sources, table.sha1) if "#" in s}) == 1


def test_onnx_backend_matches_the_onnx_extractor(ray_cluster, tree, blazepose_dir, tmp_path):
    """--backend onnx: each actor runs OnnxPoseExtractor.photos on its batches; the poses are the extractor's."""
    from posenet_cls.pose.blazepose import pipeline
    from posenet_cls.io.images import load_image

    out = tmp_path / "onnx.parquet"
    extract_ray(tree, out, RayConfig(workers=2, backend="onnx", shard_files=4, onnx_dir=str(blazepose_dir)))
    table = read_table(out)
    photos = sorted(p for p in tree.glob("*/*") if p.suffix != ".txt")
    with pipeline.OnnxPoseExtractor(blazepose_dir, device="cpu", threads=1) as ext:
        found = {p.relative_to(tree).as_posix(): ext.photo(load_image(p)) for p in photos}
    assert table.sources.tolist() == sorted(s for s, f in found.items() if f.keypoints is not None)
    for source, keypoints, attempt in zip(table.sources, table.keypoints, table.attempts):
        assert attempt == found[source].attempt
        np.testing.assert_allclose(keypoints, found[source].keypoints, atol=1e-5)


def _listener() -> tuple[socket.socket, int]:
    """A TCP port that accepts connections and never answers (not a Ray cluster)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []
    threading.Thread(target=lambda: [conns.append(srv.accept()) for _ in range(8)], daemon=True).start()
    return srv, srv.getsockname()[1]


def test_bad_address_is_one_line_within_seconds(ray_cluster, tree, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ray_engine, "CONNECT_TIMEOUT_S", 1.0)
    srv, port = _listener()
    with srv:
        for address, message in [
            ("127.0.0.1:1", "--address 127.0.0.1:1: no Ray cluster reachable there"),
            ("no-such-host.invalid:6379", "--address no-such-host.invalid:6379: no Ray cluster reachable there"),
            (f"127.0.0.1:{port}", f"--address 127.0.0.1:{port}: something listens there but it is not a Ray cluster"),
            ("nonsense", "--address nonsense: expected HOST:PORT"),
        ]:
            start = time.monotonic()
            assert main(["extract", str(tree), "-o", str(tmp_path / "x.parquet"), "--engine", "ray", "--address", address]) == 1
            err = capsys.readouterr().err.strip()
            assert err.startswith("posenet-cls extract: error: ") and message in err and "\n" not in err
            assert time.monotonic() - start < 5


def test_cli_engine_ray_json_and_the_local_engine_never_imports_ray(ray_cluster, tree, local_table, tmp_path, capsys):
    out = tmp_path / "cli.parquet"
    assert main(["extract", str(tree), "-o", str(out), "--engine", "ray", "--shard-files", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["poses"] == len(local_table)
    _assert_same(read_table(out), local_table)
    assert main(["extract", str(tree), "--address", "localhost:1"]) == 1
    assert "need --engine ray" in capsys.readouterr().err
    photo = sorted((tree / "Vrukshasana").iterdir())[0]
    code = ("import sys; from posenet_cls.cli import main; main(['extract', sys.argv[1], '--json']); "
            "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules, 'heavy import'")
    proc = subprocess.run([sys.executable, "-c", code, str(photo)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]


def test_uri_source_via_pyarrow_filesystem(ray_cluster, tree, local_table, tmp_path):
    """A file:// URI goes through pyarrow's filesystem layer (the path s3://, gs://, hdfs:// take) in the tasks."""
    out = tmp_path / "uri.parquet"
    report = extract_ray(f"file://{tree}", out, RayConfig(workers=2, shard_files=4))
    _assert_same(read_table(out), local_table)
    assert report.files == 13
    with pytest.raises(PosenetError, match=r"file:///nowhere/at/all: no such folder"):
        extract_ray("file:///nowhere/at/all", tmp_path / "n.parquet")
