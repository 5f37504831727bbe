#!/usr/bin/env python3
"""report.html as a browser shows it: headless Chromium (Debian's `chromium` package) opens the page at a given
width and reports whether every image loaded, how much text it shows, how wide the page and its tables are, how
many lines each method name takes in the table, the page's blocks in order, and every URL the page refers to
(src and href, resolved: all should be file:// beside the page, since a report is read offline).

    python tools/report_check.py OUT/report.html [--width 1280] [--screenshot PNG] [--height H]

The page is checked through a copy beside it (so its relative image paths resolve) with a script appended that
measures after the load event and writes the numbers into the page, which Chromium's --dump-dom prints; the copy
is removed afterwards. Nothing else is installed or fetched: the browser runs with a fresh profile, no sandbox
(containers run as root), no GPU, no background networking. tests/test_run.py checks the smoke study's report with
it (skipped, saying why, where Chromium is absent); .ci/run installs Chromium where apt can.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
TIMEOUT_S = 120
PROBE = """<script>addEventListener('load', () => {
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; };
  const out = {
    width: innerWidth, scroll_width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight, text_chars: document.body.innerText.trim().length,
    images: [...document.images].map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
      shown_width: i.getBoundingClientRect().width, shown_height: i.getBoundingClientRect().height})),
    tables: [...document.querySelectorAll('table')].map(t => ({right: t.getBoundingClientRect().right,
      width: t.getBoundingClientRect().width})),
    method_lines: [...document.querySelectorAll('td.method')].map(td => [td.textContent, lines(td)]),
    urls: [...document.querySelectorAll('[src],[href]')].map(e => e.src || e.href),
    order: [...document.body.children].map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')),
  };
  const pre = document.createElement('pre'); pre.id = 'squeeze-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre); });</script>"""


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _run(browser: str, args: list[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="report-check-") as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{browser} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def check(page: Path, width: int = 1280, browser: str | None = None) -> dict:
    """What the browser shows of `page` at `width` px (see the module docstring for the keys)."""
    browser = browser or find_chromium()
    if browser is None:
        raise RuntimeError(f"no browser on PATH (tried {', '.join(BROWSERS)})")
    page = Path(page).resolve()
    probe = page.with_name(f".{page.stem}.check.html")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", PROBE + "</body>") if "</body>" in text else text + PROBE,
                     encoding="utf-8")
    try:
        dom = _run(browser, [f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
                             probe.as_uri()])
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="squeeze-check">(.*?)</pre>', dom, re.S)
    if found is None:
        raise RuntimeError(f"the page's measurements did not come back (its load event never fired?): "
                           f"{dom[:300]!r}")
    import html
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, png: Path, width: int = 1280, height: int | None = None) -> Path:
    """A PNG of `page` at `width` px, `height` px tall (default: the whole page, measured by `check`)."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError(f"no browser on PATH (tried {', '.join(BROWSERS)})")
    height = height or check(page, width, browser)["height"]
    _run(browser, [f"--window-size={width},{height}", "--virtual-time-budget=10000",
                   f"--screenshot={Path(png).resolve()}", Path(page).resolve().as_uri()])
    return Path(png)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("page", type=Path)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--screenshot", type=Path, default=None)
    p.add_argument("--height", type=int, default=None, help="screenshot height in px (default: the whole page)")
    a = p.parse_args()
    try:
        print(json.dumps(check(a.page, a.width), indent=1))
        if a.screenshot:
            print(f"wrote {screenshot(a.page, a.screenshot, a.width, a.height)}")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        print(f"report_check: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
