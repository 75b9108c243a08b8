"""MEMLA against LoRA, FT-L and FT-M on the knowledge world, its ablations, and attribution time.

    python benchmarks/bench_memla.py [--model world:small] [--data world:small] [--limit 40] [--out runs/memla]

1. Edits made in English; reliability, generality, locality and portability (each kind's headline metric)
   in every language, for MEMLA, LoRA, FT-L and FT-M, each with its default hyperparameters.
2. The paper's ablations (Xie et al. 2024, §5.3): MEMLA without the language-specific editor, without the
   language-independent editor, without the neuron masks.
3. Attribution time for one case (the prompts MEMLA attributes: edit prompt and paraphrases in the pivot
   languages and the edit language), batched versus the reference implementation's loop (one prompt, one
   layer, minibatches of 4 steps), in the same run, with the largest difference between the two results.

Prints Markdown; writes every run under --out and `bench_memla.json` with the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

KINDS = ("reliability", "generality", "locality", "portability")
ABLATIONS = {"memla": {}, "memla w/o specific": {"use_specific": False},
             "memla w/o independent": {"use_independent": False}, "memla w/o masks": {"use_masks": False}}


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def per_language_table(summaries: dict[str, dict], kind: str) -> str:
    langs = sorted({lang for s in summaries.values() for lang in s["per_language"]})
    head = "| lang | " + " | ".join(summaries) + " |\n|---|" + "---:|" * len(summaries) + "\n"
    lines = []
    for lang in langs:
        cells = []
        for s in summaries.values():
            m = s["headline"].get(kind)
            cells.append(fmt(s["per_language"].get(lang, {}).get(kind, {}).get(m, {}).get("post")))
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    for label, key in (("mean", "mean"), ("mean w/o en", "mean_excluding_edit_language")):
        lines.append(f"| **{label}** | " + " | ".join(fmt(s[key].get(kind, {}).get("post"))
                                                      for s in summaries.values()) + " |")
    return head + "\n".join(lines)


def mean_table(summaries: dict[str, dict]) -> str:
    head = ("| run | " + " | ".join(f"{k} (all)" for k in KINDS) + " | " + " | ".join(f"{k} (w/o en)" for k in KINDS)
            + " |\n|---|" + "---:|" * (2 * len(KINDS)) + "\n")
    lines = []
    for name, s in summaries.items():
        a = [fmt(s["mean"].get(k, {}).get("post")) for k in KINDS]
        b = [fmt(s["mean_excluding_edit_language"].get(k, {}).get("post")) for k in KINDS]
        lines.append(f"| {name} | " + " | ".join(a + b) + " |")
    return head + "\n".join(lines)


def run_methods(lm, args, runs: dict[str, tuple[str, dict]]) -> dict[str, dict]:
    from polyedit.api import bench

    out = {}
    for label, (method, hparams) in runs.items():
        folder = Path(args.out) / label.replace(" ", "_").replace("/", "")
        t0 = time.perf_counter()
        out[label] = bench(lm, method, args.data, folder, hparams=hparams or None, limit=args.limit,
                           resume=folder.exists(), progress=False)
        print(f"  {label}: {args.limit} cases in {time.perf_counter() - t0:.0f}s", flush=True)
    return out


def attribution_timing(lm, args) -> dict:
    import torch

    from polyedit.data.registry import load_dataset
    from polyedit.methods.knowledge_neurons.attribution import attribute, attribute_reference_loop
    from polyedit.methods.memla import MEMLAHParams
    from polyedit.methods.memla.neurons import case_prompts, resolve_pivots

    case = load_dataset(args.data).cases[0]
    hp = MEMLAHParams()
    prompts = case_prompts(case)
    pivots, _, _ = resolve_pivots(hp.pivot_langs, list(prompts))
    langs = list(dict.fromkeys([*pivots, case.edit.lang]))
    queries = [(p, a, lang) for lang in langs for p, a in prompts.get(lang, [])][:args.timing_prompts or None]
    attribute(lm, queries[:1], hp.ig_steps)  # warm-up
    t0 = time.perf_counter()
    batched = attribute(lm, queries, hp.ig_steps, max_tokens_per_pass=hp.max_tokens_per_pass)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    looped = attribute_reference_loop(lm, queries, hp.ig_steps, step_batch=4)
    t_loop = time.perf_counter() - t0
    diff = max(((a.scores - b.scores).abs().max() / b.scores.abs().max().clamp_min(1e-30)).item()
               for a, b in zip(batched, looped))
    n_tokens = sum(a.activation.shape[0] for a in batched)
    return {"case_id": case.case_id, "prompts": len(queries), "answer_tokens": n_tokens, "langs": langs,
            "steps": hp.ig_steps, "n_layers": lm.arch.n_layers, "batched_s": t_batched, "reference_loop_s": t_loop,
            "speedup": t_loop / t_batched, "max_rel_diff": diff, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--data", default="world:small", help="dataset spec; the edits must be in English")
    ap.add_argument("--limit", type=int, default=40, help="cases per run")
    ap.add_argument("--methods", default="memla,lora,ft-l,ft-m")
    ap.add_argument("--out", default="runs/bench_memla")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: methods, ablations, timing")
    ap.add_argument("--timing-prompts", type=int, default=0, help="time only the first N prompts (0: all)")
    args = ap.parse_args()

    import torch

    from polyedit.methods import method_names
    from polyedit.models.load import load_model

    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    lm = load_model(args.model, device=args.device)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    result: dict = {"model": args.model, "data": args.data, "limit": args.limit}
    known = set(method_names())

    if "methods" not in skip:
        runs = {m: (m, {}) for m in args.methods.split(",") if m in known}
        missing = [m for m in args.methods.split(",") if m not in known]
        print(f"## Methods on {args.data} ({args.limit} English edits)" +
              (f" — not registered, skipped: {', '.join(missing)}" if missing else ""), flush=True)
        summaries = run_methods(lm, args, runs)
        result["methods"] = summaries
        print("\n" + mean_table(summaries))
        for kind in KINDS:
            print(f"\n### {kind} per language\n\n" + per_language_table(summaries, kind))

    if "ablations" not in skip:
        print("\n## Ablations", flush=True)
        runs = {label: ("memla", hp) for label, hp in ABLATIONS.items()}
        summaries = run_methods(lm, args, runs)
        result["ablations"] = summaries
        print("\n" + mean_table(summaries))

    if "timing" not in skip:
        t = attribution_timing(lm, args)
        result["timing"] = t
        print(f"\n## Attribution time, one case ({t['prompts']} prompts, {t['answer_tokens']} answer tokens, "
              f"{t['n_layers']} layers, m = {t['steps']}, {t['threads']} thread(s))\n")
        print(f"batched {t['batched_s']:.2f}s, reference loop {t['reference_loop_s']:.2f}s: "
              f"{t['speedup']:.1f}x faster (max relative difference of the scores {t['max_rel_diff']:.1e})")

    def slim(s):  # the summaries without the per-case cross-lingual matrices
        return {k: v for k, v in s.items() if k in ("n_cases", "headline", "mean", "mean_excluding_edit_language",
                                                    "per_language", "edit_to_others")}

    for part in ("methods", "ablations"):
        if part in result:
            result[part] = {k: slim(v) for k, v in result[part].items()}
    (Path(args.out) / "bench_memla.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
