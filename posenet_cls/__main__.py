import sys

from posenet_cls.cli import main

sys.exit(main())
