"""The benchmark's report: machine information, and every section's table rendered from one spec."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from posenet_cls.errors import PosenetError
from posenet_cls.io.files import write_text_atomic


def machine_info() -> dict:
    """CPU, cores, Python, library versions, onnxruntime providers and GPU of this machine, for report headers."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                  "platform": platform.platform(terse=True)}
    for lib in ("numpy", "onnxruntime", "torch", "mediapipe", "scikit-learn", "opencv-python"):
        try:
            info[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            info[lib] = None
    import onnxruntime
    import torch

    info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return info


def machine_description(info: dict | None = None) -> str:
    """One line naming the CPU, cores, GPU and library versions, for benchmark headers."""
    i = info or machine_info()
    libs = ", ".join(f"{k} {i[k]}" for k in ("numpy", "onnxruntime", "torch", "mediapipe", "scikit-learn") if i.get(k))
    return (f"{i['cpu']}, {i['cores']} cores, GPU: {i['gpu']}; Python {i['python']}, {libs}; "
            f"onnxruntime providers: {', '.join(i['onnxruntime_providers'])}")


def _fmt(x: float) -> str:
    """A figure with three significant digits, thousands separated."""
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x >= 1 else f"{x:.2g}"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


@dataclass(frozen=True)
class Column:
    """One column of a section's table: its header, its alignment, and how a row shows in it."""

    header: str
    cell: Callable[[dict], str]
    right: bool = True


def _per_s(r: dict) -> str:
    return f"{_fmt(r['per_s'])} {r['unit']}s/s"


def _poses(r: dict) -> str:
    return f"{r['poses']} / {r['items']}"


def _classifier_columns(batches: list[int]) -> list[Column]:
    return [Column("backend", lambda r: r["what"], False),
            Column("size", lambda r: f"{_size(r['size_bytes'])} ({r['size_of']})"),
            Column("accuracy", lambda r: f"{r['accuracy']:.3f}"),
            Column("median us", lambda r: _fmt(r["median_us"])),
            Column("p99 us", lambda r: _fmt(r["p99_us"])),
            Column("vs article", lambda r: f"{r['vs']:.2f}x")] + [
        Column(f"poses/s @{b}", lambda r, b=b: _fmt(r[f"poses_per_s_batch_{b}"])) for b in batches]


_STAGE, _WHAT = Column("stage", lambda r: r["stage"], False), Column("what", lambda r: r["what"], False)
_WORKERS = Column("workers", lambda r: str(r["workers"]))
SECTION_TABLES: dict[str, tuple[str, str, Callable[[dict], list[Column]]]] = {
    # name -> (title, the sentence above the table, the columns for the report's settings)
    "classifiers": ("Classifiers", "", lambda s: _classifier_columns(s["batches"])),
    "extraction": (
        "Extraction",
        "vs: ms per photo or frame over the bare MediaPipe loop's (below 1 = faster). Times include "
        "starting MediaPipe and the worker processes.",
        lambda s: [_STAGE, _WHAT, _WORKERS, Column("poses / items", _poses),
                   Column("ms per item", lambda r: _fmt(r["ms_per_item"])), Column("vs bare", lambda r: f"{r['vs']:.2f}x")]),
    "backends": (
        "Pose backends: MediaPipe vs onnxruntime BlazePose",
        "vs: photos or frames per second over MediaPipe's, measured in the same run (above 1 = faster). "
        "Times include start-up (MediaPipe's worker processes, onnxruntime's sessions, decode threads); "
        "the read + decode row is the decode workers alone, for the photos/s the networks can never exceed.",
        lambda s: [_STAGE, _WHAT, Column("batch", lambda r: str(r.get("batch", ""))), _WORKERS,
                   Column("poses / items", _poses), Column("per second", _per_s),
                   Column("vs MediaPipe", lambda r: f"{r['vs']:.2f}x")]),
    "end_to_end": (
        "End to end",
        "vs: photos or frames per second over the bare MediaPipe loop's, which classifies nothing "
        "(above 1 = faster).",
        lambda s: [_STAGE, _WHAT, _WORKERS, Column("poses / items", _poses), Column("per second", _per_s),
                   Column("vs bare", lambda r: f"{r['vs']:.2f}x")]),
}


def _table(columns: list[Column], rows: list[dict]) -> list[str]:
    out = ["| " + " | ".join(c.header for c in columns) + " |",
           "|" + "|".join("---:" if c.right else "---" for c in columns) + "|"]
    return out + ["| " + " | ".join(c.cell(r) for c in columns) + " |" for r in rows]


def render_markdown(report: dict, command: str) -> str:
    """The report as markdown: a header with the command and machine, then one table per section."""
    m, d, s = report["machine"], report["data"], report["settings"]
    split = d["split"]
    lines = [f"`{command}`", "",
             f"Machine: {machine_description(m)}.", "",
             f"Data: {d['source']}: " + (f"{d['poses']} poses of " if d["poses"] is not None else "")
             + f"{len(d['classes'])} classes"
             + (f" from {d['photos']} photos" if d["photos"] else "")
             + (f"; split fold {split['fold']} of {split['folds']} (seed {split['seed']}): {split['train']} train, "
                f"{split['val']} validation, {split['test']} test poses" if split else "")
             + (f"; video {Path(d['video']).name}" if d["video"] else "") + ".", "",
             f"Settings: up to {s['calls']} single-pose calls and {s['seconds']:g} s per classifier measurement; "
             f"extraction and end-to-end runs: best of {s['repeats']}"
             + (f", first {s['max_frames']} video frames" if s["max_frames"] else "") + "."]
    for name, section in report["sections"].items():
        title, intro, columns = SECTION_TABLES[name]
        rows = section["rows"]
        if name == "classifiers":
            intro = (f"Same {rows[0]['test_poses']} held-out poses for every backend. Latency: one pose per call, "
                     "after a warm-up; vs: median latency over the article's SVC (below 1 = faster). Threads: ours "
                     "and torch run one pose, and batches under 256, on one thread, larger batches on all cores; "
                     "scikit-learn predicts on one; k-NN in chunks of 256 poses.")
        lines += ["", f"### {title}", "", intro, ""]
        if rows or name != "backends":  # the other sections show their header even without rows
            lines += _table(columns(s), rows)
        lines += [f"\n{n}." for n in section.get("notes", [])]
    return "\n".join(lines) + "\n"


def numbers(report: dict) -> Iterable[float]:
    """Every number in the report's sections (for sanity checks)."""
    for sec in report["sections"].values():
        for row in sec["rows"]:
            yield from (v for v in row.values() if isinstance(v, (int, float)) and not isinstance(v, bool))


def write_files(out_dir: str | Path, files: dict[str, str]) -> list[Path]:
    """Write each name -> text under ``out_dir`` (made when missing), each atomically; returns the paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PosenetError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return [write_text_atomic(out / name, text) for name, text in files.items()]


def write_report(report: dict, command: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``benchmark.md`` and ``benchmark.json`` under ``out_dir``, each atomically; returns both paths."""
    if not all(math.isfinite(v) for v in numbers(report)):
        raise PosenetError("a measurement came out NaN or infinite; nothing written")
    md, js = write_files(out_dir, {"benchmark.md": render_markdown(report, command),
                                   "benchmark.json": json.dumps({"command": command, **report}, indent=1, allow_nan=False)})
    return md, js
