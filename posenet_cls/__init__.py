"""posenet_cls: recognise human poses from photos, videos and a webcam with BlazePose keypoints.

The package is laid out by stage (see the README's module map). Modules of the flat layout before
it (``posenet_cls.predict``, ``posenet_cls.extract``, ...) still import: each old name is an alias
of the module it moved to, so code and pickled runs written against them keep working.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

__version__ = "0.1.0"

MOVED = {
    "posenet_cls.angles": "posenet_cls.coaching.angles",
    "posenet_cls.blazepose": "posenet_cls.pose.blazepose",
    "posenet_cls.blazepose.anchors": "posenet_cls.pose.blazepose.anchors",
    "posenet_cls.blazepose.batch": "posenet_cls.data.onnx_batch",
    "posenet_cls.blazepose.convert": "posenet_cls.pose.blazepose.convert",
    "posenet_cls.blazepose.files": "posenet_cls.pose.blazepose.files",
    "posenet_cls.blazepose.geometry": "posenet_cls.pose.blazepose.geometry",
    "posenet_cls.blazepose.pipeline": "posenet_cls.pose.blazepose.pipeline",
    "posenet_cls.checkpoint": "posenet_cls.training.checkpoint",
    "posenet_cls.dataset": "posenet_cls.data.dataset",
    "posenet_cls.draw": "posenet_cls.infer.draw",
    "posenet_cls.evaluate": "posenet_cls.training.evaluate",
    "posenet_cls.exercises": "posenet_cls.coaching.exercises",
    "posenet_cls.export": "posenet_cls.training.export",
    "posenet_cls.extract": "posenet_cls.pose.extract",
    "posenet_cls.hints": "posenet_cls.coaching.hints",
    "posenet_cls.models": "posenet_cls.training.models",
    "posenet_cls.models.baselines": "posenet_cls.training.models.baselines",
    "posenet_cls.models.mlp": "posenet_cls.training.models.mlp",
    "posenet_cls.novelty": "posenet_cls.training.novelty",
    "posenet_cls.predict": "posenet_cls.infer.photos",
    "posenet_cls.ray_engine": "posenet_cls.data.ray_engine",
    "posenet_cls.table": "posenet_cls.data.table",
    "posenet_cls.temporal": "posenet_cls.coaching.temporal",
    "posenet_cls.train": "posenet_cls.training.train",
    "posenet_cls.video": "posenet_cls.infer.stream",
    "posenet_cls.video_writer": "posenet_cls.io.writer",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module it moved to (one module object under both names)."""

    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=name in ("posenet_cls.blazepose",
                                                                               "posenet_cls.models"))

    def __init__(self):
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._specs.pop(module.__spec__.name)  # the import system gave it the old name's spec


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())  # ahead of the path finder, which would load a second copy
