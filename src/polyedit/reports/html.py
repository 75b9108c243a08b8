"""A self-contained HTML report (inline CSS and SVG, images embedded as data URIs): no network, one file."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from polyedit.data.cases import PROBE_KINDS


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ci(e: dict) -> str:
    ci = e.get("ci95")
    return f"[{_pct(ci[0])}–{_pct(ci[1])}]" if ci else ""


def _label(e: dict) -> str:
    p = e.get("protocol") or {}
    return f"{p.get('name', '?')} ({p.get('kind', '?')})"


def _protocols_note(summaries: dict, kinds: list[str]) -> str:
    """Which metric and protocol each column shows; says so when the methods' runs differ."""
    cols = []
    for k in kinds:
        labels = {f"{s['headline'].get(k)} from {_label(s['mean'][k])}" for s in summaries.values() if k in s["mean"]}
        cols.append(f"{k}: " + (" / ".join(sorted(labels)) + (" (differs between runs)" if len(labels) > 1 else "")))
    ci = next((s.get("ci_method") for s in summaries.values() if s.get("ci_method")), None)
    return "; ".join(cols) + (f". Intervals: {ci}." if ci else ".")


def _color(v: float | None) -> str:
    if v is None:
        return "#eee"
    # white (0) to deep blue (1), perceptually even enough for a quick read
    r = int(255 - 200 * v)
    g = int(255 - 140 * v)
    return f"rgb({r},{g},255)"


def heatmap_svg(matrix: dict[str, dict[str, float]], rows: list[str], cols: list[str], title: str,
                cell: int = 34) -> str:
    """matrix[row][col] in [0, 1] as an SVG grid with values written in the cells."""
    left, top = 70, 60
    w, h = left + cell * len(cols) + 10, top + cell * len(rows) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="0" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for j, c in enumerate(cols):
        out.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" font-size="11" text-anchor="middle">{html.escape(c)}</text>')
    for i, r in enumerate(rows):
        out.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end">{html.escape(r)}</text>')
        for j, c in enumerate(cols):
            v = matrix.get(r, {}).get(c)
            x, y = left + j * cell, top + i * cell
            out.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{_color(v)}"><title>{r} → {c}: {_pct(v)}</title></rect>')
            ink = "#fff" if v is not None and v > 0.6 else "#000"
            out.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" font-size="10" text-anchor="middle" fill="{ink}">{_pct(v) if v is not None else ""}</text>')
    out.append("</svg>")
    return "".join(out)


def _table(header: list[str], body: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def image_tag(path: str | Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def report_html(title: str, summaries: dict[str, dict], heatmaps: list[tuple[str, dict, list[str], list[str]]] = (),
                images: list[tuple[str, str | Path]] = (), notes: list[str] = ()) -> str:
    """summaries: method -> run summary; heatmaps: (title, matrix, rows, cols); images: (caption, png path)."""
    parts = [f"<h1>{html.escape(title)}</h1>"] + [f"<p>{html.escape(n)}</p>" for n in notes]
    kinds = [k for k in PROBE_KINDS if any(k in s["mean"] for s in summaries.values())]
    body = []
    for method, s in summaries.items():
        row = [html.escape(method)]
        for k in kinds:
            m = s["mean"].get(k)
            row.append(f"{_pct(m['post'])} <small>{_ci(m)} ({_pct(m['pre'])})</small>" if m else "–")
        other = s.get("mean_excluding_edit_language") or {}
        row += [_pct(other[k]["post"]) if k in other else "–" for k in kinds if k != "locality"]
        body.append(row)
    header = ["method"] + kinds + [f"{k}, other languages" for k in kinds if k != "locality"]
    parts += ["<h2>Summary: mean over languages (post-edit %, 95% interval, pre-edit in brackets)</h2>",
              f"<p>{html.escape(_protocols_note(summaries, kinds))}</p>", _table(header, body)]
    diag = [[html.escape(method), html.escape(k), html.escape(m), html.escape(_label(e)),
             f"{_pct(e['post'])} <small>{_ci(e)} ({_pct(e.get('pre'))})</small>"]
            for method, s in summaries.items() for k in kinds
            for m, e in (s.get("diagnostics") or {}).get(k, {}).items()]
    if diag:
        parts += ["<h2>Diagnostics: other metrics, labelled with their protocol (not the headline)</h2>",
                  _table(["method", "probes", "metric", "protocol", "mean over languages"], diag)]
    for t, matrix, rows, cols in heatmaps:
        parts += [f"<h2>{html.escape(t)}</h2>", heatmap_svg(matrix, rows, cols, t)]
    for method, s in summaries.items():
        head = s["headline"]
        ks = [k for k in PROBE_KINDS if k in head]
        rows = [[lang] + [_pct(per.get(k, {}).get(head[k], {}).get("post")) for k in ks]
                for lang, per in s["per_language"].items()]
        parts += [f"<h2>{html.escape(method)}: per language</h2>", _table(["language"] + ks, rows)]
    for caption, path in images:
        parts += [f"<h2>{html.escape(caption)}</h2>", image_tag(path, caption)]
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
             "td:first-child{text-align:left}small{color:#777}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
