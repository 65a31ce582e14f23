"""The report package itself: its files ship and are found through the package, its template
engine escapes and refuses missing values, and it stays small and above the bus model."""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
from pathlib import Path

import jinja2
import pytest
import sagas
from test_report_html import storm

import angzarr_testkit
from angzarr_testkit import report as report_pkg
from angzarr_testkit.framework.findings import Finding
from angzarr_testkit.report import html, render_html
from angzarr_testkit.simulate import FaultPlan

PACKAGE = Path(report_pkg.__file__).parent
KIT = Path(angzarr_testkit.__file__).parent
PYPROJECT = KIT.parent / "pyproject.toml"


@pytest.fixture(scope="module")
def dirty():
    return storm(faults=FaultPlan(duplicate=0.2)).run()


def test_public_names_live_in_report_and_the_package_root():
    assert angzarr_testkit.render_html is render_html is html.render_html
    assert angzarr_testkit.write_html is report_pkg.write_html is html.write_html
    assert "render_html" in angzarr_testkit.__all__ and "write_html" in angzarr_testkit.__all__


def test_template_and_stylesheet_are_found_from_any_working_directory(dirty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    html.environment.cache_clear()
    html.stylesheet.cache_clear()
    try:
        page = render_html(dirty)
        template = html.environment().get_template(html.TEMPLATE)
    finally:
        html.environment.cache_clear()
        html.stylesheet.cache_clear()
    assert template.filename and Path(template.filename).resolve().parent == (PACKAGE / "templates")
    css = (PACKAGE / "static" / html.STYLESHEET).read_text(encoding="utf-8")
    assert css in page  # inlined: the page stays one self-contained file
    assert page.count("<style>") == 1 and "<link" not in page


def test_autoescape_is_on_for_finding_messages(dirty):
    env = html.environment()
    assert env.autoescape is True
    evil = "<img src=x onerror=alert(1)>"
    finding = Finding("double-apply", evil, details={"where": evil})
    page = render_html(dataclasses.replace(dirty, findings=[finding]))
    assert "<img" not in page and "onerror=alert(1)&gt;" in page
    assert f'<p class="msg">{evil.replace("<", "&lt;").replace(">", "&gt;")}</p>' in page


def test_any_value_the_template_prints_is_escaped():
    env = html.environment()
    out = env.from_string("{{ a }}|{{ b }}").render(a="<b>'x'\"", b=jinja2.filters.Markup("<i>"))
    assert out == "&lt;b&gt;&#x27;x&#x27;&quot;|<i>"


@pytest.mark.parametrize(
    "missing",
    [
        "csp",
        "title",
        "stylesheet",
        "version",
        "seed",
        "verdict",
        "meta",
        "counts",
        "coverage",
        "groups",
        "cap",
        "left_out",
        "timeline",
    ],
)
def test_a_missing_context_key_fails_the_render(dirty, missing):
    values = html.context(dirty, max_roots=40, max_events_per_root=200, max_findings_per_kind=5)
    template = html.environment().get_template(html.TEMPLATE)
    template.render(values)  # complete: renders
    del values[missing]
    with pytest.raises(jinja2.UndefinedError, match=missing):
        template.render(values)


def test_a_missing_nested_value_fails_the_render(dirty):
    values = html.context(dirty, max_roots=40, max_events_per_root=200, max_findings_per_kind=50)
    del values["verdict"]["word"]
    with pytest.raises(jinja2.UndefinedError, match="word"):
        html.environment().get_template(html.TEMPLATE).render(values)


def test_a_clean_storm_renders_through_the_template():
    report = storm(sagas.deferred_saga).run()
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_every_module_of_the_report_package_is_under_500_lines():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 4
    for module in modules:
        lines = len(module.read_text(encoding="utf-8").splitlines())
        assert lines < 500, f"{module.name} has {lines} lines"


def test_the_templates_and_static_files_ship_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["angzarr_testkit"]
    files = [p for d in ("templates", "static") for p in (PACKAGE / d).iterdir() if p.is_file()]
    assert {p.name for p in files} >= {html.TEMPLATE, html.STYLESHEET}
    for path in files:
        relative = path.relative_to(KIT).as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative


def test_the_version_is_read_from_its_own_module_without_importing_the_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    attr = config["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    assert module == "angzarr_testkit.version" and name == "__version__"
    tree = ast.parse((KIT / "version.py").read_text(encoding="utf-8"))
    literal = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == [name]
        and isinstance(node.value, ast.Constant)
    ]
    assert literal == [angzarr_testkit.__version__]  # a literal: setuptools reads it statically


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every ``from ... import`` and ``import`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
    return found


def test_the_bus_model_never_imports_the_report():
    for path in (KIT / "simulate").glob("*.py"):
        for level, module in _imports(path):
            target = module if level == 0 else "." * level + module
            assert "report" not in target.split("."), (path.name, target)


def test_the_report_never_imports_the_package_root():
    for path in PACKAGE.glob("*.py"):
        for level, module in _imports(path):
            assert not (level == 2 and module == ""), f"{path.name}: from .. import"
            assert module != "angzarr_testkit", path.name


def test_the_old_module_is_gone():
    assert not (KIT / "simulate" / "report_html.py").exists()
    with pytest.raises(ImportError):
        __import__("angzarr_testkit.simulate.report_html")
