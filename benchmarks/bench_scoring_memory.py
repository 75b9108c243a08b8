"""Scoring memory and time: the output head at every position (before) vs only at answer positions (now).

    python benchmarks/bench_scoring_memory.py [--vocabs 128256,151936,250880] [--cases 10] [--batch-size 32]

Random Llama models with real models' vocabularies (Llama-3: 128,256; Qwen2.5: 151,936; BLOOM: 250,880)
and a narrow body (2 layers, 256 wide, as issue 15 measured), read with `world:small`'s tokenizer, score
the probes of `--cases` world cases at `--batch-size`. Each (vocabulary, path) runs in its own process, so
peak memory is that process's alone: the growth of the peak resident set over the loaded model on CPU,
`torch.cuda.max_memory_allocated` above the model on CUDA. The two paths' metrics must be identical
(checked); the script prints both and the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time

import torch


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def random_model(vocab: int, tokenizer, device: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    from polyedit.models.load import LoadedModel

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=704, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    return LoadedModel(LlamaForCausalLM(cfg).to(device).eval(), tokenizer, f"random-llama-v{vocab}")


def worker(args) -> None:
    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import load_model

    torch.set_num_threads(args.threads)
    tok = load_model("world:small").tokenizer
    lm = random_model(args.vocab, tok, args.device)
    cases = load_dataset("world:small", limit=args.cases).cases
    backend = HFBackend(lm, args.batch_size, full_vocabulary=args.path == "before")
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        base = rss_mb()
    t0 = time.perf_counter()
    ev = evaluate(backend, cases, list(DEFAULT_PROTOCOLS))
    seconds = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**20 - base) if cuda else rss_mb() - base
    metrics = json.dumps([r.metrics for r in ev.results], sort_keys=True)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "probes": len(ev.results),
                      "metrics_sha": hashlib.sha256(metrics.encode()).hexdigest()[:16]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocabs", default="128256,151936,250880")
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--vocab", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--path", choices=["before", "after"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print(f"{args.cases} world cases, batch {args.batch_size}, random 2-layer 256-wide Llama, {args.device}, "
          f"{args.threads} threads")
    print("| vocabulary | peak MiB before | peak MiB now | memory ratio | s before | s now | time ratio | metrics |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for vocab in [int(v) for v in args.vocabs.split(",")]:
        res = {}
        for path in ("before", "after"):
            cmd = [sys.executable, __file__, "--worker", "--vocab", str(vocab), "--path", path, "--cases",
                   str(args.cases), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--device", args.device]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            res[path] = json.loads(done.stdout.strip().splitlines()[-1])
        b, a = res["before"], res["after"]
        same = "identical" if b["metrics_sha"] == a["metrics_sha"] else "DIFFERENT"
        print(f"| {vocab:,} | {b['peak_mb']:,.0f} | {a['peak_mb']:,.0f} | {b['peak_mb'] / max(a['peak_mb'], 1):.1f}x "
              f"| {b['seconds']:.2f} | {a['seconds']:.2f} | {b['seconds'] / a['seconds']:.1f}x | {same} "
              f"({a['probes']} probes) |")


if __name__ == "__main__":
    main()
