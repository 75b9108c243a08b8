"""The report's charts, as Plotly figures (drawn by plotly.js, inlined once into the page)."""

from __future__ import annotations

from statistics import mean

import plotly.graph_objects as go

from polyedit.reports.collect import Run

SCALE = "Blues"
GREYS = ["#9a9a9a", "#6f6f6f", "#c4c4c4", "#4f4f4f"]  # pre-edit bars: one grey per distinct pre-edit series
FONT = dict(family="system-ui, sans-serif", size=12)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0), xaxis_title=x, yaxis_title=y, height=height, font=FONT,
                      margin=dict(l=70, r=30, t=50, b=60), template="plotly_white",
                      legend=dict(title=dict(text="run")), showlegend=True)  # also for a single run
    return fig


def heatmap(title: str, matrix: dict[str, dict[str, float]], kind: str, rows_name: str = "edit language",
            edit_lang: str | None = None) -> go.Figure:
    """matrix[row][probe language] in [0, 1], drawn in % on one colour scale (0-100); missing cells stay
    empty. Rows are edit languages, or runs (`rows_name`); `edit_lang` marks the edit language's column."""
    rows = list(matrix)
    cols = sorted({c for r in matrix.values() for c in r})
    z = [[None if matrix[r].get(c) is None else 100 * matrix[r][c] for c in cols] for r in rows]
    text = [["" if v is None else f"{v:.0f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, zmin=0, zmax=100, colorscale=SCALE, text=text,
                               texttemplate="%{text}", hovertemplate=f"{rows_name} %{{y}} → probe %{{x}}: "
                               "%{z:.1f}%<extra></extra>", colorbar=dict(title=dict(text=f"{kind}<br>(%)"))))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom")
    x_title = "probe language"
    if edit_lang in cols:  # the edit language's column: its tick in bold, outlined
        i = cols.index(edit_lang)
        fig.update_xaxes(tickmode="array", tickvals=cols, ticktext=[f"<b>{c}</b> (edit)" if c == edit_lang else c
                                                                    for c in cols])
        fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=-0.5, y1=len(rows) - 0.5, line=dict(color="#c0392b", width=2))
        x_title += f" (edit language {edit_lang} outlined)"
    elif rows_name == "edit language":  # each row's own language: the diagonal, outlined
        for i, r in enumerate(rows):
            if r in cols:
                j = cols.index(r)
                fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                              line=dict(color="#c0392b", width=2))
        x_title += " (each row's edit language outlined)"
    fig = _layout(fig, title, x_title, rows_name, height=max(240, 140 + 28 * len(rows)))
    return fig.update_layout(showlegend=False)  # the colour bar is the legend


