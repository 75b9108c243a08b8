"""Headless Chromium for the report tests: the DOM after the page's scripts ran, what the page logged to the
console (uncaught errors included), and a screenshot. Under CI=true a missing browser fails the test."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers.requires import missing

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=20000"]
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] \"(.*)\", source: (\S+)")


def chromium() -> str:
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found is None:
        missing("headless Chromium not found (apt-get install -y chromium)")
    return found


@dataclass
class Rendered:
    dom: str
    console: list[str]
    screenshot: Path


def render(page: Path, folder: Path, width: int = 1280, height: int = 3000, screenshot: bool = True) -> Rendered:
    return render_url(page.resolve().as_uri(), folder, folder / f"{page.stem}.png", width, height, screenshot)


def render_url(url: str, folder: Path, shot: Path, width: int = 1280, height: int = 3000,
               screenshot: bool = True) -> Rendered:
    exe = chromium()
    base = [exe, *FLAGS, f"--window-size={width},{height}"]
    dom = subprocess.run(base + [f"--user-data-dir={folder / 'profile-dom'}", "--enable-logging=stderr", "--v=0",
                                 "--dump-dom", url], capture_output=True, text=True, timeout=240)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [f"{m.group(1)} ({m.group(2)})" for m in CONSOLE.finditer(dom.stderr)]
    if not screenshot:  # the DOM is all the caller reads
        return Rendered(dom.stdout, console, shot)
    run = subprocess.run(base + [f"--user-data-dir={folder / 'profile-shot'}", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0 and shot.stat().st_size > 1000, run.stderr[-2000:]
    return Rendered(dom.stdout, console, shot)


def chart_divs(dom: str) -> dict[str, str]:
    """id -> the inner HTML of each Plotly chart container (ids chart-1, chart-2, ... as the report names them)."""
    starts = [(m.group(1), m.start()) for m in re.finditer(r'<div id="(chart-\d+)"', dom)]
    return {cid: dom[pos:(starts[i + 1][1] if i + 1 < len(starts) else len(dom))] for i, (cid, pos) in enumerate(starts)}


def drawn(inner: str) -> bool:
    """Plotly has drawn a trace: an SVG canvas holding heatmap bricks, bars or markers, or lines."""
    return 'class="main-svg"' in inner and bool(re.search(r'class="(hm|point|js-line)"', inner))
