"""``python -m posenet_cls.pose.blazepose`` (or ``posenet_cls.blazepose``): ``posenet-cls convert-blazepose``."""

import sys

from posenet_cls.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-blazepose", *sys.argv[1:]]))
