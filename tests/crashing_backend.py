"""Test helper: an extractor factory whose BlazePose kills its own process (SIGKILL), as a crashing backend would.

Importable by worker processes (forkserver children get the tests' sys.path); Ray actors get it by
value (``ray.cloudpickle.register_pickle_by_value``). Kept small so a restarted worker imports it fast.
"""

from __future__ import annotations

import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

from posenet_cls.pose.extract import PoseOptions


@dataclass(frozen=True)
class CrashingFactory:
    """MediaPipe's extractor, except that the process dies on a photo of ``shape`` (every time), or once per ``once``.

    ``shape``: (height, width) of the deadly image. ``once``: a file; the first process that manages
    to delete it dies (a crash a retry survives). ``deaths``: a folder that gets one file per death.
    """

    shape: tuple[int, int] | None = None
    once: str | None = None
    deaths: str | None = None

    def __call__(self) -> _Crashing:
        return _Crashing(PoseOptions()(), self)


class _Crashing:
    """The extractor :class:`CrashingFactory` builds."""

    def __init__(self, inner, spec: CrashingFactory):
        self.inner = inner
        self.spec = spec

    def photo(self, rgb, attempts=None):
        if self.spec.shape is not None and tuple(rgb.shape[:2]) == tuple(self.spec.shape):
            self._die()
        if self.spec.once is not None:
            try:
                os.remove(self.spec.once)
            except OSError:
                pass
            else:
                self._die()
        return self.inner.photo(rgb, attempts)

    def close(self) -> None:
        self.inner.close()

    def _die(self) -> None:
        if self.spec.deaths is not None:
            (Path(self.spec.deaths) / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
        os.kill(os.getpid(), signal.SIGKILL)
