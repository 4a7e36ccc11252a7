"""The built-HTML check (.ci/check_html.py): each rule fails on a page with its defect, and a
clean page, with the traps a real page holds (scripts, code, maths), passes every rule."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "check_html.py"
spec = importlib.util.spec_from_file_location("check_html", SCRIPT)
check_html = sys.modules["check_html"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(check_html)


def html(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body><main>{body}</main></body></html>"


def table(*cells: str) -> str:
    rows = "".join(f"<tr><th>row {i}</th><td>{cell}</td></tr>" for i, cell in enumerate(cells))
    return f'<table class="dataframe"><thead><tr><th></th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'


def code_cell(source: str, output: str) -> str:
    return (
        f'<div class="cell docutils container"><div class="cell_input docutils container">'
        f'<div class="highlight-ipython3 notranslate"><div class="highlight"><pre>{source}</pre></div></div></div>'
        f'<div class="cell_output docutils container">{output}</div></div>'
    )


def text_output(text: str) -> str:
    return f'<div class="output text_plain highlight-myst-ansi notranslate"><div class="highlight"><pre>{text}</pre></div></div>'


CLEAN = html(
    "<script>window.MathJax = {tex: {inlineMath: [['\\\\(', '\\\\)']]}}; "
    "const bad = '{glue:text}`x` np.float64(1) <a.B object at 0x1f> (22, 566, 146) -1.0 points behind';</script>"
    "<style>td::after { content: 'NaN...'; }</style>"
    "<h1>LoRA</h1>"
    '<p>The encoder has <span class="pasted-text">22,566,146</span> parameters (about 1.4% of GPT-2); '
    'adapters finish <span class="pasted-text">1.0 point behind</span> full fine-tuning, '
    "which trails nothing, and LoRA is 2.3 points ahead of the probe (see chapters 4 and 5).</p>"
    '<div class="math notranslate nohighlight">\\[W \\in \\mathbb{R}^{(768, 8)}\\]</div>'
    '<div class="highlight-python notranslate"><div class="highlight"><pre>x = np.float64(0.5)\nprint("...")</pre></div></div>'
    + code_cell(
        "fig, ax = plt.subplots(figsize=(6, 4))\nglue('x', np.int64(3))",
        text_output("torch.Size([2, 128]) (2, 128)\nnp.arange(3).shape = (3,)"),
    )
    + code_cell(
        "format_table(results_table(records))",
        '<div class="output text_html">'
        + table(
            "87.3",
            "1,437,184",
            "—",
            "0.0031",
            "r = 1 … 16 runs",
            "Rain threatens triangular final (AFP) AFP - Organisers were left banking on the Dutch weather...",
        )
        + "</div>",
    )
    + "<p>Reviews are cut at 128 tokens, ahead of the GPT-2 limit.</p>"
    + table('<span class="math notranslate nohighlight">\\(2h+2\\)</span>')  # maths in a cell is not a blank
    + "<p>The cache lives in <code>TAP_CACHE_DIR</code>; pages cite work/home pages and tmp files by name.</p>"
    + "<p>Run <code>python -m tap playbook data.csv --budget 5m</code> – a dash between words is prose.</p>"
    + "<p>A 1,100-review set, a 180-token cut, a 110 MB model and an 80 MB copy.</p>"
)


def test_clean_page_passes_every_rule():
    assert check_html.text_problems(check_html.read_page(CLEAN)) == []


BAD = {
    check_html.object_reprs: [
        code_cell("run", text_output("&lt;tap.training.loop.Run object at 0x7f3a2c1d9e80&gt;")),
        code_cell("display", text_output("&lt;IPython.core.display.HTML object&gt;")),
    ],
    check_html.tuples_for_numbers: [
        '<p>The encoder has <span class="pasted-text">(22, 566, 146)</span> parameters.</p>'
    ],
    check_html.unresolved_glue: [
        "<p>The vocabulary holds {glue:text}<code>ch01_vocab</code> entries.</p>",
        "<p>See {glue}`ch01_fig`.</p>",
    ],
    check_html.nan_cells: [table("87.3", "NaN"), table("nan"), table("None")],
    check_html.numpy_scalar_reprs: [
        "<p>It reaches np.float64(0.873) accuracy.</p>",
        code_cell("best", text_output("{'acc': np.int64(12)}")),
    ],
    check_html.long_decimals: [table("87.34567"), table("0.0031 (0.123456)")],
    check_html.cut_off_cells: [
        table("An unforgettable, breathtaking perf…"),
        table("..."),
        table("This movie was a end this The film was the end of the long and w"[:47] + "..."),
    ],
    check_html.machine_paths: [
        code_cell("load", text_output("/work/main/.venv/lib/python3.11/site-packages/torch/utils.py:72: UserWarning")),
        code_cell("where", text_output("saved to /home/reader/.tap-cache/runs/ch07")),
        code_cell("tmp", text_output("PosixPath('/tmp/tmpa1b2/model')")),
        "<p>The model was read from /work/shared/models/minilm.</p>",
    ],
    check_html.blank_cells: [table("87.3", ""), table(" ")],
    check_html.signed_gaps: [
        "<p>Adapters finish -1.0 points behind full fine-tuning.</p>",
        "<p>LoRA trails full fine-tuning by -1.0.</p>",
        "<p>The probe is ahead of TF-IDF by −0.4 points.</p>",
    ],
    check_html.mangled_options: [
        "<p>This page ran python -m tap playbook fancyzhx/ag_news –split test –budget 5m.</p>",
        code_cell("cmd", text_output("python -m tap run ch07 —profile full")),
    ],
    check_html.wrong_articles: [
        "<p>It stores a 86 MB copy of the model.</p>",
        "<p>With a 11-token prompt the model answers.</p>",
        "<p>A 8,000-word vocabulary.</p>",
        "<p>It uses a 18,000-review subset.</p>",
    ],
}


@pytest.mark.parametrize(
    "rule, body",
    [(rule, body) for rule, bodies in BAD.items() for body in bodies],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_rule_fails_on_its_defect(rule, body):
    page = check_html.read_page(html(body))
    assert rule(page), f"{rule.__name__} let through: {body}"


def test_every_rule_has_a_bad_sample():
    assert set(check_html.RULES.values()) == set(BAD)


def test_check_page_names_page_rule_and_snippet(tmp_path):
    page = tmp_path / "bibliography.html"
    page.write_text(html("<p>LoRA trails full fine-tuning by -1.0 points.</p>"))
    [problem] = check_html.check_page("bibliography", page)
    assert problem.startswith("bibliography: signed gap: ") and "trails full fine-tuning by -1" in problem


def test_check_page_reports_a_missing_page(tmp_path):
    assert check_html.check_page("bibliography", tmp_path / "none.html") == [
        f"bibliography: no HTML at {tmp_path / 'none.html'}"
    ]


def chapter_page(shown_source: bool = True, exercises: int = 3, collapsed: bool = True) -> str:
    code = (
        '<div class="cell_output docutils container"><div class="output text_html"><style>pre { line-height: 125%; }</style>'
        '<div class="highlight"><pre><span></span><span class="k">def</span> <span class="nf">freeze</span>()</pre></div></div></div>'
    )
    plain = '<div class="output text_plain"><pre>def freeze()</pre></div>'
    blocks = "".join(
        f'<div class="admonition exercise" id="e{i}"><p class="admonition-title">Exercise {i}</p><p>Count.</p></div>'
        f'<div class="admonition solution{" dropdown" if collapsed else ""}" id="s{i}">'
        f'<p class="admonition-title">Solution</p><p>42</p></div>'
        for i in range(exercises)
    )
    return html((code if shown_source else plain) + blocks)


def test_a_chapter_that_shows_its_code_and_ends_with_exercises_passes():
    assert check_html.teaching_problems("04_adapters", chapter_page()) == []
    assert check_html.teaching_problems("intro", html("<p>No code here.</p>")) == []  # not a chapter


@pytest.mark.parametrize(
    "page, problem",
    [
        (chapter_page(shown_source=False), "no highlighted source"),
        (chapter_page(exercises=2), "2 exercises, fewer than 3"),
        (chapter_page(collapsed=False), "a solution that is not collapsed"),
    ],
)
def test_a_chapter_without_its_code_or_exercises_fails(page, problem):
    assert any(problem in p for p in check_html.teaching_problems("04_adapters", page))


def test_a_blank_cell_is_named_with_its_row():
    page = check_html.read_page(html(table("87.3", "")))
    assert check_html.blank_cells(page) == ["row 1 | (blank)"]
    assert check_html.blank_cells(check_html.read_page(html(table("87.3", "—")))) == []


def test_a_machine_path_in_source_code_is_not_a_finding():
    page = check_html.read_page(html(code_cell("open('/tmp/x')", text_output("done"))))
    assert check_html.machine_paths(page) == []
