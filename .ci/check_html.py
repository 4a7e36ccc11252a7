"""After the build: every page in _toc.yml produced HTML, every figure it references exists,
and no page shows the reader a defect the build itself lets through: a Python object's repr,
a tuple where a number belongs, an unresolved glue role, NaN cells, NumPy scalar reprs, long
decimals or cut-off text in tables, a negative number after "behind"/"ahead"; and every chapter
shows the code it teaches and ends with exercises whose solutions are collapsed.

Rules read the page as the reader sees it: text outside <script>/<style>, and outside what
the author wrote as source (code cells' input, literal blocks, TeX); code cells' output is checked."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html")  # next to _config.yml

SOURCE_IN_CELL = "\N{MIDDLE DOT}"  # stands for maths or code inside a table cell
HIDDEN = {"head", "script", "style", "template"}  # <title> repeats the <h1>
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
}


@dataclass
class Page:
    """What a rule looks at: the reader-visible text, its prose (the same without preformatted
    output), each <td> cell's text, and the image sources."""

    text: str
    prose: str
    cells: list[str]
    images: list[str]
    blank_rows: list[str] = ()  # each table row with a blank <td>, its cells joined by " | "


def is_source(attrs: dict) -> bool:
    """What the author wrote as code: a code cell's input, a literal block (``highlight-<lexer>``,
    but not an output, which is highlighted too) or TeX maths, which may hold "(768, 8)"."""
    classes = (attrs.get("class") or "").split()
    return bool({"cell_input", "math"} & set(classes)) or (
        "output" not in classes and any(c.startswith("highlight-") for c in classes)
    )


class Reader(HTMLParser):
    """Collects a page's text per view: tracks which open elements hide text, hold source, are
    preformatted, or are table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, str]] = []  # (tag, role): role is "hidden", "source", "pre", "cell" or ""
        self.text: list[str] = []
        self.prose: list[str] = []
        self.open_cells: list[list[str]] = []  # text of the <td> elements now open
        self.cells: list[str] = []
        self.images: list[str] = []
        self.rows: list[list[str]] = []  # the cells of each open <tr>, "" for a blank <td>
        self.blank_rows: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag in BLOCK:
            self.handle_data("\n")
        if tag in VOID:
            return
        role = (
            "hidden"
            if tag in HIDDEN
            else "source"
            if is_source(attrs)
            else "pre"
            if tag == "pre"
            else "cell"
            if tag in ("td", "th")
            else ""
        )
        self.open.append((tag, role))
        if role == "cell":
            self.open_cells.append([])
        if tag == "tr":
            self.rows.append([])

    def handle_endtag(self, tag):
        if tag not in {t for t, _ in self.open}:
            return  # a stray end tag
        while self.open:
            closed, role = self.open.pop()
            if role == "cell":
                text = " ".join("".join(self.open_cells.pop()).split())
                if closed == "td":
                    self.cells.append(text)
                if self.rows:
                    self.rows[-1].append(text if text or closed == "th" else "\0")
            if closed == "tr" and self.rows:
                row = self.rows.pop()
                if "\0" in row:
                    self.blank_rows.append(" | ".join("(blank)" if c == "\0" else c for c in row))
            if closed == tag:
                break
        if tag in BLOCK:
            self.handle_data("\n")

    def handle_data(self, data):
        roles = {role for _, role in self.open}
        if "source" in roles and "hidden" not in roles and data.strip():
            for cell in self.open_cells:
                cell.append(SOURCE_IN_CELL)  # maths in a cell: not blank, though not checked as text
        if roles & {"hidden", "source"}:
            return
        self.text.append(data)
        if "pre" not in roles:
            self.prose.append(data)
        for cell in self.open_cells:
            cell.append(data)


def read_page(html: str) -> Page:
    reader = Reader()
    reader.feed(html)
    reader.close()
    return Page("".join(reader.text), "".join(reader.prose), reader.cells, reader.images, reader.blank_rows)


def snippets(pattern: str, text: str, flags: int = 0, context: int = 30) -> list[str]:
    """Each match of ``pattern`` with a little of the text around it, on one line."""
    found = []
    for match in re.finditer(pattern, text, flags):
        start, end = max(0, match.start() - context), match.end() + context
        found.append(" ".join(text[start:end].split()))
    return found


def object_reprs(page: Page) -> list[str]:
    """``<tap.Run object at 0x7f…>`` or ``<IPython.core.display.HTML object>``: an object
    displayed instead of what it holds."""
    return snippets(r"<[\w.]+ object at 0x[0-9a-fA-F]+>|<IPython\.core\.display\.\w+ object>", page.text)


def tuples_for_numbers(page: Page) -> list[str]:
    """``(22, 566, 146)`` in prose: a number with thousands separators that myst-nb's glue
    ``literal_eval``-ed into a tuple."""
    return snippets(r"\(\d{1,3}(?:, \d{1,3})+\)", page.prose)


def unresolved_glue(page: Page) -> list[str]:
    """A ``{glue:…}`` role shown as text: the role was never parsed or found no value."""
    return snippets(r"\{glue(?::\w+)?\}", page.text)


def nan_cells(page: Page) -> list[str]:
    """A table cell that says NaN, None, <NA> or NaT: a missing value should be a dash (see
    ``blank_cells``)."""
    return [cell for cell in page.cells if cell in {"NaN", "nan", "None", "<NA>", "NaT"}]


def numpy_scalar_reprs(page: Page) -> list[str]:
    """``np.float64(0.5)``: NumPy 2's repr of a scalar, printed where its value belongs."""
    return snippets(r"\bnp\.(?:float|int|uint)\d*\(", page.text)


