"""Keys k* and values v* of a fact, shared by ROME and MEMIT (Meng et al. 2022, §3.1; 2023, §4.3), computed in
the edit's own language.

- Context prefixes: short texts the model itself writes from language-appropriate seed words
  (`rank_one_prompts.json`), so k* is averaged over contexts in the language of the edit, not English.
- The lookup position is the subject's last token, found by `tokens.subject_span` (rules exact, casefold,
  fuzzy, last_token); the rule is returned so methods record it.
- v* is optimised (eq. 4 of ROME): maximise p(target_new | prefix + prompt) with a vector δ added at the
  lookup position of a chosen module's output, plus the KL term on the essence prompt (the language's
  "{} is a") that keeps what the model says about the subject itself, plus a weight decay on δ. With
  `fact_token: prompt_last` δ is added to, and the KL read at, the essence prompt's last token, as in the
  reference (`find_fact_lookup_idx` gives -1 for every prompt with `last`).
- k* averages the contexts' keys flat (ROME) or per template group (MEMIT): `mean_key`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import torch

from polyedit.data.cases import Edit
from polyedit.data.languages import join_target
from polyedit.errors import PolyeditError
from polyedit.methods.objectives import make_target_batch, target_logprobs_at, trainable
from polyedit.models.device import index_at
from polyedit.models.hooks import trace
from polyedit.models.load import LoadedModel
from polyedit.models.scoring import head_at
from polyedit.models.tokens import encode_with_target, pad_right, prompt_ids, subject_span


@lru_cache(maxsize=1)
def _prompt_table() -> dict:
    try:
        table = resources.files("polyedit.methods.locate_then_edit").joinpath("rank_one_prompts.json")
        return json.loads(table.read_text("utf-8"))
    except FileNotFoundError:  # a wheel without the data file: every language uses the default
        return {"_default": {"seeds": [], "join": " ", "essence": "{}"}}


def language_prompts(lang: str) -> tuple[dict, bool]:
    """(seeds, join, essence) for `lang`, and whether the language had its own entry."""
    table = _prompt_table()
    if lang in table:
        return table[lang], True
    return table["_default"], False


# ---------------------------------------------------------------------------------------------------- prefixes

class ContextPrefixes(dict):
    """A model's memo of generated prefixes (its slot in `lm.method_state`): (lang, n, length, seed) -> texts."""


@torch.no_grad()
def context_prefixes(lm: LoadedModel, lang: str, n: int, length: int, seed: int) -> list[str]:
    """ROME's "random prefixes": `n` continuations of `length` tokens sampled (top-5) from the model, started
    from the language's seed words. Deterministic for a seed; memoised on the model, so that every edit in a
    session (and in sequential editing) reads the same contexts. Languages without seeds get none."""
    memo = lm.method_state.of(ContextPrefixes)
    key = (lang, n, length, seed)
    if key in memo:
        return memo[key]
    spec, _ = language_prompts(lang)
    seeds = spec["seeds"]
    out: list[str] = []
    if n > 0 and length > 0 and seeds:
        tok = lm.tokenizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for i in range(n):
                ids = torch.tensor([prompt_ids(tok, seeds[i % len(seeds)])], device=lm.device)
                gen = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=5,
                                        max_new_tokens=length, min_new_tokens=length, pad_token_id=tok.pad_token_id)
                text = tok.decode(gen[0], skip_special_tokens=True)
                out.append(" ".join(text.split()))  # one line: newlines would split the context
    memo[key] = out
    return out


@dataclass
class FactContexts:
    """The edit prompt in each context: `texts[0]` is the bare prompt, then prefix + join + prompt.
    `lookup[i]`: index of the subject's last token in `texts[i]` (see `lookup_position`)."""

    edit: Edit
    texts: list[str]
    lookup: list[int]
    essence: str
    essence_lookup: int
    rule: str


def subject_last(lm: LoadedModel, text: str, subject: str) -> tuple[int, str]:
    span = subject_span(lm.tokenizer, text, subject)
    return span.last, span.rule


FACT_TOKENS = ("subject_last", "prompt_last")


