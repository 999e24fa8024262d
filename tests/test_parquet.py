"""Parquet keypoint tables: the same rows as CSV, the same validation, shard folders, convert, train on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from posenet_cls.cli import main
from posenet_cls.data.dataset import build_dataset
from posenet_cls.errors import PosenetError
from posenet_cls.data.table import arrow_table, read_table, table_columns, table_rows, write_table


@pytest.fixture(scope="module")
def yoga8_parquet(yoga8_table, tmp_path_factory) -> Path:
    """The yoga8 table written as Parquet."""
    out = tmp_path_factory.mktemp("parquet") / "poses.parquet"
    write_table(table_rows(yoga8_table), out)
    return out


def _same(a, b) -> None:
    for field in ("labels", "sources", "sha1", "attempts"):
        assert getattr(a, field).tolist() == getattr(b, field).tolist(), field
    assert a.keypoints.dtype == b.keypoints.dtype == np.float32
    assert np.array_equal(a.keypoints, b.keypoints)
    assert (a.world is None) == (b.world is None) and (a.world is None or np.array_equal(a.world, b.world, equal_nan=True))


def test_parquet_holds_the_csv_rows_and_converts_back_byte_for_byte(yoga8_csv, yoga8_table, yoga8_parquet, tmp_path):
    schema = pq.read_schema(yoga8_parquet)
    assert schema.names == table_columns()  # no index column
    assert str(schema.field("source").type) == "string" and str(schema.field("nose_x").type) == "float"
    _same(read_table(yoga8_parquet), yoga8_table)
    assert main(["convert", str(yoga8_parquet), str(tmp_path / "back.csv")]) == 0
    assert (tmp_path / "back.csv").read_bytes() == yoga8_csv.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_local_extraction_writes_parquet_with_exact_float32(yoga8, tmp_path):
    """extract -o x.parquet keeps BlazePose's float32 values; the CSV of the same run is them at 7 digits."""
    root = tmp_path / "data"
    for label in ("Triangle", "Natarajasana"):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:3]:
            (root / label / photo.name).symlink_to(photo)
    build_dataset(root, tmp_path / "t.parquet", workers=1)
    build_dataset(root, tmp_path / "t.csv", workers=1)
    exact, rounded = read_table(tmp_path / "t.parquet"), read_table(tmp_path / "t.csv")
    assert len(exact) == 6 and exact.sources.tolist() == rounded.sources.tolist()
    assert np.allclose(exact.keypoints, rounded.keypoints, rtol=1e-6, atol=1e-7)
    assert json.loads((tmp_path / "t.report.json").read_text())["poses"] == 6


def test_shard_folder_reads_as_one_table_in_name_order(yoga8_table, tmp_path):
    rows = table_rows(yoga8_table)
    shards = tmp_path / "shards.parquet"
    shards.mkdir()
    write_table(rows[:200], shards / "part-00000.parquet")
    write_table(rows[200:], shards / "part-00001.parquet")
    (shards / "_manifest.json").write_text("{}")  # '_' and '.' files are not shards
    (shards / ".part-00002.parquet").write_text("torn")
    _same(read_table(shards), yoga8_table)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PosenetError, match=r"empty: a folder with no \.parquet files"):
        read_table(empty)


def _bad(yoga8_table, edit):
    """The first 20 rows of yoga8 as an Arrow table, changed by ``edit``."""
    table = arrow_table(table_rows(yoga8_table.subset(np.arange(20))))
    return edit(table)


def _set(table, name, array):
    return table.set_column(table.column_names.index(name), name, array)


@pytest.mark.parametrize(
    "name, edit, message",
    [
        ("index", lambda t: t.append_column("__index_level_0__", pa.array(range(t.num_rows))),
         r"column '__index_level_0__' is an unnamed index column.*to_parquet\(index=False\)"),
        ("unnamed", lambda t: pa.Table.from_arrays([pa.array(range(t.num_rows)), *t.columns], ["Unnamed: 0", *t.column_names]),
         r"unnamed index column \('Unnamed: 0'\)"),
        ("nolabel", lambda t: t.drop_columns(["label"]), r"no 'label' column"),
        ("short", lambda t: t.drop_columns(["right_foot_index_visibility"]),
         r"missing, first 'right_foot_index_visibility' .*found 234"),
        ("extra", lambda t: t.append_column("score", pa.array([1.0] * t.num_rows)), r"unexpected column 'score'"),
        ("worldpart", lambda t: _set(t, "nose_world_y", pa.array([None] + [0.5] * (t.num_rows - 1), pa.float32())),
         r"row 1 has some world landmark values but not all"),
        ("duplicate", lambda t: t.append_column("nose_x", t.column("nose_x")), r"column 'nose_x' appears more than once"),
        ("nan", lambda t: _set(t, "nose_y", pa.array([0.5, float("nan")] + [0.5] * (t.num_rows - 2), pa.float32())),
         r"row 2 has NaN, infinite or missing landmark values"),
        ("null", lambda t: _set(t, "nose_y", pa.array([None] + [0.5] * (t.num_rows - 1), pa.float32())),
         r"row 1 has NaN, infinite or missing"),
        ("text", lambda t: _set(t, "left_hip_x", pa.array(["0.5"] * t.num_rows)),
         r"column 'left_hip_x' is string, expected float32 numbers"),
        ("intlabel", lambda t: _set(t, "label", pa.array(range(t.num_rows))), r"column 'label' is int64, expected strings"),
        ("nolabelvalue", lambda t: _set(t, "label", pa.array([None] * t.num_rows, pa.string())), r"row 1 has an empty label"),
        ("empty", lambda t: t.slice(0, 0), r"the table has its columns but no rows"),
    ],
)
def test_bad_parquet_tables_are_refused_like_csv(yoga8_table, tmp_path, name, edit, message):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(_bad(yoga8_table, edit), path)
    with pytest.raises(PosenetError, match=rf"{name}\.parquet: .*{message}"):
        read_table(path)


