"""The report as data and its renderers: one self-contained report.html, booktabs LaTeX,
the plot-kind registry's data, and the bootstrap bands of the profiles."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.analysis.figure_data import FigureData
from optbench.analysis.plot_kinds import PLOT_KINDS, figures, kind_choices
from optbench.analysis.profiles import performance_profile, runtime_ecdf
from optbench.analysis.report import build_sections, write_reports
from optbench.analysis.report_blocks import Section, Table
from optbench.analysis.report_formats import DEFAULT_FORMATS, REPORT_FORMATS
from optbench.cli import main

CONFIG = {
    "name": "report_formats",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [
        {"name": "gd", "params": {"step_size": [1e-3, 1e-2, "armijo"]}},
        {"name": "newton_cg"},
    ],
    "stop": {"gtol": 1e-6, "max_iter": 60},
    "targets": [1e-2, 1e-6],
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    return optbench.run(CONFIG, out=out, progress=False, plot=False)


@pytest.fixture(scope="module")
def page(results) -> str:
    written = write_reports(results, ["html"])
    assert written == [results.path / "report.html"]
    return written[0].read_text(encoding="utf-8")


class Collector(HTMLParser):
    """Every start tag with its attributes, and the text of <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code: list[str] = []
        self._in_code = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_code = tag in ("style", "script")

    def handle_endtag(self, tag):
        self._in_code = False

    def handle_data(self, data):
        if self._in_code:
            self.inline_code.append(data)


def parsed(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    return collector


def test_html_refers_to_nothing_outside_itself(page):
    collector = parsed(page)
    for tag, attrs in collector.tags:
        assert "src" not in attrs, tag  # no image, script or frame is loaded
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            if name in ("href", "xlink:href", "action", "poster", "srcset"):
                # a reference inside the page, or a dense collection drawn as an image
                inside = ("#", "data:image/png;base64,") if tag == "image" else ("#",)
                assert value is not None and value.startswith(inside), (tag, name, value)
            if name == "style" and value:
                assert all(
                    u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", value)
                )
    for code in collector.inline_code:  # style sheet and script
        assert "url(" not in code and "http" not in code and "import" not in code
        assert "fetch(" not in code and "XMLHttpRequest" not in code
    # url(#…) references of the inline SVGs only
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))
    # the only URLs are XML namespace names, which are never fetched
    for url in re.findall(r"https?://[^\s\"'<>)]+", page):
        assert url.startswith(("http://www.w3.org/", "http://purl.org/", "http://creativecommons"))
        assert re.search(rf'xmlns(:\w+)?="{re.escape(url)}"', page), url


def test_html_has_every_section_in_order_and_unique_ids(page, results):
    collector = parsed(page)
    ids = [attrs["id"] for _, attrs in collector.tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "ids repeat (figures must not share SVG ids)"
    order = ["summary", "ranking", "profiles", "problems", "statuses", "environment"]
    positions = [ids.index(key) for key in order]
    assert positions == sorted(positions)
    sections = [s for s in build_sections(results) if isinstance(s, Section)]
    for section in sections:
        for part in section.walk():
            assert part.key in ids, part.key
    details = [attrs["id"] for tag, attrs in collector.tags if tag == "details"]
    assert len(details) == results.summary["problem"].nunique()
    # the table of contents links every problem, filed under its group
    hrefs = {attrs.get("href") for tag, attrs in collector.tags if tag == "a"}
    assert {f"#{key}" for key in details} <= hrefs


def test_html_inlines_every_figure_of_the_registry_as_svg(page, results):
    collector = parsed(page)
    shown = {attrs["id"]: attrs for tag, attrs in collector.tags if tag == "figure"}
    expected = figures(results)
    assert expected
    for figure in expected:
        assert f"figure-{figure.stem}" in shown, figure.stem
    # each <figure> holds one inline <svg>
    blocks = re.findall(r"<figure\b.*?</figure>", page, flags=re.S)
    assert len(blocks) == len(expected)
    assert all(block.count("<svg") == 1 and "</svg>" in block for block in blocks)
    kinds = {attrs["data-kind"] for attrs in shown.values()}
    assert {"convergence", "profile", "ecdf", "data-profile", "step-size"} <= kinds


def test_html_tables_are_sortable_and_filterable_by_solver(page, results):
    collector = parsed(page)
    tables = [attrs for tag, attrs in collector.tags if tag == "table"]
    assert tables and all(attrs.get("class") == "report" for attrs in tables)
    options = {attrs.get("value") for tag, attrs in collector.tags if tag == "option"}
    assert set(results.summary["solver_label"]) <= options
    rows = [attrs["data-solver"] for tag, attrs in collector.tags if "data-solver" in attrs]
    assert set(results.summary["solver_label"]) <= set(rows)
    assert "addEventListener('click'" in page and "solver-filter" in page


def test_latex_tables_are_booktabs_and_balanced(results, tmp_path):
    (path,) = write_reports(results, ["latex"], directory=tmp_path)
    text = path.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    begins = re.findall(r"\\begin\{(\w+)\}", body)
    ends = re.findall(r"\\end\{(\w+)\}", body)
    assert begins and sorted(begins) == sorted(ends)
    stack: list[str] = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", body):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack.pop() == name
    assert not stack
    tables = body.count("\\begin{tabular}")
    assert (
        tables == body.count("\\toprule") == body.count("\\midrule") == body.count("\\bottomrule")
    )
    assert len(re.findall(r"(?<!\\)\$", body)) % 2 == 0  # math for ε, ≤, … pairs up
    assert re.search(r"(?<!\\)[_%#]", body) is None  # escaped everywhere
    assert "newton\\_cg" in body and "rosenbrock\\_2d" in body
    # one ranking table, and final + fixed-target tables for each problem
    assert body.count("tab:optbench-ranking") == 1
    assert body.count("tab:optbench-final-") == results.summary["problem"].nunique()
    for spec, rows in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", body, re.S):
        for row in re.findall(r"^(.*)\\\\$", rows, flags=re.M):
            assert row.count("&") - row.count("\\&") == len(spec) - 1, row
    if shutil.which("pdflatex"):  # compile the fragment where a TeX system exists
        document = tmp_path / "paper.tex"
        document.write_text(
            "\\documentclass{article}\\usepackage[utf8]{inputenc}\\usepackage{booktabs}"
            f"\\begin{{document}}\\input{{{path.name}}}\\end{{document}}\n"
        )
        done = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-2000:]


