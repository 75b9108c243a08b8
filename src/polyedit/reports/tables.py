"""A report's table, written the same way to HTML, Markdown, CSV and LaTeX (booktabs), so the numbers a paper
copies from the CSV or LaTeX file are the ones the page shows.

A cell is text or an estimate, `{"post": x, "ci95": [low, high], "pre": y}` (shares in [0, 1], `pre` and
`ci95` optional), written as `post [low, high] (pre y)` in % with one decimal; in a CSV an estimate is
four columns (the value, the interval's ends, the pre-edit value).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

from polyedit.reports.numbers import NA, interval, pct


@dataclass
class Table:
    name: str  # file stem of its CSV and LaTeX files
    title: str
    header: list[str]
    rows: list[list] = field(default_factory=list)
    note: str = ""
    #: (heading, columns) spanning the header, e.g. a probe kind over its edit/other/all columns; a column's
    #: own name then drops the heading's "kind, " prefix in HTML and LaTeX (CSV and Markdown keep full names)
    spans: list[tuple[str, int]] = field(default_factory=list)

    def short_header(self) -> list[str]:
        out, i = [], 0
        for heading, n in self.spans or [("", len(self.header))]:
            out += [h.removeprefix(f"{heading}, ") if heading else h for h in self.header[i:i + n]]
            i += n
        return out


def is_estimate(cell) -> bool:
    return isinstance(cell, dict) and "post" in cell


def text(cell) -> str:
    if is_estimate(cell):
        out = pct(cell["post"]) + (f" {interval(cell['ci95'])}" if "ci95" in cell else "")
        return out + (f" (pre {pct(cell['pre'])})" if "pre" in cell else "")
    return NA if cell is None else str(cell)


def markdown(t: Table) -> list[str]:
    lines = [f"### {t.title}", ""] + ([t.note, ""] if t.note else [])
    lines += ["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(text(c).replace("|", "\\|") for c in row) + " |" for row in t.rows]
    return lines + [""]


def html_table(t: Table, cls: str = "leaderboard") -> str:
    def td(c) -> str:
        if is_estimate(c):
            main = html.escape(pct(c["post"]) + (f" {interval(c['ci95'])}" if "ci95" in c else ""))
            return main + (f"<br><small>pre {html.escape(pct(c['pre']))}</small>" if "pre" in c else "")
        return html.escape(text(c))

    th = "".join(f"<th>{html.escape(h)}</th>" for h in t.short_header())
    if t.spans:
        th = ("".join(f"<th colspan='{n}'>{html.escape(h)}</th>" for h, n in t.spans) + "</tr><tr>" + th)
    trs = "".join("<tr>" + "".join(f"<td>{td(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return (f"<div class='wide'><table class='{cls}' data-table='{html.escape(t.name)}'><thead><tr>{th}</tr></thead>"
            f"<tbody>{trs}</tbody></table></div>")


def _estimate_columns(t: Table) -> list[tuple[bool, bool]]:
    """Per column: (its interval, its pre-edit value), for the columns that hold estimates."""
    out = []
    for i in range(len(t.header)):
        cells = [row[i] for row in t.rows if is_estimate(row[i])]
        out.append((any("ci95" in c for c in cells), any("pre" in c for c in cells)) if cells else None)
    return out


def to_csv(t: Table) -> str:
    """Text cells as written; an estimate as its value, then its interval's ends and its pre-edit value
    where the column has them, in % with one decimal (the same figures as every other output)."""
    est = _estimate_columns(t)
    header = []
    for h, e in zip(t.header, est):
        header += [h] + ([f"{h} low", f"{h} high"] if e and e[0] else []) + ([f"{h} pre"] if e and e[1] else [])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in t.rows:
        out = []
        for c, e in zip(row, est):
            if e is None:
                out.append(text(c))
                continue
            c = c if is_estimate(c) else {}
            ci = c.get("ci95") or [None, None]
            out += [pct(c.get("post"))] + ([pct(ci[0]), pct(ci[1])] if e[0] else []) + ([pct(c.get("pre"))] if e[1] else [])
        w.writerow(out)
    return buf.getvalue()


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(s: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in s)


def to_latex(t: Table) -> str:
    """A booktabs tabular: estimates as `post [low, high] (pre)` in %."""
    def cell(c) -> str:
        if is_estimate(c):
            return latex_escape(pct(c["post"]) + (f" {interval(c['ci95'])}" if "ci95" in c else "")
                                + (f" ({pct(c['pre'])})" if "pre" in c else ""))
        return latex_escape(text(c))

    lines = [f"% {latex_escape(t.title)}", r"\begin{tabular}{l" + "r" * (len(t.header) - 1) + "}", r"\toprule"]
    if t.spans:
        lines.append(" & ".join(rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(h)}}}" if h else " & ".join([""] * n)
                                for h, n in t.spans) + r" \\")
        start, rules = 1, []
        for h, n in t.spans:
            if h:
                rules.append(rf"\cmidrule(lr){{{start}-{start + n - 1}}}")
            start += n
        lines.append(" ".join(rules))
    lines += [" & ".join(latex_escape(h) for h in t.short_header()) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in t.rows]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", ""])
