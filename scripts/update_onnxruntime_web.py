"""Re-vendor onnxruntime-web into posenet_cls/web/vendor/ from npm (the version pinned in posenet_cls/web/package.json).

    python scripts/update_onnxruntime_web.py            # npm ci (package-lock.json), then copy the dist files
    python scripts/update_onnxruntime_web.py --version 1.31.0   # move the pin, update the lock file, copy

Only the files the page loads are copied: the WebGPU build's ES module (which also has the plain
wasm backend) and its wasm binary with its loader. Needs node and npm; nothing else in the project does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "posenet_cls" / "web"
sys.path.insert(0, str(WEB.parents[1]))

from posenet_cls.web.site import VENDOR_FILES  # noqa: E402

PACKAGE = "onnxruntime-web"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", help=f"pin this {PACKAGE} version (default: keep package.json's pin)")
    args = p.parse_args()
    if args.version:
        subprocess.run(["npm", "install", "--save-exact", "--ignore-scripts", "--no-audit", "--no-fund",
                        f"{PACKAGE}@{args.version}"], cwd=WEB, check=True)
    else:
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    package = WEB / "node_modules" / PACKAGE
    version = json.loads((package / "package.json").read_text())["version"]
    vendor = WEB / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    vendor.mkdir()
    for name in VENDOR_FILES:
        shutil.copy(package / "dist" / name, vendor / name)
    meta = json.loads((package / "package.json").read_text())
    (vendor / "VERSION").write_text(f"{PACKAGE} {version}\n")
    (vendor / "NOTICE").write_text(
        f"{PACKAGE} {version} ({meta.get('homepage', 'https://onnxruntime.ai')}), licence {meta.get('license')}, "
        "Copyright (c) Microsoft Corporation.\n"
        "Copied unchanged from the npm package's dist/ by scripts/update_onnxruntime_web.py: "
        f"{', '.join(VENDOR_FILES)}.\n")
    size = sum(f.stat().st_size for f in vendor.iterdir())
    print(f"vendored {PACKAGE} {version} into {vendor} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
