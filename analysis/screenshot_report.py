"""Open a report's index.html in headless Chromium: count pictures that fail to load, screenshot the page.

    python analysis/screenshot_report.py EXPERIMENT_DIR/report --out report.png

Needs Chromium (Debian: apt-get install chromium). Prints how many pictures the
page has and how many failed to load, and exits 1 if any did, so it doubles
as a check. The page records both counts and its height itself once loaded
(`<body data-images=.. data-broken-images=.. data-page-height=..>`); this reads
them from the DOM, then captures the whole page.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _run(browser: str, url: str, width: int, height: int, *arguments: str) -> str:
    # --no-sandbox: Chromium refuses to run as root otherwise (containers, CI).
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--virtual-time-budget=10000", f"--window-size={width},{height}", *arguments, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def inspect_page(browser: str, index: Path, width: int) -> dict[str, int]:
    """What the page recorded about itself: images, broken-images, page-height."""
    dom = _run(browser, index.resolve().as_uri(), width, 800, "--dump-dom")
    found = {name: re.search(rf'<body[^>]* data-{name}="(\d+)"', dom) for name in ("images", "broken-images", "page-height")}
    if not all(found.values()):
        raise RuntimeError(f"{index}: the page did not record its pictures (is it a vae-tune report?)")
    return {name: int(match.group(1)) for name, match in found.items()}


def screenshot(browser: str, index: Path, out: Path, width: int, height: int) -> None:
    _run(browser, index.resolve().as_uri(), width, height, f"--screenshot={out.resolve()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report folder (or its index.html)")
    parser.add_argument("--out", type=Path, help="screenshot PNG to write (default: only check the pictures)")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels; default 1280")
    args = parser.parse_args()
    index = args.report / "index.html" if args.report.is_dir() else args.report
    if not index.is_file():
        print(f"screenshot_report: {index}: no such file", file=sys.stderr)
        return 2
    browser = find_chromium()
    if browser is None:
        print(f"screenshot_report: no Chromium found (looked for {', '.join(BROWSERS)})", file=sys.stderr)
        return 2
    page = inspect_page(browser, index, args.width)
    print(f"{index}: {page['images']} pictures, {page['broken-images']} failed to load")
    if args.out:
        screenshot(browser, index, args.out, args.width, page["page-height"])
        print(f"wrote {args.out} ({args.width}x{page['page-height']})")
    return 1 if page["broken-images"] else 0


if __name__ == "__main__":
    sys.exit(main())
