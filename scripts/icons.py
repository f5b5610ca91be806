"""Make the web-app icons from dashboard/static/icon.svg, once (the PNGs are committed; the
dashboard needs nothing at run time). Debian's Chromium draws the SVG through Playwright:

    dashboard/static/icon-192.png            192 x 192, the icon as it is (rounded corners)
    dashboard/static/icon-512.png            512 x 512, the same
    dashboard/static/icon-maskable-512.png   512 x 512, full bleed: the roller inside the
                                             central 60 % (a launcher's mask may cut 20 % away)

Usage: .venv/bin/python scripts/icons.py
"""

from __future__ import annotations

import base64
from pathlib import Path

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "dashboard" / "static"
BACKGROUND = "#0f766e"  # the icon's own square, and the manifest's theme colour


def main() -> None:
    svg = base64.b64encode((STATIC / "icon.svg").read_bytes()).decode()
    src = f"data:image/svg+xml;base64,{svg}"
    jobs = [("icon-192.png", 192, 1.0, "transparent"), ("icon-512.png", 512, 1.0, "transparent"),
            ("icon-maskable-512.png", 512, 0.6, BACKGROUND)]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        for name, size, share, bg in jobs:
            page = browser.new_page(viewport={"width": size, "height": size})
            inner = round(size * share)
            page.set_content(
                f'<html><body style="margin:0;width:{size}px;height:{size}px;background:{bg};display:flex;'
                f'align-items:center;justify-content:center"><img src="{src}" width="{inner}" height="{inner}">'
                "</body></html>")
            page.screenshot(path=str(STATIC / name), omit_background=bg == "transparent")
            page.close()
            print("wrote", STATIC / name)
        browser.close()


if __name__ == "__main__":
    main()
