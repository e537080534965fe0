"""Screenshots of the web page's three views, for the README: docs/ui-embeddings.png, docs/ui-alignment.png,
docs/ui-jobs.png.

It runs the browser test (tests/test_ui_browser.py: both services under uvicorn, Debian's chromium
through Playwright) with ``UI_SCREENSHOTS_DIR`` set, which trains somewhat larger models (so the
heatmaps show a learnt alignment) and saves each view once the test has clicked through it.

    .venv/bin/python bench/ui_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNGs go (default docs/)")
    args = parser.parse_args()
    env = {**os.environ, "UI_SCREENSHOTS_DIR": str(Path(args.out).resolve())}
    tests = ["explorer", "alignment", "jobs_of_both"]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_ui_browser.py",
        "-k",
        " or ".join(tests),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    for name in ("embeddings", "alignment", "jobs"):
        path = Path(args.out) / f"ui-{name}.png"
        print(f"{path}: {'ok' if path.exists() else 'MISSING'}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
