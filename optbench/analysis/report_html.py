"""The HTML renderer of the report (``report.html``): one self-contained file.

Everything is inside the file: figures are inline ``<svg>`` elements drawn by
:mod:`optbench.analysis.render_matplotlib` from the registered plot kinds, the style
sheet and a short script are inline, and nothing refers to another file or host (no
``src``, no external ``href``, no ``url()``), so the page opens offline in any browser
and makes no network request.

Navigation: a table of contents with the problems filed under their suite, each
problem in its own ``<details>`` section (open for small suites), a solver filter
that shows only the rows of the chosen solver in every table, and per table a text
filter and sortable columns (click a header; numbers sort by value, ``∞`` last).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optbench.analysis.figure_data import FigureData
from optbench.analysis.formatting import format_number
from optbench.analysis.frames import ResultsFrames, results_frames
from optbench.analysis.report_blocks import FigureRef, Section, Table, Text

if TYPE_CHECKING:
    from optbench.analysis.plot_kinds import FigureSet

#: Problem sections open on load when the report has at most this many problems.
OPEN_PROBLEMS = 4
#: Tables with more rows than this get a text filter.
FILTER_ROWS = 8

_NUMBER = re.compile(r"^(-?[0-9]|—|∞|-∞)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1b1f24;margin:0;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;min-width:15em;max-width:19em;
padding:1em;background:#f5f6f8;border-right:1px solid #dde;font-size:13px;box-sizing:border-box}
nav ul{list-style:none;padding-left:.9em;margin:.2em 0}nav>ul{padding-left:0}
nav a{color:#1f5fa8;text-decoration:none;overflow-wrap:anywhere}
nav a:hover{text-decoration:underline}
nav .group{font-weight:600;margin-top:.4em}
main{padding:1em 2em 4em;max-width:72em;min-width:0;flex:1}
h1{font-size:1.6em}h2{border-bottom:1px solid #dde;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:13px}
th,td{border:1px solid #d5d8dd;padding:.25em .6em;vertical-align:top}
th{background:#eef0f3;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafbfc}
code{background:#f0f1f3;padding:0 .25em;border-radius:3px}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#555}
details{border:1px solid #e1e4e8;border-radius:6px;padding:.2em .9em;margin:.5em 0}
details>summary{cursor:pointer;font-weight:600;font-size:1.1em;padding:.3em 0}
.filter{font-size:13px;margin:.3em 0;padding:.15em .4em}
.toolbar{background:#fff8e1;border:1px solid #f0e0a0;padding:.4em .8em;border-radius:6px}
.note{color:#8a4b00}
"""

SCRIPT = """
(function(){
function key(cell){var t=cell.textContent.trim();
  if(t.charAt(0)==='\u221e')return Infinity;if(t.charAt(0)==='\u2014'||t==='')return NaN;
  var n=parseFloat(t.replace('\u2212','-'));return isNaN(n)?t.toLowerCase():n;}
function compare(a,b){var an=typeof a==='number',bn=typeof b==='number';
  if(an&&bn){if(isNaN(a))return isNaN(b)?0:1;if(isNaN(b))return -1;return a-b;}
  if(an)return -1;if(bn)return 1;return a<b?-1:a>b?1:0;}
document.querySelectorAll('table.report th').forEach(function(th){
  th.addEventListener('click',function(){
    var table=th.closest('table'),body=table.tBodies[0],i=th.cellIndex;
    var down=th.getAttribute('aria-sort')==='ascending';
    table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',down?'descending':'ascending');
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(r,s){var c=compare(key(r.cells[i]),key(s.cells[i]));return down?-c:c;});
    rows.forEach(function(r){body.appendChild(r);});});});
function apply(){
  var solver=document.getElementById('solver-filter');var chosen=solver?solver.value:'';
  document.querySelectorAll('table.report').forEach(function(table){
    var input=table.previousElementSibling;
    var text=(input&&input.classList.contains('filter'))?input.value.toLowerCase():'';
    Array.prototype.forEach.call(table.tBodies[0].rows,function(row){
      var s=row.getAttribute('data-solver');
      var show=(!chosen||s===null||s===chosen)&&
        (!text||row.textContent.toLowerCase().indexOf(text)>=0);
      row.style.display=show?'':'none';});});}
document.querySelectorAll('input.filter').forEach(function(i){
  i.addEventListener('input',apply);});
var select=document.getElementById('solver-filter');
if(select)select.addEventListener('change',apply);
if(location.hash==='#optbench-selftest'){
  var th=document.querySelector('table.report th');if(th){th.click();th.click();}
  var box=document.querySelector('input.filter');if(box){box.value='x';apply();box.value='';}
  if(select&&select.options.length>1){select.selectedIndex=1;apply();select.selectedIndex=0;}
  apply();console.log('optbench-selftest: ok '+document.querySelectorAll('svg').length+' svg');}
})();
"""