def _bar(fig: go.Figure, name: str, langs: list[str], entries: list[dict], stage: str, grey: str | None) -> None:
    """One bar per language of `stage` ("pre" or "post"), with its 95% interval; pre-edit bars grey, hatched."""
    ys = [e.get(stage) for e in entries]
    ci = [e.get("ci95" if stage == "post" else "pre_ci95") or [y, y] for e, y in zip(entries, ys)]
    fig.add_bar(name=name, x=langs, y=ys, marker=dict(color=grey, pattern=dict(shape="/")) if grey else None,
                error_y=dict(type="data", symmetric=False, array=[(c[1] or 0) - (y or 0) for c, y in zip(ci, ys)],
                             arrayminus=[(y or 0) - (c[0] or 0) for c, y in zip(ci, ys)]),
                hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>")


def pre_post_bars(title: str, runs: list[Run], kind: str) -> go.Figure | None:
    """Per probe language, each run's post-edit bar and the pre-edit bar beside it (one per distinct set of
    pre-edit values: runs on one model share it), with 95% intervals; None when nothing is above zero."""
    from polyedit.reports.collect import language_entry, probe_languages

    series = []  # (run label, languages, their entries)
    for run in runs:
        langs = [lang for lang in probe_languages(run) if language_entry(run, lang, kind)]
        if langs:
            series.append((run.label, langs, [language_entry(run, lang, kind) for lang in langs]))
    if not any((e.get(stage) or 0) > 0 for _, _, es in series for e in es for stage in ("pre", "post")):
        return None
    pres: dict[tuple, list[str]] = {}  # each distinct pre-edit series -> the runs that share it
    for label, langs, es in series:
        pres.setdefault(tuple((lang, e.get("pre")) for lang, e in zip(langs, es)), []).append(label)
    fig, drawn = go.Figure(), set()
    for label, langs, es in series:
        key = tuple((lang, e.get("pre")) for lang, e in zip(langs, es))
        if key not in drawn:  # before the first run that has it
            drawn.add(key)
            name = "pre-edit" + ("" if len(pres) == 1 else f" ({', '.join(pres[key])})")
            _bar(fig, name, langs, es, "pre", GREYS[list(pres).index(key) % len(GREYS)])
        _bar(fig, f"{label}, post-edit", langs, es, "post", None)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_xaxes(type="category")
    return _layout(fig, title, "probe language", f"{kind}, pre- and post-edit, 95% intervals")


def sequential_curves(title: str, runs: list[Run], kind: str) -> go.Figure | None:
    """Mean of the headline metric over every edited case's probes after each checkpoint (forgetting)."""
    fig = go.Figure()
    for run in runs:
        metric = run.summary.get("headline", {}).get(kind)
        points: dict[int, list[float]] = {}
        for rec in run.sequential:
            vals = [p["post"][metric] for p in rec.get("probes", [])
                    if p.get("kind") == kind and p.get("post", {}).get(metric) is not None]
            points.setdefault(int(rec["after_edits"]), []).extend(vals)
        xs = sorted(k for k, v in points.items() if v)
        if xs:
            fig.add_scatter(name=run.label, x=xs, y=[mean(points[x]) for x in xs], mode="lines+markers")
    if not fig.data:
        return None
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(tick0=0, dtick=max(1, max(len(t.x) for t in fig.data) // 10))  # whole edits only
    return _layout(fig, title, "edits applied", f"{kind} of the edits so far")


def lifelong_curves(title: str, runs: list[Run], measure: str) -> go.Figure | None:
    """One lifelong measure (summary.json's `lifelong`: retention, recall or locality) at each checkpoint,
    with its 95% interval as error bars; the y axis names the metric and the protocol that scored it."""
    fig = go.Figure()
    label = None
    for run in runs:
        points = [p for p in (run.summary.get("lifelong") or {}).get("checkpoints", []) if measure in p]
        if not points:
            continue
        m = points[0][measure]
        label = f"{measure}: {m['metric']} ({m['protocol']})"
        ys = [p[measure]["mean"] for p in points]
        fig.add_scatter(name=run.label, x=[p["after_edits"] for p in points], y=ys, mode="lines+markers",
                        error_y=dict(type="data", symmetric=False,
                                     array=[p[measure]["ci95"][1] - y for p, y in zip(points, ys)],
                                     arrayminus=[y - p[measure]["ci95"][0] for p, y in zip(points, ys)]),
                        hovertemplate="%{x} edits: %{y:.3f}<extra>" + run.label + "</extra>")
    if not fig.data:
        return None
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, "edits applied", label)


def lifelong_group_curves(title: str, runs: list[Run], measure: str, grouping: str) -> go.Figure | None:
    """One lifelong measure per group of `grouping` (summary.json's `lifelong` groups: segment, script,
    resource level) at each checkpoint: one line per run and group, with 95% intervals."""
    fig = go.Figure()
    for run in runs:
        points = (run.summary.get("lifelong") or {}).get("checkpoints", [])
        groups = sorted({g for p in points for g in ((p.get(measure) or {}).get("groups") or {}).get(grouping, {})})
        for g in groups:
            at = [(p["after_edits"], p[measure]["groups"][grouping][g]) for p in points
                  if g in ((p.get(measure) or {}).get("groups") or {}).get(grouping, {})]
            ys = [e["mean"] for _, e in at]
            fig.add_scatter(name=f"{run.label}: {g}", x=[x for x, _ in at], y=ys, mode="lines+markers",
                            error_y=dict(type="data", symmetric=False,
                                         array=[e["ci95"][1] - y for (_, e), y in zip(at, ys)],
                                         arrayminus=[y - e["ci95"][0] for (_, e), y in zip(at, ys)]))
    if not fig.data:
        return None
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, "edits applied", f"{measure} by {grouping}")


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both objectives (higher is better)."""
    return [i for i, (x, y) in enumerate(points)
            if not any(a >= x and b >= y and (a, b) != (x, y) for a, b in points)]


def pareto(title: str, run: Run) -> go.Figure:
    ox, oy = run.pareto["objectives"]
    trials = [t for t in run.pareto["trials"] if t.get(ox) is not None and t.get(oy) is not None]
    pts = [(float(t[ox]), float(t[oy])) for t in trials]
    front = ([i for i, t in enumerate(trials) if t.get("pareto")] if any("pareto" in t for t in trials)
             else pareto_front(pts))
    labels = [", ".join(f"{k}={v}" for k, v in (t.get("params") or {}).items()) for t in trials]
    fig = go.Figure()
    fig.add_scatter(name="trial", x=[p[0] for p in pts], y=[p[1] for p in pts], mode="markers", text=labels,
                    marker=dict(color="#9ab", size=8), hovertemplate="%{text}<br>%{x:.3f}, %{y:.3f}<extra></extra>")
    on = sorted(front, key=lambda i: pts[i][0])
    fig.add_scatter(name="Pareto front", x=[pts[i][0] for i in on], y=[pts[i][1] for i in on],
                    mode="lines+markers", text=[labels[i] for i in on], marker=dict(color="#1f4e9c", size=10),
                    hovertemplate="%{text}<br>%{x:.3f}, %{y:.3f}<extra></extra>")
    fig.update_layout(legend=dict(title=dict(text="")))
    return _layout(fig, title, ox, oy)


PALETTE = ["#1f4e9c", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b", "#2c3e50",
           "#e84393", "#6d214f", "#0984e3"]


def tuning_fronts(title: str, series: list[dict], floor: float | None) -> go.Figure:
    """Every search's trials (faint), its Pareto front (line) and its chosen point (star), transfer against
    locality on the dev split; the locality floor as a vertical line. `series`: {label, pareto (the
    pareto.json object), chosen (trial number or None)}."""
    fig = go.Figure()
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        trials = [t for t in s["pareto"].get("trials", []) if t.get("locality") is not None and t.get("transfer") is not None]
        if not trials:
            continue
        text = [f"trial {t.get('number')}: " + ", ".join(f"{a}={_short(v)}" for a, v in (t.get("params") or {}).items())
                for t in trials]
        fig.add_scatter(name=f"{s['label']}: trials", x=[t["locality"] for t in trials], y=[t["transfer"] for t in trials],
                        mode="markers", text=text, marker=dict(color=colour, size=6, opacity=0.35),
                        legendgroup=s["label"], showlegend=False,
                        hovertemplate="%{text}<br>locality %{x:.3f}, transfer %{y:.3f}<extra>" + s["label"] + "</extra>")
        pts = [(t["locality"], t["transfer"]) for t in trials]
        front = [i for i, t in enumerate(trials) if t.get("pareto")] if any("pareto" in t for t in trials) else pareto_front(pts)
        on = sorted(front, key=lambda i: pts[i][0])
        fig.add_scatter(name=s["label"], x=[pts[i][0] for i in on], y=[pts[i][1] for i in on], mode="lines+markers",
                        text=[text[i] for i in on], line=dict(color=colour, shape="vh"), marker=dict(color=colour, size=8),
                        legendgroup=s["label"],
                        hovertemplate="%{text}<br>locality %{x:.3f}, transfer %{y:.3f}<extra>" + s["label"] + "</extra>")
        chosen = [t for t in trials if t.get("number") == s.get("chosen")]
        if chosen:
            fig.add_scatter(name=f"{s['label']}: chosen", x=[chosen[0]["locality"]], y=[chosen[0]["transfer"]],
                            mode="markers", marker=dict(color=colour, size=16, symbol="star", line=dict(width=1, color="#000")),
                            legendgroup=s["label"], showlegend=False,
                            hovertemplate=f"chosen: trial {s['chosen']}<br>locality %{{x:.3f}}, transfer %{{y:.3f}}<extra>"
                                          + s["label"] + "</extra>")
    if floor is not None:
        fig.add_vline(x=floor, line=dict(color="#888", dash="dash"), annotation_text=f"locality floor {floor:g}")
    fig.update_xaxes(range=[None, 1.01])
    fig.update_yaxes(range=[-0.02, 1.02])
    fig = _layout(fig, title, "locality (answer_locality: answer_unchanged), dev split",
                  "transfer (answer: answer_em, other languages), dev split", height=480)
    return fig.update_layout(legend=dict(title=dict(text="method (★ chosen)")))


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _change_error(entries: list[dict]) -> dict:
    """Error bars of after − before from each entry's paired interval (none where the metric has none)."""
    ci = [e.get("ci95") or [e["diff"], e["diff"]] for e in entries]
    return dict(type="data", symmetric=False, array=[c[1] - e["diff"] for c, e in zip(ci, entries)],
                arrayminus=[e["diff"] - c[0] for c, e in zip(ci, entries)])


def capability_languages(title: str, series: list[tuple[str, dict]], label: str) -> go.Figure | None:
    """Per language, each run's change (after − before) in one lm-eval task with its 95% paired interval;
    `series` is (run label, the task's headline entry with `per_language`)."""
    fig = go.Figure()
    for name, entry in series:
        per = entry.get("per_language") or {}
        langs = [lang for lang, e in per.items() if e.get("diff") is not None]
        if langs:
            fig.add_bar(name=name, x=langs, y=[per[lang]["diff"] for lang in langs],
                        error_y=_change_error([per[lang] for lang in langs]),
                        hovertemplate="%{x}: %{y:+.4f}<extra>" + name + "</extra>")
    if not fig.data:
        return None
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return _layout(fig, title, "task language", label)


def capability_curves(title: str, series: list[tuple[str, list[tuple[int, dict]]]], label: str) -> go.Figure | None:
    """A lm-eval task's change at each lifelong checkpoint, from 0 at no edit; `series` is (run label,
    [(edits in place, the task's headline entry)])."""
    fig = go.Figure()
    for name, points in series:
        if points:
            entries = [{"diff": 0.0}] + [e for _, e in points]
            fig.add_scatter(name=name, x=[0] + [n for n, _ in points], y=[e["diff"] for e in entries],
                            mode="lines+markers", error_y=_change_error(entries),
                            hovertemplate="%{x} edits: %{y:+.4f}<extra>" + name + "</extra>")
    if not fig.data:
        return None
    return _layout(fig, title, "edits applied", label)
