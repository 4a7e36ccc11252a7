"""After the build: every page in _toc.yml produced HTML, and every figure it references exists."""
from __future__ import annotations

import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html")  # next to _config.yml


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def toc_files(node) -> list[str]:
    """Every ``file``/``root`` entry of a jb-book table of contents."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root"):
                found.append(value)
            else:
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def main() -> int:
    problems = []
    pages = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    for page in pages:
        html_file = HTML / f"{page}.html"
        if not html_file.is_file():
            problems.append(f"{page}: no HTML at {html_file}")
            continue
        parser = Images()
        parser.feed(html_file.read_text())
        figures = [s for s in parser.sources if not s.startswith(("http", "data:"))]
        for src in figures:
            target = (html_file.parent / src.split("?")[0]).resolve()
            if not target.is_file() or target.stat().st_size == 0:
                problems.append(f"{page}: image {src} is missing or empty")
        source = (ROOT / "book" / f"{page}.md").read_text()
        expected = len(re.findall(r"^\w+ = plots\.\w+\(", source, flags=re.M))
        made = sum("_images/" in s for s in figures)
        if made < expected:
            problems.append(f"{page}: {expected} figures in the source, {made} images in the HTML")
        print(f"ok  {page}.html: {made} figures" if not problems or not problems[-1].startswith(page) else f"BAD {page}")
    for p in problems:
        print("ERROR:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
