"""Every MyST chapter has a paired .ipynb (for Colab) that matches it cell for cell,
and every chapter follows the book's conventions."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))
REPOSITORY = yaml.safe_load((BOOK.parent / "_config.yml").read_text())["repository"]["url"]
VERSION = re.search(r'^version = "(.+)"', (BOOK.parent / "pyproject.toml").read_text(), re.M).group(
    1
)  # tagged v<version>
FIX = "regenerate the pairs with: jupytext --to ipynb book/[0-9]*.md"


def cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def test_there_are_chapters():
    assert CHAPTERS, "no MyST chapters found under book/"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_matches_its_markdown(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: {FIX}"
    paired = nbformat.read(ipynb, as_version=4)
    assert cells(paired) == cells(jupytext.read(md)), f"{ipynb.name} differs from {md.name}: {FIX}"
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code"), "notebooks store no outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_conventions(md):
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first, last = code[0], code[-1]
    assert 'find_spec("tap") is None' in first.source and "remove-cell" in first.metadata.get("tags", []), (
        "the first code cell must be the hidden install cell (see chapter 01)"
    )
    assert "__book__" in first.source, "the install cell must tell the book's `tap` from other packages named `tap`"
    assert f"tap-playbook[offline] @ git+{REPOSITORY}@v{VERSION}" in first.source, (
        f"the install cell must install the release this book is: {REPOSITORY}@v{VERSION} (_config.yml, pyproject.toml)"
    )
    assert "provenance(" in last.source, "the last code cell must show the provenance box"
