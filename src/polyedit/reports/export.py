"""Every table of a report as CSV and LaTeX (booktabs), every figure as SVG and PNG, so they go into a paper
unchanged.

Figures are Plotly figures on the page. Plotly's own static export needs kaleido (and a browser), which an
offline machine may lack; when it is missing, the figure's traces (heatmaps, bars with error bars, lines with
error bars: all the report draws) are redrawn with matplotlib."""

from __future__ import annotations

import re
from pathlib import Path

from polyedit.reports.tables import Table, to_csv, to_latex


def write_tables(tables: list[Table], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in tables:
        for ext, render in (("csv", to_csv), ("tex", to_latex)):
            path = folder / f"{t.name}.{ext}"
            path.write_text(render(t), "utf-8")
            out.append(path)
    return out


def _plain(s) -> str:
    return re.sub(r"<[^>]+>", " ", str(s or "")).replace("  ", " ").strip()


def _heatmap(ax, trace, fig) -> None:
    import numpy as np

    z = np.array([[np.nan if v is None else v for v in row] for row in trace.z], dtype=float)
    im = ax.imshow(z, cmap="Blues", vmin=trace.zmin, vmax=trace.zmax, aspect="auto")
    ax.set_xticks(range(len(trace.x)), [_plain(t) for t in (fig.layout.xaxis.ticktext or trace.x)], rotation=45)
    ax.set_yticks(range(len(trace.y)), list(trace.y))
    for i, row in enumerate(z):
        for j, v in enumerate(row):
            if v == v:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="white" if v > 60 else "black")
    ax.figure.colorbar(im, ax=ax, label=_plain(trace.colorbar.title.text))
    for shape in fig.layout.shapes or ():  # the edit language's column, outlined as on the page
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((shape.x0, shape.y0), shape.x1 - shape.x0, shape.y1 - shape.y0, fill=False,
                               edgecolor=shape.line.color or "#c0392b", linewidth=2))


def _bars(ax, traces) -> None:
    cats = list(dict.fromkeys(x for t in traces for x in t.x))
    width = 0.8 / len(traces)
    for k, t in enumerate(traces):
        pos = {x: i for i, x in enumerate(cats)}
        xs = [pos[x] - 0.4 + width * (k + 0.5) for x in t.x]
        err = None
        if t.error_y and t.error_y.array is not None:
            err = [list(t.error_y.arrayminus or t.error_y.array), list(t.error_y.array)]
        ax.bar(xs, [y or 0 for y in t.y], width, yerr=err, label=t.name, capsize=2,
               color=t.marker.color if t.marker and isinstance(t.marker.color, str) else None,
               hatch="//" if t.marker and t.marker.pattern and t.marker.pattern.shape else None)
    ax.set_xticks(range(len(cats)), cats, rotation=45)


def _lines(ax, traces) -> None:
    for t in traces:
        err = None
        if t.error_y and t.error_y.array is not None:
            err = [list(t.error_y.arrayminus or t.error_y.array), list(t.error_y.array)]
        ax.errorbar(list(t.x), list(t.y), yerr=err, label=t.name, marker="o", capsize=2)


def save_figure(fig, path: Path) -> list[Path]:
    """The figure as `path` (.svg) and beside it as .png: Plotly's export where kaleido is installed, else
    redrawn with matplotlib."""
    png = path.with_suffix(".png")
    try:
        import kaleido  # noqa: F401

        fig.write_image(str(path))
        fig.write_image(str(png), scale=2)
        return [path, png]
    except Exception:  # kaleido missing, or it found no browser: matplotlib draws it
        pass
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mfig, ax = plt.subplots(figsize=(9, max(3.0, (fig.layout.height or 380) / 100)))
    kinds = {t.type for t in fig.data}
    if "heatmap" in kinds:
        _heatmap(ax, fig.data[0], fig)
    elif "bar" in kinds:
        _bars(ax, [t for t in fig.data if t.type == "bar"])
    else:
        _lines(ax, [t for t in fig.data if t.type == "scatter"])
    if "heatmap" not in kinds:
        ax.legend(fontsize=7)
    ax.set_title(_plain(fig.layout.title.text), fontsize=9, loc="left", wrap=True)
    ax.set_xlabel(_plain(fig.layout.xaxis.title.text))
    ax.set_ylabel(_plain(fig.layout.yaxis.title.text))
    mfig.tight_layout()
    mfig.savefig(path, format="svg")
    mfig.savefig(png, format="png", dpi=150)
    plt.close(mfig)
    return [path, png]
