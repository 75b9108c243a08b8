"""In-context editing on BMIKE-53: batched versus one-prompt-at-a-time scoring, same model, same prompts,
same run.

    python benchmarks/bench_ike_batching.py [--model world:small] [--cases 20] [--langs de,ru,ja]
    python benchmarks/bench_ike_batching.py --random-model     # no checkpoint needed

For each IKE setting (`--settings`, default zero-shot, one-shot and BMIKE-53's 8-shot mixed) the same probes
are scored three ways, each answer being 15 greedy tokens cut at the first `"` (BMIKE-53's protocol):

- the reference loop: what the authors' `icl.py` does, `model.generate` on one prompt at a time;
- polyedit's backend given one prompt at a time (its decoder stops a row at the closing `"`);
- polyedit's backend with every case's prompts pooled: batches of `--batch-size`, prompts sharing their
  demonstrations batched together with the shared prefix run once, the rest sorted by length and
  left-padded, finished rows dropped (`polyedit.models.generation`).

The script checks that all three give the same metrics on every probe and prints the times and ratios.
`--random-model` builds a randomly initialised Llama-style model (4 layers, width 128, as world:small) with
a byte-level BPE tokenizer trained on the sample itself, so the timing needs no trained checkpoint.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from polyedit.data.registry import load_dataset
from polyedit.evaluation.engine import evaluate
from polyedit.methods.base import get_method
from polyedit.models.backend import Generation, HFBackend, cut_at_stop
from polyedit.models.load import load_model

PROTOCOLS = ["bmike_em", "bmike_f1", "token_f1", "language_fidelity"]
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bmike53"


class Batched(HFBackend):
    """polyedit's batched backend, generation only: BMIKE-53's answers are scored from greedy generations
    alone, so the teacher-forced answer score the engine takes for every probe when a backend can score
    (the locality reference) is left out on both sides."""

    capabilities = frozenset({"generate"})


class ReferenceLoop(Batched):
    """The authors' loop (MultiKnow `icl.py`): `model.generate`, one prompt, 15 greedy tokens, then cut."""

    @torch.no_grad()
    def generate(self, prompts, max_new_tokens, stop=()):
        tok, model = self.tok, self.lm.model
        out = []
        for p in prompts:
            ids = torch.tensor([tok(p)["input_ids"]], device=self.lm.device)
            new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                 num_beams=1)[0, ids.shape[1]:].tolist()
            if tok.eos_token_id in new:
                new = new[:new.index(tok.eos_token_id)]
            text = tok.decode(new, skip_special_tokens=True)
            cut = cut_at_stop(text, stop)
            out.append(Generation(cut, self.tokenize(cut) if cut != text else new))
        return out


def random_model(texts: list[str], out: Path) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=128, intermediate_size=352, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                      bos_token_id=0, eos_token_id=1, pad_token_id=2)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--random-model", action="store_true", help="time a random 4-layer model instead")
    ap.add_argument("--task", default="zsre")
    ap.add_argument("--langs", default="de,ru,ja")
    ap.add_argument("--dir", default=str(DEFAULT_DATA_DIR.resolve()), help="BMIKE-53 root")
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--settings", default="zero_shot,one_shot,mixed_8")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cases = load_dataset(f"bmike53:{args.task}:langs={args.langs}:dir={args.dir}", limit=args.cases).cases
    n_probes = sum(len(c.probes) for c in cases)
    lm = None
    name = "random Llama-style (4 layers, width 128, as world:small)" if args.random_model else args.model
    print(f"model {name}; bmike53:{args.task} {args.langs}, {len(cases)} cases, {n_probes} probes; "
          f"{args.threads} CPU thread(s); CPU seconds of this process (wall seconds in brackets)\n")
    print("| IKE setting | reference loop (authors') | polyedit, one at a time | polyedit, batched "
          f"({args.batch_size}) | speed-up vs reference | vs one at a time | probes differing |")
    print("|---|---|---|---|---|---|---|")
    for setting in args.settings.split(","):
        method = get_method("ike", {"setting": setting, "pool_dir": args.dir})
        pairs = [(method.apply_cases(None, [c]), c) for c in cases]
        if lm is None:
            with tempfile.TemporaryDirectory() as tmp:
                prompts = [h.transform_prompt(p) for h, c in pairs for p in c.probes]
                lm = load_model(random_model(prompts, Path(tmp)) if args.random_model else args.model)
            evaluate(Batched(lm, args.batch_size), cases[:1], PROTOCOLS, pairs[0][0])  # warm-up

        # CPU seconds as well as wall-clock seconds: on shared cores the wall clock mostly measures the
        # neighbours, the CPU time what the work costs
        reference, t_ref = _timed(_one_by_one, ReferenceLoop(lm, 1), pairs)
        single, t_single = _timed(_one_by_one, Batched(lm, 1), pairs)  # batches of one prompt
        batched, t_batched = _timed(_pooled, Batched(lm, args.batch_size), pairs)
        differ = sum(a.metrics != b.metrics or a.metrics != c.metrics
                     for a, b, c in zip(batched, single, reference))
        print(f"| {setting} | {_fmt(t_ref)} | {_fmt(t_single)} | {_fmt(t_batched)} | "
              f"**{t_ref[0] / t_batched[0]:.1f}x** | {t_single[0] / t_batched[0]:.1f}x | {differ} of {n_probes} |")


def _fmt(t):
    return f"{t[0]:.2f} s ({t[1]:.2f})"


def _timed(fn, *args):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, (time.process_time() - c0, time.perf_counter() - w0)


def _one_by_one(backend, pairs):
    """One engine call per case, as the bench runner makes them."""
    return [r for h, c in pairs for r in evaluate(backend, [c], PROTOCOLS, h).results]


def _pooled(backend, pairs):
    """Every case's prompts in one engine call (a shared handle that rewrites each probe with its case's
    handle), so the batched backend pads and sorts all of them together."""

    class Router:
        def __init__(self):
            self.by_probe = {id(p): h for h, c in pairs for p in c.probes}

        def transform_prompt(self, probe):
            return self.by_probe[id(probe)].transform_prompt(probe)

        def stop_strings(self):
            return pairs[0][0].stop_strings()

    return evaluate(backend, [c for _, c in pairs], PROTOCOLS, Router()).results


if __name__ == "__main__":
    main()
