"""Drive headless Chromium over every page of the built book: each page loads without
console errors (the book is read offline too, so a resource that fails to load is an error
wherever it comes from), every image has a non-zero natural width, MathJax typesets every
equation, chapter pages carry the Binder and Colab launch buttons and their solutions open on a
click (collapsed until then), and the search page finds "LoRA"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
import yaml  # noqa: E402
from check_html import CHAPTER, HTML, ROOT, toc_files  # noqa: E402

MATH_PAGE = "05_lora"  # a chapter with equations: its equations must exist and render
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}/"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def is_chapter(page: str) -> bool:
    return (ROOT / "book" / f"{page}.md").read_text().startswith("---\njupytext:")


def maths(tab, timeout_ms: int = 20_000) -> tuple[int, int]:
    """(equations, equations MathJax has not typeset) on the loaded page. Sphinx wraps each
    equation's TeX in a ``.math`` element and MathJax, once it has run, puts an
    ``mjx-container`` inside it; it runs after the load event, so wait for it."""
    count = "() => document.querySelectorAll('.math').length"
    pending = "() => [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length"
    try:
        tab.wait_for_function(f"() => ({pending})() === 0", timeout=timeout_ms)
    except PlaywrightTimeout:
        pass  # reported by the caller, with the count
    return tab.evaluate(count), tab.evaluate(pending)


def solution_problems(tab) -> list[str]:
    """The first solution on the page is collapsed and opens on a click of its title."""
    solution = tab.locator(".solution").first
    if solution.count() == 0:
        return ["no solution to open"]
    body = solution.locator(":scope > :not(.admonition-title)").first
    if body.is_visible():
        return ["a solution is open before any click"]
    solution.locator(".admonition-title").first.click()
    try:
        body.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return ["a solution did not open on a click of its title"]
    return []


def main() -> int:
    pages = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1", "--directory", str(HTML)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            tab = browser.new_page()
            current = {"page": ""}

            def on_console(msg) -> None:
                if msg.type == "error":
                    problems.append(f"{current['page']}: console error: {msg.text}")

            tab.on("console", on_console)
            tab.on("pageerror", lambda err: problems.append(f"{current['page']}: script error: {err}"))
            tab.on(
                "requestfailed",
                lambda req: (
                    req.url.startswith(BASE) and problems.append(f"{current['page']}: failed to load {req.url}")
                ),
            )
            tab.on(
                "response",
                lambda resp: (
                    resp.url.startswith(BASE)
                    and resp.status >= 400
                    and problems.append(f"{current['page']}: HTTP {resp.status} for {resp.url}")
                ),
            )
            for page in pages:
                current["page"] = page
                tab.goto(BASE + f"{page}.html", wait_until="load")
                images = tab.eval_on_selector_all(
                    "img", "els => els.map(e => [e.currentSrc || e.src, e.naturalWidth])"
                )
                broken = [src for src, width in images if src.startswith(BASE) and width == 0]
                problems += [f"{page}: image {src} did not render" for src in broken]
                equations, unrendered = maths(tab)
                if unrendered or (page == MATH_PAGE and not equations):
                    problems.append(f"{page}: MathJax rendered {equations - unrendered} of {equations} equations")
                if is_chapter(page):
                    for name, host in (("Binder", "mybinder.org"), ("Colab", "colab.research.google.com")):
                        if tab.locator(f'a[href*="{host}"]').count() == 0:
                            problems.append(f"{page}: no {name} launch button")
                if CHAPTER.match(page):
                    problems += [f"{page}: {p}" for p in solution_problems(tab)]
                print(f"ok  {page}: {len(images)} images, {equations} equations")
            current["page"] = "search"
            tab.goto(BASE + "search.html?q=LoRA", wait_until="load")
            try:
                tab.wait_for_selector("#search-results li", timeout=20_000)
                print(f"ok  search for 'LoRA': {tab.locator('#search-results li').count()} results")
            except Exception:  # noqa: BLE001 - a timeout means no results
                problems.append("search: 'LoRA' found nothing")
            browser.close()
    finally:
        server.terminate()
    for p in problems:
        print("ERROR:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
