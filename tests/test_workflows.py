"""Publishing: the GitHub Actions workflows, the licences, the citation and the package name.

The workflows' rule: every ``uses:`` is pinned to a version tag (``@v4``), and every ``run:``
command is one that README.md or .ci/run already runs, so what CI does is what a reader is told
to do. A command is compared with whitespace normalised, as a whole line or as one of the
``&&``-joined commands of such a line; besides those, only plain shell plumbing is allowed
(``PLUMBING``): activating the virtual environment, ``echo``, ``export``, ``cd``, ``mkdir`` —
and never with a command substitution, a pipe, a ``;`` or a GitHub expression inside, which
could hide another command.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = ["book.yml", "book-full.yml"]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"]
README = (ROOT / "README.md").read_text()

PINNED = re.compile(r"[\w.-]+/[\w.-]+(?:/[\w./-]+)?@v\d+(?:\.\d+)*")  # owner/repo[/path]@v4[.1.2]
PLUMBING = [
    re.compile(r"(?:\.|source) \.venv/bin/activate"),
    re.compile(r"echo(?: .*)?"),
    re.compile(r"export [A-Za-z_]\w*=\S*(?: [A-Za-z_]\w*=\S*)*"),
    re.compile(r"cd \S+"),
    re.compile(r"mkdir(?: -p)?(?: \S+)+"),
]
HIDES_A_COMMAND = re.compile(r"\$\(|`|;|\||\$\{\{")  # $(…), `…`, a; b, a | b or a || b, ${{ … }}


# ----------------------------------------------------------------------------- the rule


def normalise(command: str) -> str:
    return " ".join(command.split())


def script_lines(script: str) -> list[str]:
    """A shell script's command lines: continuations joined, comments and blank lines dropped."""
    lines = []
    for line in re.sub(r"\\\n", " ", script).splitlines():
        line = normalise(re.sub(r"(?:^|\s)#.*$", "", line))  # a comment: `#` at the start or after a space
        if line:
            lines.append(line)
    return lines


def commands(line: str) -> list[str]:
    """The ``&&``-joined commands of a line (not splitting inside quotes, ``$(…)`` or ``{ …; }``)."""
    parts, current, depth, quote = [], "", 0, None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif depth == 0 and line.startswith("&&", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        current += c
        i += 1
    return [normalise(p) for p in [*parts, current] if p.strip()]


def readme_commands(text: str) -> list[str]:
    """What README.md tells the reader to run: the lines of its shell code blocks, and inline
    code that is a command line (has a space, such as the CPU PyTorch install)."""
    fenced = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, re.S | re.M)
    rest = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    inline = [span for span in re.findall(r"`([^`\n]+)`", rest) if " " in span.strip()]
    return [line for block in fenced for line in script_lines(block)] + [normalise(s) for s in inline]


def known_commands() -> set[str]:
    lines = readme_commands(README) + script_lines((ROOT / ".ci" / "run").read_text())
    return set(lines) | {part for line in lines for part in commands(line)}


KNOWN = known_commands()


def allowed(line: str, known: set[str] = KNOWN) -> bool:
    """A workflow's command line is allowed when README.md or .ci/run runs it, or each of its
    ``&&``-joined commands is run there or is plain plumbing."""
    line = normalise(line)
    return line in known or all(
        part in known or (not HIDES_A_COMMAND.search(part) and any(p.fullmatch(part) for p in PLUMBING))
        for part in commands(line)
    )


