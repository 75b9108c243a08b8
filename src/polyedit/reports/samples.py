"""The report's sample browser: probes of every run with their pre- and post-edit answers side by side, each
tagged with the outcomes that make it worth reading, so a failure can be found rather than scrolled to.

Outcomes (a probe may have several):
- "edit did not converge": the method said its optimisation did not reach its target (the case record's
  `convergence.converged`, where the method records it: `polyedit.methods.convergence`);
- "edit did not take": the edit's own question, in the edit's language, is answered wrongly after the edit;
- "answered in another language": the post-edit answer is not in the query's language (`answer_in_language`
  where the detector finds the gold answer in it, or BMIKE-53's `language_fidelity`, scored only where the
  gold answer is in the language's script);
- "locality broken": a locality probe whose answer changed (its headline metric is 0 after the edit);
- "judge disagreed with exact match": the judge's verdict and exact match differ after the edit;
- "wrong after the edit" / "right after the edit": the probe's headline metric, post-edit.

The page embeds, per run and outcome, a seeded random sample (not the first rows of the log); the filters
(run, language, probe kind, outcome) then show a seeded sample of the matching rows.
"""

from __future__ import annotations

import html
import json
import random

from polyedit.reports.collect import Run, headline_metric, iter_samples, records

OUTCOMES = ("edit did not converge", "edit did not take", "answered in another language", "locality broken",
            "judge disagreed with exact match", "wrong after the edit", "right after the edit")
SEED = 0
#: metrics that say whether an answer is in the query's language, each with the metric (if any) that says the
#: detector can tell for this probe's gold answer
IN_LANGUAGE = (("answer_in_language", "gold_in_language"), ("language_fidelity", None))


def converged(record: dict) -> bool | None:
    """The method's own word on whether the edit's optimisation converged (None: not recorded)."""
    value = (record.get("convergence") or {}).get("converged")
    return None if value is None else bool(value)


def _stage(s: dict, stage: str) -> dict:
    v = s.get(stage)
    return v if isinstance(v, dict) else {}


def _metrics(s: dict, stage: str) -> dict:
    st = _stage(s, stage)
    return st.get("metrics", st) if isinstance(st.get("metrics", st), dict) else {}


def _case_facts(run: Run) -> dict[str, dict]:
    """case id -> {edit_lang, converged, took}: what the case record says about the edit itself."""
    metric = headline_metric(run, "reliability")
    out = {}
    for rec in records(run):
        el = (rec.get("edit") or {}).get("lang")
        own = [p["post"].get(metric) for p in rec.get("probes", [])
               if p.get("kind") == "reliability" and p.get("lang") == el and p.get("post", {}).get(metric) is not None]
        out[rec["case_id"]] = {"edit_lang": el, "converged": converged(rec), "took": (max(own) > 0) if own else None}
    return out


def outcomes(run: Run, s: dict, case: dict) -> list[str]:
    post = _metrics(s, "post")
    kind = s.get("kind")
    value = post.get(headline_metric(run, kind) or "")
    tags = []
    if case.get("converged") is False:
        tags.append("edit did not converge")
    if case.get("took") is False and kind in ("reliability", "generality"):
        tags.append("edit did not take")
    if any(post.get(m) == 0 and (ceiling is None or post.get(ceiling) == 1) for m, ceiling in IN_LANGUAGE):
        tags.append("answered in another language")
    if kind == "locality" and value == 0:
        tags.append("locality broken")
    if "judge_correct" in post and "answer_em" in post and bool(post["judge_correct"]) != bool(post["answer_em"]):
        tags.append("judge disagreed with exact match")
    if value is not None:
        tags.append("right after the edit" if value > 0 else "wrong after the edit")
    return tags


def _answer(s: dict, stage: str) -> str:
    gen = _stage(s, stage).get("generated")
    if isinstance(gen, dict):
        answers = (str(v[0] if isinstance(v, list) and v else v).strip() for v in gen.values())
        return " | ".join(dict.fromkeys(answers))  # one answer per protocol that generated; often the same
    return "" if gen is None else str(gen)


