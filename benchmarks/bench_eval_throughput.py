"""Batched evaluation throughput as a share of this machine's measured float32 matmul rate.

    python benchmarks/bench_eval_throughput.py [--cases 10] [--batch-size 32] [--threads 2]

A random 60M-parameter Llama (8 layers, 512 wide, MLP 1376, 32,000-token vocabulary) scores the probes of
`--cases` world cases (world:small's tokenizer) through the old path (output head at every position) and
the current one (head only at answer positions), in one run. Each path's rate counts the FLOPs it actually
performs: 2 x body parameters x tokens, plus 2 x d x V per position the head reads (every token before;
now the distinct answer positions, counted at the head). The reference rate is a float32 matmul of the
same shape class (tokens x d by d x 4d) timed right before. Rates are given per wall second and per CPU
second of the process (on a machine shared with other jobs the CPU-second rates, matmul and scoring alike,
are the comparable pair). Issue 15: the share must not fall below 70% (about 100% before).
"""

from __future__ import annotations

import argparse
import time

import torch


def matmul_gflops(n_rows: int, d: int, seconds: float = 2.0) -> tuple[float, float]:
    """(GFLOP per wall second, GFLOP per CPU second)."""
    a, b = torch.randn(n_rows, d), torch.randn(d, 4 * d)
    a @ b
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    flops = 2 * n_rows * d * 4 * d * n / 1e9
    return flops / (time.perf_counter() - t0), flops / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import LlamaConfig, LlamaForCausalLM

    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import LoadedModel, load_model
    from polyedit.models.tokens import encode_with_target

    tok = load_model("world:small").tokenizer
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
                      num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    lm = LoadedModel(LlamaForCausalLM(cfg).eval(), tok, "random-llama-60m")
    n_params = sum(p.numel() for p in lm.model.parameters())
    head = cfg.hidden_size * cfg.vocab_size
    body = n_params - 2 * head  # the input embedding is a lookup, not a matmul
    cases = load_dataset("world:small", limit=args.cases).cases
    protocols = ["token_accuracy", "prob_compare"]  # scoring only: the path this change touches

    # the requests the engine sends, to count tokens and answer positions
    reqs = set()
    for c in cases:
        for p in c.probes:
            reqs.add((p.prompt, p.answer))
            if p.answer_true:
                reqs.add((p.prompt, p.answer_true))
    enc = [encode_with_target(tok, *r) for r in reqs]
    tokens = sum(len(e.ids) for e in enc)
    answer_tokens = sum(len(e.target_ids) for e in enc)

    evaluate(HFBackend(lm, args.batch_size), cases[:1], protocols)  # warm-up
    rate, cpu_rate = matmul_gflops(args.batch_size * 32, cfg.hidden_size)
    print(f"random Llama, {n_params / 1e6:.1f}M parameters; {len(cases)} cases, {tokens:,} tokens scored "
          f"({answer_tokens:,} answer tokens), batch {args.batch_size}, {args.threads} threads")
    print(f"float32 matmul rate measured here: {rate:.1f} GFLOP/s, {cpu_rate:.1f} GFLOP per CPU second")
    print("| scoring path | seconds | CPU seconds | GFLOP performed | GFLOP/s | share of matmul rate "
          "| GFLOP per CPU s | share (CPU) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    head_rows = []  # rows the output head computes in each forward
    lm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: head_rows.append(o.shape[0] * o.shape[1]))
    results = {}
    for name, full in (("head at every position (before)", True), ("head at answer positions (now)", False)):
        head_rows.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        ev = evaluate(HFBackend(lm, args.batch_size, full_vocabulary=full), cases, protocols)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        flops = 2 * body * tokens + 2 * head * (tokens if full else sum(head_rows))
        results[name] = [r.metrics for r in ev.results]
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {flops / 1e9:.1f} | {flops / seconds / 1e9:.1f} | "
              f"{flops / seconds / 1e9 / rate:.0%} | {flops / cpu / 1e9:.1f} | {flops / cpu / 1e9 / cpu_rate:.0%} |")
    a, b = results.values()
    print("metrics identical" if a == b else "METRICS DIFFER")


if __name__ == "__main__":
    main()