def long_decimals(page: Page) -> list[str]:
    """A number with more than four decimals in a table cell: noise, not precision."""
    return [cell for cell in page.cells if re.search(r"\d\.\d{5,}", cell)]


PANDAS_CUT = 50  # pandas' default display.max_colwidth: a longer text is cut to this, "..." included
QUOTED_TEXT = 80  # a cell at least this long quotes a text sample, whose own ellipsis may be data


def cut_off_cells(page: Page) -> list[str]:
    """A table cell cut short: an elided row or column ("..."), a text cut at pandas' column
    width, or a short value (a setting, a reason) ending in "…"/"...". Long quoted samples may
    end in an ellipsis that is part of the data (AG News articles do) and are left alone."""
    return [
        cell
        for cell in page.cells
        if cell in ("…", "...")
        or (cell.endswith("...") and len(cell) == PANDAS_CUT)
        or (cell.endswith(("…", "...")) and len(cell) < QUOTED_TEXT)
    ]


def signed_gaps(page: Page) -> list[str]:
    """ "-1.0 points behind", "trails full fine-tuning by -1.0": the word already says which
    way, so the number must not carry a sign too."""
    minus = r"(?<![\w-])[-−]\d"
    before = rf"{minus}[\d.,]*\s*(?:percentage\s+)?points?\s+(?:behind|ahead)"
    after = rf"\b(?:behind|ahead|trails?|trailing|trailed)\b[^.!?;\n]{{0,60}}?{minus}"
    return snippets(before, page.prose, re.I) + snippets(after, page.prose, re.I)


MACHINE_PATH = re.compile(r"(?:/work/|/home/|/tmp/|/Users/|/root/|[A-Z]:\\Users\\|\.tap-cache|site-packages|\.venv/)")


def machine_paths(page: Page) -> list[str]:
    """A path on the machine that built the book (/work/, /home/, /tmp/, a cache folder,
    site-packages) in anything the reader sees: a warning's file name, a cache location, a
    model's folder. It tells the reader nothing and leaks the build machine."""
    return snippets(MACHINE_PATH.pattern, page.text)


def blank_cells(page: Page) -> list[str]:
    """A results table with a blank cell: the reader cannot tell "not measured" from "lost".
    A value that does not apply is shown as a dash ("—"), with a note saying why."""
    return list(page.blank_rows)


def mangled_options(page: Page) -> list[str]:
    """A command-line option whose two hyphens became a dash ("–budget 5m"): typography applied
    to a command, which then fails when the reader copies it. Commands belong in literal code."""
    return snippets(
        r"(?<!\w)[–—](?:profile|budget|split|methods|seed|text|label|test|model|config|dry-run)\b", page.text
    )


