"""MkDocs hook: the reference tables are generated from polyedit's registries and schemas at build time, so
they cannot drift from the code. A page asks for one with a marker on a line of its own:

    <!-- polyedit:hparams NAME -->   a method's hyperparameters: default, meaning, limits, search range
    <!-- polyedit:methods -->         every registered method with its one-line description
    <!-- polyedit:datasets -->        every registered dataset with its spec and source
    <!-- polyedit:formats -->         every file format `polyedit data validate` checks
    <!-- polyedit:protocols -->       every scoring protocol: kind, version, headline metrics, settings
    <!-- polyedit:metrics -->         every registered metric: protocol, aggregation, direction, kinds it may head
    <!-- polyedit:records -->         the run folder's files, field by field (evaluation/schema.py)
    <!-- polyedit:runspec -->         a run's specification, field by field: flag, type, default, bound, meaning

An unknown marker or method name fails the build (mkdocs build --strict turns the warning into an error).
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("mkdocs.plugins.polyedit")
MARKER = re.compile(r"^<!-- polyedit:(\w+)(?: ([\w.-]+))? -->$", re.M)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _prose(text) -> str:
    # help texts hold spec syntax such as `[:langs=...]`, which Markdown would read as reference links
    return str(text).replace("[", "\\[").replace("]", "\\]")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def hparams(name: str) -> str:
    from polyedit.methods.base import get_method

    method = get_method(name)
    cls = type(method.hparams)
    helps = cls.help()
    space = cls.search_space()
    rows = []
    for field, help in helps.items():  # read from the hyperparameters' JSON schema
        search = space.get(field)
        rows.append([f"`{field}`", f"`{getattr(method.hparams, field)!r}`", _prose(help.split(" [tuned:")[0]),
                     search.describe() if search is not None else "fixed"])
    return (f"**`{name}`**: {_prose(method.description)}\n\n"
            + _table(["hyperparameter", "default", "meaning and limits", "searched by `polyedit tune`"], rows))


def methods(_=None) -> str:
    from polyedit.methods.base import get_method, method_names

    return _table(["method", "what it does"],
                  [[f"[`{n}`]({n}.md)", _prose(get_method(n).description)] for n in method_names()])


def datasets(_=None) -> str:
    from polyedit.data.registry import DATASETS

    return _table(["dataset", "spec and source"], [[f"[`{n}`]({n}.md)", _prose(h)] for n, h in DATASETS.helps().items()])


def formats(_=None) -> str:
    from polyedit.data.problems import format_names

    return _table(["format", "what `polyedit data validate --format` checks"],
                  [[f"`{n}`", _prose(h)] for n, h in format_names().items()])


def protocols(_=None) -> str:
    from polyedit.evaluation.protocols import PROTOCOLS

    rows = []
    for name, p in PROTOCOLS.items():
        d = p.describe()
        heads = "; ".join(f"`{m}` for {', '.join(k)}" for m, k in d.get("headline", {}).items()) or "none"
        settings = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("name", "kind", "version", "help", "headline"))
        rows.append([f"`{name}`", d["kind"], d["version"], _prose(d["help"]), heads, _prose(settings)])
    return _table(["protocol", "kind", "version", "what it measures", "headline metrics", "settings"], rows)


def metrics(_=None) -> str:
    from polyedit.evaluation.metrics import METRICS

    return _table(["metric", "protocol", "aggregation", "higher is better", "may head", "meaning"],
                  [[f"`{n}`", f"`{m.protocol}`", m.aggregation, "yes" if m.higher_is_better else "no",
                    ", ".join(m.heads) or "none", _prose(m.help)] for n, m in METRICS.items()])


def records(_=None) -> str:
    from polyedit.evaluation.schema import FILES, FORMAT_VERSION, READABLE

    out = [f"Record format version **{FORMAT_VERSION}** (this polyedit reads versions "
           f"{', '.join(map(str, READABLE))}). Fields not named here may appear; a reader ignores them."]
    for name, (model, per_line) in FILES.items():
        out.append(f"\n### `{name}`\n\n{_prose(model.__doc__ or '')} ({'one record per line' if per_line else 'one object'})\n")
        out.append(_table(["field", "type", "meaning"],
                          [[f"`{f}`", f"`{_prose(_type(info.annotation))}`", _prose(info.description or "")]
                           for f, info in model.model_fields.items()]))
    return "\n".join(out)


def runspec(_=None) -> str:
    from polyedit.cli.run_options import flag
    from polyedit.evaluation.spec import RunSpec, access_fields

    def bound(info) -> str:
        b = {k: getattr(m, k) for m in info.metadata for k in ("ge", "le") if hasattr(m, k)}
        return " ≤ ".join(([str(b["ge"])] if "ge" in b else []) + ["x"] + ([str(b["le"])] if "le" in b else [])) if b else ""

    def kind(annotation) -> str:  # `Annotated[int, Strict()]` is a whole number: written `int`
        text = re.sub(r"Annotated\[int, Strict\(strict=True\)(, FieldInfo\(.*?\]\))?\]", "int", _type(annotation))
        return re.sub(r"^Optional\[(.*)\]$", r"\1 | None", text)

    rows = [[f"`{name}`", f"`{flag(name)}`", f"`{_prose(kind(info.annotation))}`",
             "required" if info.is_required() else f"`{info.default!r}`", bound(info),
             "access" if name in access_fields() else "config", _prose(info.description or "")]
            for name, info in RunSpec.model_fields.items()]
    return _table(["field", "flag", "type", "default", "bound", "run.json", "meaning"], rows)


def _type(annotation) -> str:
    return getattr(annotation, "__name__", None) if isinstance(annotation, type) else str(annotation).replace("typing.", "")


GENERATORS = {"hparams": hparams, "methods": methods, "datasets": datasets, "formats": formats,
              "protocols": protocols, "metrics": metrics, "records": records, "runspec": runspec}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def expand(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2)
        generate = GENERATORS.get(kind)
        if generate is None:
            log.warning(f"{page.file.src_uri}: unknown reference marker {m.group(0)!r}")
            return m.group(0)
        try:
            return generate(arg)
        except Exception as e:  # a name the registry does not know: the build must say so, not skip it
            log.warning(f"{page.file.src_uri}: {m.group(0)}: {e}")
            return m.group(0)

    return MARKER.sub(expand, markdown)
