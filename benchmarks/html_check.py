"""Opens a report page in headless Chromium as a reader would: every image must load and the page
must log nothing to its console; optionally takes a screenshot of its top.

The page is loaded in an iframe of a small checking page (file pages may read each other with
--allow-file-access-from-files), which lists the images that did not decode (``naturalWidth`` 0:
a missing file, a corrupt data URI) once the page has loaded; Chromium's own log
(--enable-logging=stderr) carries every console message of the page, an uncaught error included.

Usage: python benchmarks/html_check.py benchmarks/report/report.html [--screenshot benchmarks/report/screenshot.png]
(`make bench` takes the committed report's screenshot this way.)
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

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")  # Debian's package installs `chromium`
TIMEOUT_S = 120
SCREEN = (1280, 2400)  # the "Deploy this" box and the first machine's tables

_CHECK_PAGE = """<!doctype html><html><body><pre id="out">page did not load</pre>
<iframe id="f" src="{src}" style="width:1200px;height:800px"></iframe>
<script>
document.getElementById("f").addEventListener("load", () => {{
  let out;
  try {{
    const imgs = [...document.getElementById("f").contentDocument.images];
    const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                       .map(i => i.getAttribute("alt") || (i.getAttribute("src") || "").slice(0, 80));
    out = JSON.stringify({{images: imgs.length, broken: broken}});
  }} catch (e) {{ out = JSON.stringify({{error: String(e)}}); }}
  document.getElementById("out").textContent = out;
}});
</script></body></html>
"""


def chromium() -> str | None:
    """The headless browser's executable, or None where none is installed."""
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _run(args: list[str], profile: str) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise RuntimeError(f"no Chromium found (tried {', '.join(CANDIDATES)}): apt-get install chromium")
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def check_page(page: str | Path) -> dict:
    """``{"images": n, "broken": [alt...], "console": [message...]}`` for a page as Chromium shows it.

    Raises:
        RuntimeError: no Chromium, or the checking page did not report (the page did not load).
    """
    page = Path(page).resolve()
    with tempfile.TemporaryDirectory(prefix="html-check-") as tmp:
        checker = Path(tmp) / "check.html"
        checker.write_text(_CHECK_PAGE.format(src=page.as_uri()))
        r = _run(["--allow-file-access-from-files", "--virtual-time-budget=15000", "--enable-logging=stderr",
                  "--v=0", "--dump-dom", checker.as_uri()], str(Path(tmp) / "profile"))
    found = re.search(r'<pre id="out">([^<]*)</pre>', r.stdout)
    if not found or not found.group(1).startswith("{"):
        raise RuntimeError(f"Chromium did not report on {page} (exit {r.returncode}): {r.stderr[-500:]}")
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    if "error" in result:
        raise RuntimeError(f"the checking page could not read {page}: {result['error']}")
    # Chromium logs each console message of a page as `INFO:CONSOLE...] "message", source: URL (line)`
    result["console"] = [line.split("] ", 1)[-1] for line in r.stderr.splitlines()
                         if ":CONSOLE" in line and page.name in line]
    return result


def screenshot(page: str | Path, png: str | Path, size: tuple[int, int] = SCREEN) -> Path:
    """A PNG of the top of ``page`` (``size`` pixels) as Chromium renders it."""
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="html-shot-") as tmp:
        r = _run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars",
                  Path(page).resolve().as_uri()], str(Path(tmp) / "profile"))
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-500:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("--screenshot", type=Path, default=None, help="also write a PNG of the page's top here")
    args = ap.parse_args(argv)
    if not args.page.is_file():
        print(f"html_check: error: {args.page} is not a file", file=sys.stderr)
        return 2
    try:
        result = check_page(args.page)
        if args.screenshot:
            screenshot(args.page, args.screenshot)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"html_check: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.page}: {result['images']} images, {len(result['broken'])} broken, "
          f"{len(result['console'])} console messages")
    for line in result["broken"] + result["console"]:
        print(f"  {line}")
    return 0 if not result["broken"] and not result["console"] else 1


if __name__ == "__main__":
    sys.exit(main())