def wrong_articles(page: Page) -> list[str]:
    """ "a 86 MB copy", "a 11-token prompt": a number read aloud with a vowel sound (eight,
    eleven, eighteen, eighty…) takes "an"."""
    return snippets(r"\b[Aa] (?:8[\d,.]*|1[18](?:,\d{3})*(?:\.\d+)?)(?![\d,])", page.prose)


RULES: dict[str, Callable[[Page], list[str]]] = {
    "object repr": object_reprs,
    "tuple for a number": tuples_for_numbers,
    "unresolved glue": unresolved_glue,
    "NaN cell": nan_cells,
    "NumPy scalar repr": numpy_scalar_reprs,
    "over 4 decimals in a cell": long_decimals,
    "cut-off cell": cut_off_cells,
    "signed gap": signed_gaps,
    "machine path": machine_paths,
    "blank cell": blank_cells,
    "mangled option": mangled_options,
    "wrong article": wrong_articles,
}


def text_problems(page: Page) -> list[str]:
    """Every rule's findings, as ``rule: snippet``."""
    return [f"{name}: {found}" for name, rule in RULES.items() for found in rule(page)]


def figure_problems(name: str, html_file: Path, page: Page) -> list[str]:
    """Every local image exists, and every ``fig = plots.…(`` in the source made an image."""
    problems = []
    figures = [s for s in page.images if not s.startswith(("http", "data:"))]
    for src in figures:
        target = (html_file.parent / src.split("?")[0]).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"figures: image {src} is missing or empty")
    source = (ROOT / "book" / f"{name}.md").read_text()
    expected = len(re.findall(r"^\w+ = plots\.\w+\(", source, flags=re.M))
    made = sum("_images/" in s for s in figures)
    if made < expected:
        problems.append(f"figures: {expected} in the source, {made} images in the HTML")
    return problems


MIN_EXERCISES = 3
CHAPTER = re.compile(r"\d\d_")  # chapter pages: 01_pretraining_and_finetuning, ...
SHOWN_SOURCE = re.compile(
    r'class="output text_html">\s*(?:<style[^>]*>.*?</style>\s*)?<div class="highlight">'
    r'(?:(?!class="cell ).)*?<span class="k">(?:def|class)</span>',
    re.S,
)


def teaching_problems(name: str, html: str) -> list[str]:
    """A chapter shows the code it teaches (``IPython.display.Code`` of a ``tap`` object: a
    highlighted output holding a ``def`` or ``class``) and ends with at least ``MIN_EXERCISES``
    exercises, each solution a collapsed dropdown."""
    if not CHAPTER.match(name):
        return []
    problems = []
    if not SHOWN_SOURCE.search(html):
        problems.append("teaching: no highlighted source of a function or class")
    exercises = re.findall(r'<div class="(?:[^"]*\s)?exercise(?:\s[^"]*)?"', html)
    solutions = re.findall(r'<div class="((?:[^"]*\s)?solution(?:\s[^"]*)?)"', html)
    if len(exercises) < MIN_EXERCISES:
        problems.append(f"teaching: {len(exercises)} exercises, fewer than {MIN_EXERCISES}")
    if len(solutions) < len(exercises):
        problems.append(f"teaching: {len(exercises)} exercises but {len(solutions)} solutions")
    problems += [f"teaching: a solution that is not collapsed ({c})" for c in solutions if "dropdown" not in c.split()]
    return problems


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


def check_page(name: str, html_file: Path) -> list[str]:
    """Every problem of one page, as ``page: rule: snippet``."""
    if not html_file.is_file():
        return [f"{name}: no HTML at {html_file}"]
    html = html_file.read_text()
    page = read_page(html)
    problems = figure_problems(name, html_file, page) + text_problems(page) + teaching_problems(name, html)
    return [f"{name}: {p}" for p in problems]


def main() -> int:
    problems = []
    for name in toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text())):
        found = check_page(name, HTML / f"{name}.html")
        problems += found
        print(f"BAD {name}.html: {len(found)} problems" if found else f"ok  {name}.html")
    for p in problems:
        print("ERROR:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