def _row(run: Run, s: dict, case: dict) -> dict:
    return {"run": run.label, "case": str(s.get("case_id")), "kind": str(s.get("kind")), "lang": str(s.get("lang")),
            "edit_lang": str(case.get("edit_lang")), "prompt": str(_stage(s, "post").get("prompt") or s.get("prompt") or ""),
            "gold": str(s.get("gold") if s.get("gold") is not None else s.get("answer", "")),
            "pre": _answer(s, "pre"), "post": _answer(s, "post"), "outcomes": outcomes(run, s, case)}


def browser_rows(run: Run, per_outcome: int) -> list[dict]:
    """A seeded random sample of at most `per_outcome` probes per outcome of one run (reservoir sampling over
    the per-sample log, so its size does not matter), each with its outcomes, in log order."""
    facts = _case_facts(run)
    rng = random.Random(f"{SEED}:{run.dir.name}")
    kept: dict[str, list[tuple[int, dict]]] = {}
    seen: dict[str, int] = {}
    for i, s in enumerate(iter_samples(run)):
        row = _row(run, s, facts.get(s.get("case_id"), {}))
        for tag in row["outcomes"] or ["none"]:
            seen[tag] = n = seen.get(tag, 0) + 1
            pool = kept.setdefault(tag, [])
            if len(pool) < per_outcome:
                pool.append((i, row))
            elif (j := rng.randrange(n)) < per_outcome:
                pool[j] = (i, row)
    return [row for _, row in sorted({i: (i, r) for pool in kept.values() for i, r in pool}.values(),
                                     key=lambda x: x[0])]


def counts(rows: list[dict]) -> dict[str, int]:
    return {o: sum(o in r["outcomes"] for r in rows) for o in OUTCOMES}


HEADER = ["run", "case", "kind", "language", "edit language", "prompt (post-edit)", "gold", "pre-edit answer",
          "post-edit answer", "outcomes"]


def html_browser(runs: list[Run], per_outcome: int, shown: int) -> str:
    """Filters, the table (rows in seeded random order) and the script that shows `shown` matching rows."""
    rows = [r for run in runs for r in browser_rows(run, per_outcome)]
    random.Random(SEED).shuffle(rows)

    def select(name: str, values) -> str:
        opts = "".join(f"<option value='{html.escape(v)}'>{html.escape(v)}</option>" for v in values)
        return f"<label>{name} <select data-filter='{name}'><option value=''>all</option>{opts}</select></label> "

    filters = (select("run", dict.fromkeys(r["run"] for r in rows))
               + select("language", sorted({r["lang"] for r in rows}))
               + select("kind", list(dict.fromkeys(r["kind"] for r in rows)))
               + select("outcome", [o for o in OUTCOMES if any(o in r["outcomes"] for r in rows)]))
    body = "".join(
        f"<tr data-run='{html.escape(r['run'])}' data-language='{html.escape(r['lang'])}' "
        f"data-kind='{html.escape(r['kind'])}' data-outcome='{html.escape(json.dumps(r['outcomes']))}'>"
        + "".join(f"<td>{html.escape(r[k])}</td>" for k in ("run", "case", "kind", "lang", "edit_lang", "prompt",
                                                              "gold", "pre", "post"))
        + f"<td>{html.escape(', '.join(r['outcomes']))}</td></tr>" for r in rows)
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    script = ("(function(){var sel=document.querySelectorAll('select[data-filter]');var rows=document.querySelectorAll("
              "'#samples tbody tr');function apply(){var f={};sel.forEach(function(s){f[s.dataset.filter]=s.value;});"
              "var n=0;rows.forEach(function(tr){var ok=(!f.run||tr.dataset.run===f.run)&&(!f.language||"
              "tr.dataset.language===f.language)&&(!f.kind||tr.dataset.kind===f.kind)&&(!f.outcome||JSON.parse("
              f"tr.dataset.outcome).indexOf(f.outcome)>=0);var show=ok&&n<{shown};if(show)n++;"
              "tr.style.display=show?'':'none';});document.getElementById('samples-count').textContent=n+' shown';}"
              "sel.forEach(function(s){s.addEventListener('change',apply);});apply();})();")
    return (f"<div class='filters'>{filters}<span id='samples-count'></span></div>"
            f"<table class='samples' id='samples'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<script>{script}</script>")