def test_a_bad_shard_is_named(yoga8_table, tmp_path):
    shards = tmp_path / "out"
    shards.mkdir()
    write_table(table_rows(yoga8_table)[:5], shards / "part-00000.parquet")
    (shards / "part-00001.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(PosenetError, match=r"part-00001\.parquet: not a readable Parquet file"):
        read_table(shards)


def test_integer_and_float64_landmarks_are_read_as_float32(yoga8_table, tmp_path):
    t = _bad(yoga8_table, lambda t: _set(t, "nose_x", pa.array(range(t.num_rows), pa.int64())))
    t = _set(t, "nose_y", t.column("nose_y").cast(pa.float64()))
    pq.write_table(t.drop_columns(["sha1", "attempt"]), tmp_path / "loose.parquet")
    table = read_table(tmp_path / "loose.parquet")
    assert table.keypoints.dtype == np.float32 and table.keypoints[3, 0, 0] == 3.0
    assert table.sha1.tolist() == [""] * 20


def test_without_pyarrow_the_error_says_what_to_install(yoga8_parquet, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for call in (lambda: read_table(yoga8_parquet), lambda: write_table([], tmp_path / "x.parquet")):
        with pytest.raises(PosenetError, match=r'need pyarrow; pip install "posenet-cls\[parquet\]"'):
            call()


def test_convert_cli(yoga8_csv, yoga8_table, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    assert "posenet-cls convert poses.csv poses.parquet" in capsys.readouterr().out
    out = tmp_path / "p.parquet"
    (tmp_path / "dir.parquet").mkdir()
    assert main(["convert", str(yoga8_csv), str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["rows"] == len(yoga8_table) and len(record["classes"]) == 8
    assert np.allclose(read_table(out).keypoints, yoga8_table.keypoints, rtol=0, atol=0)
    for argv, message in [
        (["convert", str(yoga8_csv), str(tmp_path / "p.xlsx")], "p.xlsx: unsupported table format '.xlsx' (use .csv or .parquet)"),
        (["convert", str(tmp_path / "nope.csv"), str(out)], "nope.csv: no such table file"),
        (["convert", str(yoga8_csv), str(tmp_path / "dir.parquet")], "dir.parquet: is a folder; give a .csv or .parquet file"),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("posenet-cls convert: error: ") and message in err and "\n" not in err


def test_train_and_evaluate_read_parquet(yoga8_parquet, tmp_path, capsys):
    run = tmp_path / "svc"
    assert main(["train", str(yoga8_parquet), "--model", "svc", "-o", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test"]["accuracy"] > 0.9
    assert main(["evaluate", str(run), str(yoga8_parquet), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evaluated"] == metrics["split"]["test"]


@pytest.mark.parametrize("norm", ["layer", "batch"])  # BatchNorm: torch's SyncBatchNorm refuses CPU modules
def test_train_ddp_two_cpu_processes(yoga8_parquet, tmp_path, norm):
    """--devices 2 --strategy ddp on CPU (gloo): two processes, rank 0 writes the run, the best epoch is kept."""
    run = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "posenet_cls", "train", str(yoga8_parquet), "-o", str(run),
                           "--epochs", "4", "--devices", "2", "--strategy", "ddp", "--norm", norm, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["config"]["devices"] == 2 and metrics["training"]["epochs_run"] == 4
    assert 0 <= metrics["training"]["best_epoch"] < 4 and (run / "model.ckpt").is_file()


def test_ddp_ranks_end_when_the_command_is_killed(yoga8_parquet, tmp_path):
    """kill -9 of train --devices 2: the rank Lightning launched does not wait out the process group's timeout."""
    import os
    import signal
    import time

    from procs import descendants, describe, still_alive

    proc = subprocess.Popen([sys.executable, "-m", "posenet_cls", "train", str(yoga8_parquet), "-o", str(tmp_path / "r"),
                             "--epochs", "500", "--devices", "2", "--strategy", "ddp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ranks = []
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not ranks:
            ranks = [p for p in descendants(proc.pid) if "posenet_cls" in describe([p])]
            time.sleep(0.2)
        assert ranks and proc.poll() is None, "rank 1 never started"
        time.sleep(3)  # rank 1 is training (or joining the group) now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while (left := still_alive(ranks)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"alive 20 s after rank 0 was killed:\n{describe(left)}"
    finally:
        proc.kill()
        proc.wait()
        for p in still_alive(ranks):
            os.kill(p.pid, signal.SIGKILL)


def test_devices_need_ddp(capsys, yoga8_parquet):
    assert main(["train", str(yoga8_parquet), "--devices", "2"]) == 1
    assert "--devices 2 needs a DDP strategy" in capsys.readouterr().err
    assert main(["train", str(yoga8_parquet), "--devices", "2", "--strategy", "ddp", "--cv", "5"]) == 1
    assert "not --cv or baselines" in capsys.readouterr().err
