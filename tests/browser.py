"""Headless Chromium for the report's browser test: find it (scripts/browser.sh installs Debian's package), take a
screenshot, read the DOM after the page's load handlers ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120


def chromium() -> str:
    """The browser's path (``VLKGE_CHROMIUM`` or the first of :data:`NAMES` on the path); skips the test,
    printing why, when there is none."""
    path = os.environ.get("VLKGE_CHROMIUM") or next((p for p in map(shutil.which, NAMES) if p), None)
    if path is None:
        reason = (f"no headless browser ({', '.join(NAMES)}) on the PATH: scripts/browser.sh installs Debian's "
                  "chromium package where it runs as root with apt-get (scripts/test.sh calls it)")
        print(reason)
        pytest.skip(reason)
    return path


def _run(*args: str) -> str:
    browser = chromium()
    done = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, f"{browser} failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 2400) -> Path:
    _run(f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri())
    assert out.is_file(), f"no screenshot of {page} was written"
    return out


def dump_dom(page: Path) -> str:
    """The page's DOM after load (its scripts ran within 10 s of virtual time)."""
    return _run("--dump-dom", "--virtual-time-budget=10000", page.resolve().as_uri())