def lookup_position(lm: LoadedModel, text: str, edit: Edit, fact_token: str = "subject_last") -> tuple[int, str]:
    """Where the fact is read and written (ROME's `fact_token`), and the rule that found it.

    `subject_last`: the subject's last token (the papers' choice), located by `subject_span`. If the
    subject ends the prompt and its last token merges with the target's first (no space in zh/ja/th), the
    last token before the target is used instead (rule suffixed `+before_target`), so that keys and values
    are read where the target is predicted from. `prompt_last`: the last token before the target (ROME's
    `last`), for models that recall a fact there rather than at the subject (rule `prompt_last`)."""
    n_ctx = encode_with_target(lm.tokenizer, *join_target(text, edit.target_new, edit.lang)).n_context
    if fact_token == "prompt_last":
        return n_ctx - 1, "prompt_last"
    pos, rule = subject_last(lm, text, edit.subject)
    return (pos, rule) if pos < n_ctx else (n_ctx - 1, rule + "+before_target")


def fact_contexts(lm: LoadedModel, edit: Edit, prefixes: list[str], fact_token: str = "subject_last") -> FactContexts:
    """Contexts of one edit. A prefix that itself contains the subject is dropped, so the subject found in
    the prefixed text is always the one in the prompt."""
    if fact_token not in FACT_TOKENS:
        raise PolyeditError(f"fact_token {fact_token!r}: expected one of {', '.join(FACT_TOKENS)}")
    spec, _ = language_prompts(edit.lang)
    first, rule = lookup_position(lm, edit.prompt, edit, fact_token)
    texts, lookup = [edit.prompt], [first]
    for p in prefixes:
        if edit.subject.casefold() in p.casefold():
            continue
        text = p.rstrip(" .。।۔") + spec["join"] + edit.prompt
        texts.append(text)
        lookup.append(lookup_position(lm, text, edit, fact_token)[0])
    essence = spec["essence"].replace("{}", edit.subject)
    return FactContexts(edit, texts, lookup, essence, essence_position(lm, essence, edit.subject, fact_token), rule)


def essence_position(lm: LoadedModel, essence: str, subject: str, fact_token: str) -> int:
    """Where δ is added to, and the KL term read from, the essence prompt: where the reference's
    `find_fact_lookup_idx` puts it, i.e. the subject's last token for `subject_last` and the prompt's last
    token (index -1 of "{} is a") for ROME's `last`, here `prompt_last`."""
    if fact_token == "prompt_last":
        return len(prompt_ids(lm.tokenizer, essence)) - 1
    return subject_last(lm, essence, subject)[0]


# ---------------------------------------------------------------------------------------------------- reading

@torch.no_grad()
def read_at(lm: LoadedModel, module: str, texts: list[str], positions: list[int], what: str = "input",
            batch_size: int = 32) -> torch.Tensor:
    """The input (or output) of `module` at one position of each text: shape (len(texts), dim)."""
    tok, out = lm.tokenizer, []
    for b in range(0, len(texts), batch_size):
        enc = [tok(t)["input_ids"] for t in texts[b:b + batch_size]]
        ids, mask = pad_right(enc, tok.pad_token_id)
        with trace(lm.model, module, retain_input=what == "input", retain_output=what == "output", detach=True) as t:
            lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device))
        x = t[module].input if what == "input" else t[module].output
        rows = torch.arange(len(enc), device=x.device)
        out.append(x[rows, torch.tensor(positions[b:b + batch_size], device=x.device)].float())
    return torch.cat(out)


KEY_WEIGHTINGS = ("flat", "grouped")


def context_keys(lm: LoadedModel, layer: int, contexts: list[FactContexts]) -> list[torch.Tensor]:
    """The input of layer `layer`'s MLP output projection at each context's lookup position: per fact, a
    (n_contexts, d_ff) tensor whose row 0 is the bare prompt's key k₀."""
    module = lm.arch.mlp_out[layer]
    texts = [t for c in contexts for t in c.texts]
    positions = [p for c in contexts for p in c.lookup]
    keys = read_at(lm, module, texts, positions, "input")
    return list(keys.split([len(c.texts) for c in contexts]))


def mean_key(keys: torch.Tensor, weighting: str) -> torch.Tensor:
    """k* from one fact's context keys (row 0: the bare prompt).

    `flat`: every context weighs the same, as ROME's `compute_u` averages "{}" and its prefixes.
    `grouped`: the mean within each template group, then across groups, as MEMIT's `compute_ks` does with
    its groups [["{}"], prefixes]: the bare prompt weighs 1/2 and the prefixes share the other 1/2."""
    if weighting not in KEY_WEIGHTINGS:
        raise PolyeditError(f"key weighting {weighting!r}: expected one of {', '.join(KEY_WEIGHTINGS)}")
    if weighting == "flat" or len(keys) == 1:
        return keys.mean(0)
    return (keys[0] + keys[1:].mean(0)) / 2


