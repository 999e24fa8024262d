"""Convert BlazePose's two networks from the installed mediapipe wheel to ONNX (for --backend onnx).

    .venv/bin/python scripts/convert_blazepose.py [--out DIR] [--check] [--bench] [--json]

The same as ``posenet-cls convert-blazepose``, which works from any install of the package.
"""

import sys

from posenet_cls.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-blazepose", *sys.argv[1:]]))
