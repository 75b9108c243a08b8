"""Scoring memory and time: the output head at every position (before) vs only at answer positions (now).

    python benchmarks/bench_scoring_memory.py [--vocabs 128256,151936,250880] [--cases 10] [--batch-size 32]
                                              [--threads 1] [--protocols scored|default|NAME,NAME]

Random Llama models with real models' vocabularies (Llama-3: 128,256; Qwen2.5: 151,936; BLOOM: 250,880)
and a narrow body (2 layers, 256 wide, as issue 15 measured), read with `world:small`'s tokenizer, score
the probes of `--cases` world cases at `--batch-size`. "before" is the old implementation: the model's
full (batch, length, V) logits, their log-softmax, then the answer positions read from it
(`scoring.full_logprobs`); "now" runs the head only at the distinct answer positions
(`scoring.answer_logprobs`). Both go through the same batching and `target_scores`.

`--protocols scored` (default) runs the teacher-forced protocols, the only ones scoring serves; `default`
adds the generation protocols (polyedit's default set), whose greedy decoding is the same code in both
paths (one head row per generated token), so it adds the same seconds to both sides.

Each (vocabulary, path) runs in its own process after a one-case warm-up. Peak memory: on CPU, the growth
of the peak resident set (VmHWM, reset through /proc/self/clear_refs after the warm-up) over the resident
set at that point; on CUDA, `torch.cuda.max_memory_allocated` above the allocated memory. Time: wall
seconds and the process's CPU seconds (on a shared machine the CPU seconds are the steadier figure). The
two paths' metrics must be identical (checked: a hash of every probe's metrics).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

SCORED = ("token_accuracy", "prob_compare", "locality")


class PeakMemory:
    """Growth of the peak resident set from `start()` (Linux: VmHWM reset; elsewhere: ru_maxrss, which
    cannot be reset, so earlier peaks may hide part of the growth)."""

    STATUS = Path("/proc/self/status")

    def _field(self, name: str) -> float:
        return int(re.search(rf"{name}:\s+(\d+)", self.STATUS.read_text()).group(1)) / 1024  # KiB -> MiB

    def start(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident set size
            self.base, self.reset = self._field("VmRSS"), True
        except OSError:
            self.base, self.reset = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, False

    def growth(self) -> float:
        peak = self._field("VmHWM") if self.reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak - self.base


def random_model(vocab: int, tokenizer, device: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    from polyedit.models.load import LoadedModel

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=704, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    return LoadedModel(LlamaForCausalLM(cfg).to(device).eval(), tokenizer, f"random-llama-v{vocab}")


def protocol_list(spec: str) -> list[str]:
    from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS

    return list(SCORED if spec == "scored" else DEFAULT_PROTOCOLS if spec == "default" else spec.split(","))


def worker(args) -> None:
    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import load_model
    from polyedit.models.tokens import encode_with_target

    torch.set_num_threads(args.threads)
    tok = load_model("world:small").tokenizer
    lm = random_model(args.vocab, tok, args.device)
    cases = load_dataset("world:small", limit=args.cases).cases
    protocols = protocol_list(args.protocols)
    backend = HFBackend(lm, args.batch_size, full_vocabulary=args.path == "before")
    evaluate(backend, cases[:1], protocols)  # warm-up: thread pools, first-call allocations
    seen = []
    score = backend.score
    backend.score = lambda reqs: seen.extend(reqs) or score(reqs)
    cuda = args.device.startswith("cuda")
    mem = PeakMemory()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        mem.start()
    t0, c0 = time.perf_counter(), time.process_time()
    ev = evaluate(backend, cases, protocols)
    if cuda:
        torch.cuda.synchronize()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = (torch.cuda.max_memory_allocated() / 2**20 - base) if cuda else mem.growth()
    metrics = json.dumps([r.metrics for r in ev.results], sort_keys=True)
    enc = [encode_with_target(tok, c, t) for c, t in seen]
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak, "probes": len(ev.results),
                      "requests": len(seen), "tokens": sum(len(e.ids) for e in enc),
                      "answer_tokens": sum(len(e.target_ids) for e in enc),
                      "metrics_sha": hashlib.sha256(metrics.encode()).hexdigest()[:16]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocabs", default="128256,151936,250880")
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--protocols", default="scored", help="scored (teacher-forced), default (with generation), "
                                                          "or protocol names")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--vocab", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--path", choices=["before", "after"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print(f"{args.cases} world cases, protocols {','.join(protocol_list(args.protocols))}, batch {args.batch_size}, "
          f"random 2-layer 256-wide Llama, {args.device}, {args.threads} thread(s)")
    print("| vocabulary | peak MiB before | peak MiB now | memory ratio | s before | s now | time ratio "
          "| CPU s before | CPU s now | CPU ratio | metrics |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for vocab in [int(v) for v in args.vocabs.split(",")]:
        res = {}
        for path in ("before", "after"):
            cmd = [sys.executable, __file__, "--worker", "--vocab", str(vocab), "--path", path, "--cases",
                   str(args.cases), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--device", args.device, "--protocols", args.protocols]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            res[path] = json.loads(done.stdout.strip().splitlines()[-1])
        b, a = res["before"], res["after"]
        same = "identical" if b["metrics_sha"] == a["metrics_sha"] else "DIFFERENT"
        print(f"| {vocab:,} | {b['peak_mb']:,.0f} | {a['peak_mb']:,.0f} | {b['peak_mb'] / max(a['peak_mb'], 1):.1f}x "
              f"| {b['seconds']:.2f} | {a['seconds']:.2f} | {b['seconds'] / a['seconds']:.1f}x "
              f"| {b['cpu_seconds']:.2f} | {a['cpu_seconds']:.2f} | {b['cpu_seconds'] / a['cpu_seconds']:.1f}x "
              f"| {same} ({a['probes']} probes; {a['requests']} scored requests, {a['tokens']:,} tokens, "
              f"{a['answer_tokens']:,} answer tokens) |")


if __name__ == "__main__":
    main()
