"""The console works offline: no template or static file loads a script, a stylesheet or any url(...)
from another host (http://, https:// or protocol-relative //). Vendored files are read without
their comments (a licence banner may name the project's home page)."""

from __future__ import annotations

import re
from pathlib import Path

import torghut_operator_console

PACKAGE = Path(torghut_operator_console.__file__).parent
ROOTS = (PACKAGE / "templates", PACKAGE / "static")
VENDORED = PACKAGE / "static" / "vendor"
SUFFIXES = {".html", ".css", ".js"}
REMOTE = r"""\s*["']?\s*(?:https?:)?//"""
LOADS = {
    "<script src>": re.compile(rf"<script\b[^>]*?\bsrc\s*={REMOTE}", re.I),
    "<link href>": re.compile(rf"<link\b[^>]*?\bhref\s*={REMOTE}", re.I),
    "url(...)": re.compile(rf"\burl\(\s*{REMOTE}", re.I),
}
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def served_files() -> list[Path]:
    return sorted(p for root in ROOTS for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def remote_loads_in(text: str) -> list[tuple[str, int, str]]:
    """Each remote load in ``text``: what kind, its line, the text around it."""
    return [(what, text.count("\n", 0, m.start()) + 1, text[m.start():m.end() + 40])
            for what, pattern in LOADS.items() for m in pattern.finditer(text)]


def remote_loads(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.is_relative_to(VENDORED):
        text = BLOCK_COMMENT.sub("", text)
    return [f"{path.relative_to(PACKAGE)}:{line}: {what} {around!r}" for what, line, around in remote_loads_in(text)]


def test_no_template_or_static_file_loads_anything_from_another_host() -> None:
    files = served_files()
    names = {p.relative_to(PACKAGE).as_posix() for p in files}
    assert {"templates/base.html", "templates/panels/account.html", "static/console.css", "static/console.js",
            "static/vendor/htmx.min.js", "static/vendor/uPlot.min.css"} <= names, names  # the right directories
    assert [hit for path in files for hit in remote_loads(path)] == []


def test_the_guard_sees_each_kind_of_remote_load() -> None:
    page = ('<script defer src="https://cdn.example/htmx.js"></script>\n'
            "<LINK rel=stylesheet HREF=//cdn.example/a.css>\n"
            "<style>body { background: url( 'http://cdn.example/bg.png') }</style>\n"
            '<script src="/static/console.js"></script><link rel="stylesheet" href="/static/console.css">\n'
            "<style>.a { background: url(/static/a.png) }</style>\n")
    assert [(what, line) for what, line, _ in remote_loads_in(page)] == \
        [("<script src>", 1), ("<link href>", 2), ("url(...)", 3)]