def subject_keys(lm: LoadedModel, layer: int, contexts: list[FactContexts], weighting: str = "flat") -> torch.Tensor:
    """k* of each fact (ROME eq. 3): the input of layer `layer`'s MLP output projection at the lookup
    position, averaged over the contexts with `weighting` (see `mean_key`). Shape (n_facts, d_ff)."""
    return torch.stack([mean_key(k, weighting) for k in context_keys(lm, layer, contexts)])


# ---------------------------------------------------------------------------------------------------- v*

@dataclass
class ValueResult:
    delta: torch.Tensor  # (n_facts, dim): δ added at the lookup position of the module's output
    v_init: torch.Tensor  # (n_facts, dim): the module's output there before the edit (bare prompt)
    loss: list[float]  # per fact, at the step it stopped
    steps: list[int]  # per fact, the step it stopped at (its last forward pass)
    early_stop_loss: float = 5e-2  # the target each fact's loss is measured against

    @property
    def converged(self) -> list[bool]:
        """Per fact: whether its loss reached the early-stop target (ROME/MEMIT's `loss < 5e-2`)."""
        return [x < self.early_stop_loss for x in self.loss]

    def take(self, i: int) -> ValueResult:
        """Fact i's result alone (what optimising it alone gives: each δ sees only its own loss)."""
        return ValueResult(self.delta[i:i + 1], self.v_init[i:i + 1], self.loss[i:i + 1], self.steps[i:i + 1],
                           self.early_stop_loss)


def _essence_batch(lm: LoadedModel, contexts: list[FactContexts]):
    tok = lm.tokenizer
    ids, mask = pad_right([tok(c.essence)["input_ids"] for c in contexts], tok.pad_token_id)
    return ids.to(lm.device), mask.to(lm.device), torch.tensor([c.essence_lookup for c in contexts], device=lm.device)


def optimise_values(lm: LoadedModel, contexts: list[FactContexts], module: str, *, chunk: int = 16,
                    **settings) -> ValueResult:
    """`optimise_facts` over groups of `chunk` facts (each δ is independent of the others; the groups bound
    the memory of a large batch: 100 MEMIT edits at once took 1.8 GB in one group on world:small)."""
    parts = [optimise_facts(lm, contexts[i:i + chunk], module, **settings) for i in range(0, len(contexts), chunk)]
    return ValueResult(torch.cat([p.delta for p in parts]), torch.cat([p.v_init for p in parts]),
                       [x for p in parts for x in p.loss], [x for p in parts for x in p.steps],
                       parts[0].early_stop_loss)


