"""Files out and in, one way each: writes that appear whole or not at all, and listing a folder's files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from posenet_cls.errors import PosenetError


@contextlib.contextmanager
def atomic_path(path: str | Path, unique: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends, removed if it raises.

    The temporary name is ``NAME.tmp`` (``unique``: ``.NAME.<pid>.tmp``, for writers that may run side by
    side), in the same folder, so the rename is atomic: a reader sees the old file or the new one,
    never half of one, and an interrupted run leaves no half-written output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp" if unique else f"{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file (UTF-8) through :func:`atomic_path`; returns its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def list_files(root: str | Path) -> list[str]:
    """Every file below a folder, as sorted relative POSIX paths; hidden files and folders are skipped.

    Linked folders are followed (a class folder may be a symlink), each real folder once.
    """
    root = Path(root)
    if not root.is_dir():
        raise PosenetError(f"{root}: no such folder")
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root)
        found += [(rel / f).as_posix() for f in files if not f.startswith(".") and (Path(folder) / f).is_file()]
    return sorted(found)
