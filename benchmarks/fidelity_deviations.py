"""The two documented deviations from the reference code, measured (docs/methods/rome.md, memit.md, grace.md).

1. ROME and MEMIT with `fact_token: prompt_last` and a multi-token target. The reference (kmeng01/rome
   `compute_v`, memit `compute_z`) finds the lookup of each rewriting prompt with `find_fact_lookup_idx` on
   the prompt *with the target's first T-1 tokens appended*, so with `last` δ (and v_init) sit at the last
   of those tokens, while the key k* (`compute_u`, "last" of the bare template) is read at the prompt's last
   token. polyedit adds δ where it reads the key. The reference's positions are reproduced by shifting each
   rewriting text's lookup by T-1 before v* is optimised (the essence prompt's is the same in both) and
   writing the update so that W' k* = v_init(shifted) + δ, as `target_init + delta` there; p(target_new |
   prompt) after the edit (teacher forced, the product over the target's tokens) is compared.
2. GRACE's label identity. polyedit compares target strings; EasyEdit's `label_match` compares the float
   means of the label tensors, whose prompt positions hold -100, so the same target after a prompt of
   another length is another label: its key splits the nearest entry instead of expanding it. Each fact
   is edited with its prompt and then its first same-language paraphrase (same target), one after another
   into one codebook, on world:small at the default settings and on world:medium at the lifelong settings
   (`configs/lifelong/grace.yaml`, ε_init 28.5); the entries each rule ends with are counted.

    python benchmarks/fidelity_deviations.py [--cases 10] [--grace-facts 8]

world:small has 6 edits whose target is more than one token, so `--cases` above 6 measures those 6. On
CPU, one thread: 356 + 268 s on 2 shared cores under load (docs/benchmarks.md quotes the output).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import replace

from pathlib import Path

import torch

from polyedit.data.cases import GENERALITY
from polyedit.data.registry import load_dataset
from polyedit.methods import get_method, mass_edit, rank_one
from polyedit.methods.grace import codebook as grace_codebook
from polyedit.methods.objectives import edit_batch, make_target_batch
from polyedit.methods.rome import rome_main
from polyedit.models import load_model
from polyedit.models.backend import HFBackend

ROOT = Path(__file__).resolve().parent.parent


def p_target(lm, edit) -> float:
    """p(target_new | prompt): the product of the target tokens' teacher-forced probabilities."""
    from polyedit.data.languages import join_target

    [res] = HFBackend(lm).score([join_target(edit.prompt, edit.target_new, edit.lang)])
    return math.exp(sum(res.logprobs))


def reference_positions(lm, contexts: list[rank_one.FactContexts]) -> list[rank_one.FactContexts]:
    """Each rewriting text's lookup moved from the prompt's last token to the last of prompt + target[:-1]."""
    out = []
    for c in contexts:
        batch = make_target_batch(lm, [(t, c.edit.target_new, c.edit.lang) for t in c.texts])
        n_target = batch.target_mask.sum(1).tolist()
        out.append(replace(c, lookup=[p + n - 1 for p, n in zip(c.lookup, n_target)]))
    return out


@contextmanager
def reference_last(module):
    """`module.optimise_values` (ROME's or MEMIT's) run at the reference's positions, returning δ relative
    to the output at polyedit's position: v_init + δ is then the reference's target_init + delta."""
    real = module.optimise_values

    def at_reference(lm, contexts, where, **settings):
        ours = real(lm, contexts, where, **{**settings, "steps": 0})  # v_init at the prompt's last token
        theirs = real(lm, reference_positions(lm, contexts), where, **settings)
        return replace(theirs, delta=theirs.delta + theirs.v_init - ours.v_init, v_init=ours.v_init)

    module.optimise_values = at_reference
    try:
        yield
    finally:
        module.optimise_values = real


def multi_token_edits(lm, n: int):
    edits = [c.edit for c in load_dataset("world:small").cases]
    many = [e for e in edits if edit_batch(lm, [e]).target_mask.sum().item() > 1]
    return many[:n]


def check_last_positions(n: int) -> None:
    lm = load_model("world:small")
    edits = multi_token_edits(lm, n)
    for method, module in (("rome", rome_main), ("memit", mass_edit)):
        got = {}
        for label, ctx in (("polyedit prompt_last", None), ("reference last", module)):
            probs = []
            for e in edits:
                with reference_last(ctx) if ctx is not None else _nothing():
                    handle = get_method(method, {"fact_token": "prompt_last"}, lm).apply(lm, [e])
                probs.append(p_target(lm, e))
                handle.restore()
            got[label] = probs
        for label, probs in got.items():
            print(f"{method} fact_token prompt_last, world:small, {len(edits)} single edits with multi-token targets, "
                  f"{label} positions: p(target_new) median {statistics.median(probs):.4f}, "
                  f"mean {statistics.mean(probs):.4f}, min {min(probs):.1e}")


@contextmanager
def _nothing():
    yield


def easyedit_label(lm, edit) -> str:
    """EasyEdit's GRACE label identity: the float mean of `labels` (the prompt + target ids, prompt positions
    -100), written as a string so that polyedit's codebook compares it as it compares target strings."""
    batch = edit_batch(lm, [edit])
    ids = batch.input_ids[0, :int(batch.attention_mask[0].sum())].clone()
    ids[:int(batch.last_prompt[0]) + 1] = -100
    return repr(ids.float().mean().item())


def paraphrase_pairs(world: str, n_facts: int) -> list:
    """Each of the first `n_facts` facts with a same-language paraphrase: its edit, then the paraphrase's."""
    edits = []
    for case in load_dataset(world).cases:
        para = next((p for p in case.probes if p.kind == GENERALITY and p.lang == case.edit.lang), None)
        if para is not None:
            edits += [case.edit, replace(case.edit, prompt=para.prompt)]
        if len(edits) == 2 * n_facts:
            break
    return edits


def grace_entries(lm, edits, hparams, easyedit: bool) -> tuple[int, dict]:
    """Codebook entries and rules taken after `edits`, one after another, labels by either rule."""
    real, current = grace_codebook.Codebook.update, {}

    def update(self, key, label, eps_init, value):
        return real(self, key, current["label"], eps_init, value)

    grace_codebook.Codebook.update = update if easyedit else real
    handles, rules = [], {}
    try:
        for e in edits:
            current["label"] = easyedit_label(lm, e)
            handles.append(get_method("grace", hparams, lm).apply(lm, [e]))
            for k, v in handles[-1].info["rules"].items():
                rules[k] = rules.get(k, 0) + v
        return handles[-1].info["keys"], rules
    finally:
        grace_codebook.Codebook.update = real
        for h in reversed(handles):
            h.restore()


def check_grace_labels(n_facts: int) -> None:
    for world, hparams, settings in (("world:small", {}, "default settings"),
                                     ("world:medium", str(ROOT / "configs/lifelong/grace.yaml"),
                                      "configs/lifelong/grace.yaml")):
        lm = load_model(world)
        edits = paraphrase_pairs(world, n_facts)
        for rule, easyedit in (("polyedit (target string)", False), ("EasyEdit (mean of the label tensor)", True)):
            entries, rules = grace_entries(lm, edits, hparams, easyedit)
            print(f"grace label identity, {world}, {n_facts} facts each edited by prompt then paraphrase "
                  f"({len(edits)} sequential edits, {settings}), {rule}: {entries} codebook entries, rules {rules}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--grace-facts", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for check, given in ((check_last_positions, args.cases), (check_grace_labels, args.grace_facts)):
        t0 = time.perf_counter()
        check(given)
        print(f"  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