def test_markdown_keeps_the_sections_in_the_same_order(results, tmp_path):
    (path,) = write_reports(results, ["md"], directory=tmp_path)
    text = path.read_text(encoding="utf-8")
    headings = [
        "## Ranking",
        "## Profiles",
        "## Results by problem",
        "## Statuses",
        "## Environment",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "<svg" not in text


def test_every_plot_kind_returns_figure_data(results):
    frames = results
    for name, kind in PLOT_KINDS.items():
        found = kind.figures(frames)
        assert isinstance(found, list), name
        for figure in found:
            assert isinstance(figure, FigureData) and figure.panels and figure.stem
            for panel in figure.panels:
                for curve in panel.curves:
                    assert len(curve.x) == len(curve.y)
                    for band in (curve.low, curve.high):
                        assert band is None or len(band) == len(curve.x)
            if kind.per_problem and not figure.stem.startswith("convergence_grid"):
                assert figure.problem in set(results.summary["problem"])
    assert kind_choices() == (*PLOT_KINDS, "all")
    profile = PLOT_KINDS["profile"].figures(frames)[0]
    banded = [c for p in profile.panels for c in p.curves if c.low is not None]
    assert banded
    for curve in banded:
        assert np.all(curve.low <= curve.y + 1e-12) and np.all(curve.y <= curve.high + 1e-12)
        assert np.all((curve.low >= 0) & (curve.high <= 1))


def test_bootstrap_bands_are_seeded_and_hand_checkable():
    rows = []
    for problem in range(6):
        for solver, cost in (("a", 10.0), ("b", 20.0 if problem < 3 else 5.0)):
            rows.append(
                {"problem": f"p{problem}", "seed": 0, "solver_label": solver, "target": 1e-3,
                 "reached": True, "cost": cost}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    first = performance_profile(table, "cost", n_resamples=500, seed=3)
    again = performance_profile(table, "cost", n_resamples=500, seed=3)
    pd.testing.assert_frame_equal(first, again)
    at_one = first[first["tau"] == 1.0].set_index("solver_label")
    # each solver is the cheapest on half the instances: rho(1) = 0.5, and some resample
    # of 6 instances has at most 1 or at least 5 of one kind
    assert at_one.loc["a", "fraction"] == 0.5
    assert at_one.loc["a", "low"] < 0.5 < at_one.loc["a", "high"]
    # every instance solved within tau = 2 by both: no uncertainty there
    at_two = first[first["tau"] == 2.0]
    assert (at_two["fraction"] == 1).all() and (at_two["low"] == 1).all()
    assert "low" not in performance_profile(table, "cost")  # no band unless asked
    ecdf = runtime_ecdf(table.assign(seed=0), "cost", n_resamples=200)
    assert {"low", "high"} <= set(ecdf.columns)
    assert (ecdf["low"] <= ecdf["fraction"]).all() and (ecdf["fraction"] <= ecdf["high"]).all()


def test_cli_report_formats(results, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(results.path, out)
    for name in ("report.md", "report.html", "report.tex"):
        (out / name).unlink(missing_ok=True)
    assert main(["report", str(out), "--format", "latex", "--quiet"]) == 0
    assert (out / "report.tex").is_file() and not (out / "report.html").exists()
    assert capsys.readouterr().out.strip() == f"report written to {out / 'report.tex'}"
    assert main(["report", str(out), "--quiet"]) == 0
    assert {f"report written to {out / REPORT_FORMATS[f][0]}" for f in DEFAULT_FORMATS} == set(
        capsys.readouterr().out.strip().splitlines()
    )
    assert main(["report", str(out), "--format", "pdf"]) == 2
    assert "format" in capsys.readouterr().err
    assert main(["plot", str(out), "--kind", "histogram"]) == 2


def test_sections_return_data(results):
    sections = [s for s in build_sections(results) if isinstance(s, Section)]
    tables = [b for s in sections for part in s.walk() for b in part.blocks if isinstance(b, Table)]
    assert {"ranking", "final", "fixed-target", "profile", "environment"} <= {
        t.kind for t in tables
    }
    assert all(isinstance(t.frame, pd.DataFrame) for t in tables)