def optimise_facts(lm: LoadedModel, contexts: list[FactContexts], module: str, *, lr: float, steps: int,
                   kl_factor: float, weight_decay: float, clamp_norm_factor: float,
                   early_stop_loss: float = 5e-2, head_at_targets: bool = True) -> ValueResult:
    """δ for each fact, such that v = v_init + δ at `module`'s output makes target_new likely (ROME eq. 4):

        L(δ) = mean_contexts −log p(target_new | prefix + prompt; δ)
               + kl_factor · KL(p(· | essence; δ) ‖ p(· | essence))
               + weight_decay · ‖δ‖ / ‖v_init‖²,

    with ‖δ‖ ≤ clamp_norm_factor · ‖v_init‖ after every step. Facts are optimised together, each with its
    own δ and its own loss (summed, so each δ sees exactly its single-fact gradient), and each stops on its
    own as the reference's `compute_z` stops each request (loss below `early_stop_loss`, or the last step):
    a stopped fact's δ is frozen (Adam's momentum would still move it), so it is the δ it gets alone."""
    n = len(contexts)
    pairs = [(t, c.edit.target_new, c.edit.lang) for c in contexts for t in c.texts]
    fact_of_row = torch.tensor([i for i, c in enumerate(contexts) for _ in c.texts], device=lm.device)
    batch = make_target_batch(lm, pairs)
    lookup = torch.tensor([p for c in contexts for p in c.lookup], device=lm.device)
    e_ids, e_mask, e_lookup = _essence_batch(lm, contexts)
    rows = torch.arange(len(pairs), device=lm.device)
    e_rows = torch.arange(n, device=lm.device)
    first_row = torch.tensor([0] + [len(c.texts) for c in contexts[:-1]], device=lm.device).cumsum(0)

    with trace(lm.model, module, detach=True) as t:  # v_init: the output at the bare prompt's lookup
        with torch.no_grad():
            lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        v_init = index_at(t[module].output, rows, lookup)[first_row.to(t[module].output.device)].float()
    delta = torch.zeros(n, v_init.shape[-1], device=v_init.device, requires_grad=True)  # on the module's device
    opt = torch.optim.Adam([delta], lr=lr)

    def add_delta(where_rows, where_pos, facts):
        def edit(_name, out):
            add = torch.zeros_like(out)
            add[where_rows.to(out.device), where_pos.to(out.device)] = delta[facts.to(delta.device)].to(out.device, out.dtype)
            return out + add
        return edit

    # the loss reads the head at the target tokens and the KL prompt's lookup only: `head_at` computes the
    # logits there alone (the same logits up to a matmul's rounding over fewer rows; with
    # `head_at_targets=False` they are read from full logits)
    t_rows, t_cols = batch.target_mask.nonzero(as_tuple=True)

    def essence_logits():
        with head_at(lm.model, e_rows, e_lookup, head_at_targets) as on:
            logits = lm.model(input_ids=e_ids, attention_mask=e_mask).logits
        return logits[0] if on else index_at(logits, e_rows, e_lookup)

    with torch.no_grad():
        kl_init = torch.log_softmax(essence_logits().float(), dim=-1)
    losses = torch.full((n,), float("nan"))
    stopped_at = torch.zeros(n, dtype=torch.long)
    active = torch.ones(n, dtype=torch.bool, device=delta.device)
    with trainable(lm.model, []):
        for step in range(1, steps + 1):
            opt.zero_grad()
            with trace(lm.model, module, retain_output=False, edit_output=add_delta(rows, lookup, fact_of_row)), \
                    head_at(lm.model, t_rows, t_cols, head_at_targets) as on:
                logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            lp = target_logprobs_at(logits, batch, t_rows, t_cols, on)
            nll_rows = -lp.sum(1) / batch.target_mask.sum(1)
            nll = torch.zeros(n, device=nll_rows.device).index_add(0, fact_of_row.to(nll_rows.device), nll_rows)
            nll = (nll / torch.bincount(fact_of_row, minlength=n).to(nll.device)).to(delta.device)
            if kl_factor:
                with trace(lm.model, module, retain_output=False, edit_output=add_delta(e_rows, e_lookup, e_rows)):
                    kl_now = torch.log_softmax(essence_logits().float(), dim=-1)
                kl = (kl_now.exp() * (kl_now - kl_init)).sum(-1).to(delta.device)
            else:
                kl = torch.zeros(n, device=delta.device)
            decay = delta.norm(dim=-1) / v_init.norm(dim=-1).clamp_min(1e-8) ** 2
            per_fact = nll + kl_factor * kl + weight_decay * decay
            stop = active & ((per_fact.detach() < early_stop_loss) | (step == steps))
            losses[stop.cpu()] = per_fact.detach().cpu()[stop.cpu()]
            stopped_at[stop.cpu()] = step
            active &= ~stop
            if not bool(active.any()):
                break
            (per_fact * active).sum().backward()
            _step_active(opt, delta, active, clamp_norm_factor * v_init.norm(dim=-1, keepdim=True))
    return ValueResult(delta.detach(), v_init, losses.tolist(), stopped_at.tolist(), early_stop_loss)


def _step_active(opt: torch.optim.Optimizer, delta: torch.Tensor, active: torch.Tensor, limit: torch.Tensor) -> None:
    """One Adam step on the rows of δ still being optimised, each clamped to ‖δ‖ ≤ limit; stopped rows are
    put back as they were."""
    frozen = delta.detach().clone()
    opt.step()
    with torch.no_grad():
        norm = delta.norm(dim=-1, keepdim=True)
        delta.mul_(torch.where(norm > limit, limit / norm.clamp_min(1e-12), torch.ones_like(norm)))
        delta.copy_(torch.where(active[:, None], delta, frozen))


def language_info(contexts: list[FactContexts]) -> list[dict]:
    """What to record about the language handling of each fact, one entry per edit (a handle's
    `info["edits"]`, the same shape for one edit as for many): how its subject was found, the language of
    the prefixes and KL prompt (`xx(default)` where the language has none and the defaults stood in), and
    how many contexts it was fitted over."""
    return [{"subject_rule": c.rule,
             "prompt_language": c.edit.lang if language_prompts(c.edit.lang)[1] else f"{c.edit.lang}(default)",
             "n_contexts": len(c.texts)} for c in contexts]
