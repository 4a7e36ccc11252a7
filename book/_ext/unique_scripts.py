"""Sphinx extension: drop repeated <script> tags from each page.

Jupyter Book 1.x registers sphinx-thebe's configuration script twice, so every page declared
`const THEBE_JS_URL` twice and the browser reported a script error on each load."""

from __future__ import annotations


def _unique(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (
            getattr(script, "filename", script) or "",
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)  # after the themes add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