def inline(text: str) -> str:
    """Escape ``text`` and turn ``**bold**`` and ```code``` into tags."""
    escaped = html.escape(str(text), quote=False)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


def text_html(text: str) -> str:
    """Paragraphs, ``- `` lists and ``#`` headings of the report's markdown subset."""
    parts = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = paragraph.splitlines()
        if all(line.startswith("- ") for line in lines):
            items = "".join(f"<li>{inline(line[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        elif len(lines) == 1 and re.match(r"^#{1,6} ", lines[0]):
            level = min(len(lines[0]) - len(lines[0].lstrip("#")), 6)
            parts.append(f"<h{level}>{inline(lines[0][level + 1 :])}</h{level}>")
        elif lines and lines[0].startswith("|"):
            parts.append(f"<pre>{html.escape(paragraph)}</pre>")
        else:
            parts.append(f"<p>{inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _plain(text: str) -> str:
    return _BOLD.sub(r"\1", str(text))


def table_html(table: Table, solvers: set[str]) -> str:
    """A sortable table; rows carry ``data-solver`` when the table has a solver column."""
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    solver_index = columns.index(table.solver_column) if table.solver_column in columns else None
    head = "".join(f"<th>{inline(c)}</th>" for c in columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            text = format_number(value)
            numeric = not isinstance(value, str) or bool(_NUMBER.match(text))
            cells.append(
                f'<td class="num">{inline(text)}</td>' if numeric else f"<td>{inline(text)}</td>"
            )
        attribute = ""
        if solver_index is not None:
            solver = _plain(format_number(values[solver_index]))
            solvers.add(solver)
            attribute = f' data-solver="{html.escape(solver)}"'
        rows.append(f"<tr{attribute}>{''.join(cells)}</tr>")
    caption = f"<caption hidden>{inline(table.caption)}</caption>" if table.caption else ""
    search = ""
    if len(frame) > FILTER_ROWS:
        search = (
            '<input class="filter" type="search" placeholder="filter rows…" '
            'aria-label="filter rows">'
        )
    return (
        f'{search}<table class="report">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


class FigureSource:
    """The figures a report shows: a :class:`~optbench.analysis.plot_kinds.FigureSet`
    computed beforehand (with the SVG of each figure already drawn, when it was), or
    the figures of ``frames``, computed once per kind on first use."""

    def __init__(self, frames: ResultsFrames | None = None, figure_set: FigureSet | None = None):
        from optbench.analysis.plot_kinds import FigureSet

        self.frames = frames
        self.figure_set = figure_set if figure_set is not None else FigureSet({})
        self.lazy = figure_set is None
        self.count = 0

    def figures(self, ref: FigureRef) -> list[FigureData] | str:
        """The figures a reference stands for, or the reason there are none."""
        from optbench.analysis.plot_kinds import PLOT_KINDS, compute_figures

        kinds = self.figure_set.kinds
        if self.lazy and ref.kind not in kinds:
            if ref.kind in PLOT_KINDS:
                found = compute_figures(self.frames, ref.kind, strict=False).kinds
                kinds[ref.kind] = found[ref.kind]
            else:
                kinds[ref.kind] = f"{ref.kind}: not available (unknown plot kind)"
        return self.figure_set.of(ref.kind, ref.problem)

    def html(self, ref: FigureRef) -> str:
        """The ``<figure>`` elements of ``ref``, each an inline SVG."""
        from optbench.analysis.render_matplotlib import prefix_ids, raw_svg, to_figure

        found = self.figures(ref)
        if isinstance(found, str):
            return f'<p class="note">{inline(found)}</p>'
        parts = []
        for figure in found:
            self.count += 1
            svg = self.figure_set.svg.get(figure.stem)
            if svg is None:
                svg = raw_svg(to_figure(figure))
            parts.append(
                f'<figure id="figure-{html.escape(figure.stem)}" '
                f'data-kind="{html.escape(ref.kind)}">'
                f"{prefix_ids(svg, f'f{self.count}-')}"
                f"<figcaption>{inline(figure.caption)}</figcaption></figure>"
            )
        return "\n".join(parts)


def _section_html(
    section: Section, source: FigureSource | None, solvers: set[str], open_: bool
) -> str:
    body = []
    for block in section.blocks:
        if isinstance(block, Text):
            body.append(text_html(block.text))
        elif isinstance(block, Table):
            body.append(table_html(block, solvers))
        elif isinstance(block, FigureRef) and source is not None:
            body.append(source.html(block))
    body += [_section_html(sub, source, solvers, open_) for sub in section.subsections]
    key = html.escape(section.key)
    level = min(section.level, 6)
    if section.collapsible:
        state = " open" if open_ else ""
        return (
            f'<details id="{key}"{state}><summary>{inline(section.title)}</summary>'
            f"{''.join(body)}</details>"
        )
    heading = f'<h{level} id="{key}">{inline(section.title)}</h{level}>'
    return f"<section>{heading}\n" + "\n".join(body) + "</section>"


def _toc(sections: Sequence[Section]) -> str:
    items = []
    for section in sections:
        link = f'<a href="#{html.escape(section.key)}">{inline(section.title)}</a>'
        groups: dict[str, list[Section]] = {}
        plain = []
        for sub in section.subsections:
            if sub.group is None:
                plain.append(sub)
            else:
                groups.setdefault(sub.group, []).append(sub)
        inner = "".join(
            f'<li><a href="#{html.escape(s.key)}">{inline(s.title)}</a></li>' for s in plain
        )
        for group, members in groups.items():
            links = "".join(
                f'<li><a href="#{html.escape(s.key)}">{inline(s.title)}</a></li>' for s in members
            )
            title = f"{inline(group)} ({len(members)})"
            inner += f'<li><div class="group">{title}</div><ul>{links}</ul></li>'
        items.append(f"<li>{link}" + (f"<ul>{inner}</ul>" if inner else "") + "</li>")
    return f"<ul>{''.join(items)}</ul>"


def render(sections: Sequence[Section | str], frames: Any = None) -> str:
    """The whole HTML document of ``sections``; figures drawn from ``frames``.

    Parameters
    ----------
    sections : sequence of Section or str
        The report's sections (:func:`optbench.analysis.report.build_sections`); a
        string is markdown text.
    frames : FigureSet, ResultsFrames, Results or DataFrame, optional
        The figures :class:`FigureRef` blocks name: a
        :class:`~optbench.analysis.plot_kinds.FigureSet` computed (and drawn) once for
        the plots and the report, or the results to compute them from. Without,
        figure references are left out.
    """
    from optbench.analysis.report_blocks import Section as SectionType

    structured = [
        s if isinstance(s, SectionType) else SectionType(f"extra-{i}", "", [Text(s)], level=2)
        for i, s in enumerate(sections)
    ]
    from optbench.analysis.plot_kinds import FigureSet

    source = None
    if isinstance(frames, FigureSet):
        source = FigureSource(figure_set=frames)
    elif frames is not None:
        source = FigureSource(results_frames(frames))
    problems = sum(1 for s in structured for sub in s.subsections if sub.collapsible)
    solvers: set[str] = set()
    body = []
    for section in structured:
        if not section.title:
            texts = (text_html(b.text) for b in section.blocks if isinstance(b, Text))
            body.append("\n".join(texts))
            continue
        body.append(_section_html(section, source, solvers, problems <= OPEN_PROBLEMS))
    options = "".join(
        f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in sorted(solvers)
    )
    toolbar = (
        '<p class="toolbar"><label>Show one solver in every table: '
        f'<select id="solver-filter"><option value="">all solvers</option>{options}</select>'
        "</label></p>"
    )
    title = next((s.title for s in structured if s.level == 1 and s.title), "optbench report")
    toc = _toc([s for s in structured if s.title])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f'<body><nav aria-label="contents"><strong>Contents</strong>{toc}</nav>\n'
        f"<main>{toolbar}\n" + "\n".join(body) + f"</main>\n<script>{SCRIPT}</script>"
        "</body></html>\n"
    )