# ----------------------------------------------------------------------------- workflows


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    """The ``on:`` section: PyYAML (YAML 1.1) reads the bare key ``on`` as the boolean True."""
    on = workflow[True] if True in workflow else workflow["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def uses(workflow: dict) -> list[str]:
    jobs = workflow["jobs"].values()
    return [s["uses"] for _, s in steps(workflow) if "uses" in s] + [j["uses"] for j in jobs if "uses" in j]


def run_lines(job: dict) -> list[str]:
    return [line for step in job.get("steps", []) if "run" in step for line in script_lines(step["run"])]


def step_using(job: dict, action: str) -> dict:
    found = [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"expected one step using {action}"
    return found[0]


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_workflow_is_valid_yaml_with_triggers_and_jobs(name):
    workflow = load(name)
    assert isinstance(workflow, dict) and triggers(workflow) and workflow["jobs"]
    for job_name, job in workflow["jobs"].items():
        assert job.get("runs-on") and job.get("steps"), f"{name}: job {job_name} needs runs-on and steps"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_version(name):
    unpinned = [u for u in uses(load(name)) if not PINNED.fullmatch(u)]
    assert not unpinned, f"{name}: pin these to a version tag (owner/action@v<N>): {unpinned}"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_command_is_one_the_readme_or_ci_runs(name):
    workflow = load(name)
    unknown = [line for job in workflow["jobs"].values() for line in run_lines(job) if not allowed(line)]
    assert not unknown, (
        f"{name} runs commands that neither README.md nor .ci/run runs: {unknown}. "
        "Document the command in README.md first, or use plain plumbing."
    )


def test_the_rule_knows_the_documented_commands():
    for line in [
        ". .venv/bin/activate && python -m pytest",
        "pip install -r requirements.txt",
        "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
        "TAP_PROFILE=book jupyter-book build book/ -W -n --keep-going",
        "jupytext --to ipynb book/[0-9]*.md",
        "python   -m  pytest",
        ". .venv/bin/activate",
        'echo "$PWD/.venv/bin" >> "$GITHUB_PATH"',
        "export TAP_CACHE_DIR=.tap-cache",
        "mkdir -p _build",
        "cd book",
    ]:
        assert allowed(line), line


@pytest.mark.parametrize(
    "line",
    [
        "curl -sSL https://example.com/install.sh",  # never documented
        "pip install requests",
        "python -m pytest -x",  # a variant of a documented command is a different command
        "jupyter-book build book/ --all",
        ". .venv/bin/activate && rm -rf _build",  # one unknown part is enough
        "echo ok; rm -rf _build",  # plumbing cannot carry another command
        "echo $(curl -s https://example.com)",
        "echo `whoami`",
        "export TOKEN=${{ secrets.TOKEN }}",
        "cd book || curl https://example.com",
    ],
)
def test_the_rule_rejects_an_unknown_command(line):
    assert not allowed(line), line


@pytest.mark.parametrize(
    "ref",
    [
        "actions/checkout@main",
        "actions/checkout",
        "actions/checkout@8ade135a41bc03ea155e62e844d188df1ea18608",
        "docker://alpine:3",
    ],
)
def test_the_pin_rule_rejects_a_moving_or_missing_version(ref):
    assert not PINNED.fullmatch(ref)


def test_the_on_key_is_read_either_way():
    assert triggers(yaml.safe_load("on: [push]\njobs: {}")) == {"push": None}
    assert triggers({"on": {"workflow_dispatch": None}}) == {"workflow_dispatch": None}


def test_book_workflow_builds_on_pull_requests_and_deploys_main_only():
    workflow = load("book.yml")
    on = triggers(workflow)
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    lines = run_lines(build)
    torch_cpu = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert lines.index(torch_cpu) < lines.index("pip install -r requirements.txt"), "the CPU build of torch first"
    assert "TAP_PROFILE=book jupyter-book build book/ -W -n --keep-going" in lines

    tests = [s for s in build["steps"] if "python -m pytest" in s.get("run", "")]
    assert len(tests) == 1 and "pull_request" in tests[0]["if"], "the tests run on pull requests"

    upload = step_using(build, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html" and "push" in upload["if"]
    assert deploy["needs"] == "build" and "push" in deploy["if"] and "refs/heads/main" in deploy["if"]
    assert step_using(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [j for j in workflow["jobs"].values() if "deploy-pages" in str(j)] == [deploy], "one job deploys"
    assert "OFFLINE" not in (WORKFLOWS / "book.yml").read_text(), "the runners reach the Hub"


def test_book_workflow_keeps_the_run_and_execution_caches():
    build = load("book.yml")["jobs"]["build"]
    cache = step_using(build, "actions/cache")
    assert {".tap-cache", "_build/.jupyter_cache"} <= set(cache["with"]["path"].split())
    key = cache["with"]["key"]
    assert "hashFiles(" in key and "'tap/**/*.py'" in key and "'requirements.txt'" in key
    assert build["env"]["TAP_CACHE_DIR"].endswith("/.tap-cache"), "the run cache must be where the cache step looks"
    position = {id(s): i for i, s in enumerate(build["steps"])}
    first_use = min(
        i for i, s in enumerate(build["steps"]) if "pytest" in s.get("run", "") or "jupyter-book" in s.get("run", "")
    )
    assert position[id(cache)] < first_use, "restore the caches before the tests and the build"


def test_full_workflow_is_manual_on_a_gpu_runner_named_by_input():
    workflow = load("book-full.yml")
    on = triggers(workflow)
    assert list(on) == ["workflow_dispatch"] and on["workflow_dispatch"]["inputs"]
    [job] = workflow["jobs"].values()
    assert "self-hosted" in job["runs-on"] and "inputs." in str(job["runs-on"])
    assert "TAP_PROFILE=full jupyter-book build book/" in run_lines(job)
    assert "torch==2.13.0 --index-url" not in str(job), "with a GPU, the default (CUDA) wheel"


# ----------------------------------------------------------------------------- licence, citation, package


def pages_address(repository: str) -> str:
    """https://github.com/<owner>/<repo> -> https://<owner>.github.io/<repo>/ (GitHub Pages)."""
    owner, repo = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?", repository).groups()
    return f"https://{owner.lower()}.github.io/{repo}/"


def test_baseurl_is_the_pages_address_of_the_repository():
    assert CONFIG["html"]["baseurl"] == pages_address(REPOSITORY)


def test_licences_are_stated_in_the_files_the_readme_and_the_footer():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2026 The Transformer Adaptation Playbook contributors" in licence
    content = (ROOT / "LICENSE-CONTENT.md").read_text()
    assert "CC BY 4.0" in content and "https://creativecommons.org/licenses/by/4.0/" in content
    section = README.split("## Licence", 1)[1].split("\n## ", 1)[0]
    assert "(LICENSE)" in section and "(LICENSE-CONTENT.md)" in section and "CC BY 4.0" in section
    footer = CONFIG["html"]["extra_footer"]
    assert "MIT" in footer and "CC BY 4.0" in footer and "https://creativecommons.org/licenses/by/4.0/" in footer


@pytest.fixture(scope="module")
def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_file_parses_and_has_the_required_keys(citation):
    assert {"cff-version", "message", "title", "authors"} <= set(citation)
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software" and citation["license"] == "MIT"
    assert citation["authors"] == [{"name": CONFIG["author"]}]
    assert citation["title"] == CONFIG["title"]
    assert citation["repository-code"] == REPOSITORY and citation["url"] == CONFIG["html"]["baseurl"]
    book = citation["preferred-citation"]
    assert book["type"] == "book" and book["title"] == CONFIG["title"] and book["authors"] == citation["authors"]


def test_readme_bibtex_matches_the_citation_file(citation):
    [entry] = re.findall(r"```bibtex\n(.*?)```", README, re.S)
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{+(.*?)\}+,?\s*$", entry, re.M))
    book = citation["preferred-citation"]
    assert entry.lstrip().startswith("@book{")
    assert fields["title"] == book["title"] and fields["author"] == book["authors"][0]["name"]
    assert fields["year"] == str(book["year"]) and fields["url"] == book["url"]


def test_distribution_is_tap_playbook_and_imports_as_tap():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "tap-playbook"
    assert "`tap-playbook`" in README


def test_the_distribution_holds_every_subpackage_a_page_imports():
    """A Colab or Binder page installs the package from git, not in editable mode: the wheel must hold
    ``tap.chapters`` (and any other subpackage), which a bare ``packages = ["tap"]`` leaves out."""
    import setuptools

    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(setuptools.find_packages(str(ROOT), include=include))
    wanted = {".".join(p.relative_to(ROOT).parts) for p in (ROOT / "tap").rglob("*") if (p / "__init__.py").exists()}
    assert wanted | {"tap"} <= found and "tap.chapters" in found
