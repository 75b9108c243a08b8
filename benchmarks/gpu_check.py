"""One script for a GPU machine: a random 1B-parameter Llama-shaped model in bfloat16, batched scoring and
generation throughput, model FLOP utilisation, one ROME and one MEMIT edit (restored bit for bit), and 100
single ROME and LoRA edits on world:medium one at a time vs `--parallel-edits 64` (`bench_parallel_single.py`).

    python benchmarks/gpu_check.py                 # on a GPU: about 3-5 minutes, plus the parallel section
                                                   # (not yet timed on a GPU)
    python benchmarks/gpu_check.py --tiny          # the same steps on a tiny model on the CPU (tests run it)

Model FLOP utilisation (MFU) = FLOPs the model needs (2 x parameters x tokens, the head only where it is
read) / seconds / the device's peak. The peak is the measured bfloat16 matmul rate of this device (printed),
or `--peak-tflops` (e.g. 989 for an H100/H200 SXM's dense bf16). With two or more GPUs the ROME and MEMIT
edits run again with the layers split over two of them (`split_map`: alternate layers, ROME's layer and half
of MEMIT's on the second GPU, the inputs on the first), which checks that the editors follow each layer's
device; with one GPU that row says it was skipped (`--tiny` runs the same section with both halves on the
CPU, a dry run of the code only). The adapters section (`served_adapters`) runs a bench of world:small's
ROME edits twice: locally, and with each edit written as a LoRA adapter, loaded into vLLM at run time and
scored through it (`--edits-as-adapters`); it compares the two tables and times them. It needs the `vllm`
package and starts, on loopback,

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve src/polyedit/world/checkpoints/small \
        --served-model-name world:small --enable-lora --max-lora-rank 16 --dtype float32 --port 8765

(`--tiny` runs the same section against `polyedit serve` instead; without vllm the row says it was skipped).
Prints one Markdown table for the README.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

SHAPES = {  # TinyLlama-1.1B's shape: 1.10B parameters
    "1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
               num_key_value_heads=4, vocab_size=32000),
    "tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4000),
}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_tflops(device, dtype, n: int, seconds: float = 1.0) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    sync(device)
    return 2 * n ** 3 * k / (time.perf_counter() - t0) / 1e12


def build(shape: str, device, dtype, tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    from polyedit.models.load import LoadedModel

    torch.manual_seed(0)
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=2048, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype).eval()
    return LoadedModel(model, tok, f"random-llama-{shape}")


def timed(device, fn):
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def split_map(model, n_layers: int, devices: list) -> dict:
    """A device map of this script's Llama: embeddings (where the inputs go) on devices[0], layer i on
    devices[(i + 1) % 2] (so ROME's layer 4 of 22, and MEMIT's 3-7, alternate), the head on devices[1]."""
    placement = {f"model.{name}": devices[0] for name, _ in model.model.named_children() if name != "layers"}
    placement.update({f"model.layers.{i}": devices[(i + 1) % 2] for i in range(n_layers)})
    placement.update({name: devices[1] for name, _ in model.named_children() if name != "model"})
    return placement


def split_edits(lm, cases, corpus: str, stats_dir: str, rows: list, device, tiny: bool) -> None:
    """ROME and MEMIT with the model's layers split over two devices, where there are two."""
    if tiny:
        devices, label = ["cpu", "cpu"], " split (dry run: both halves on the CPU)"
    elif device.type == "cuda" and torch.cuda.device_count() >= 2:
        devices, label = [0, 1], " split over cuda:0 and cuda:1"
    else:
        n = torch.cuda.device_count() if device.type == "cuda" else 0
        rows.append(("rome, memit over 2 GPUs", "skipped", f"{n} GPU(s) here; the split needs at least 2"))
        return
    from accelerate import dispatch_model

    lm.model.cpu()
    dispatch_model(lm.model, split_map(lm.model, lm.arch.n_layers, devices))
    lm.meta.pop("second_moment", None)  # C read again from the cache, onto each layer's own device
    where = {str(lm.model.get_submodule(m).weight.device) for m in lm.arch.mlp_out}
    rows.append(("layer placement" + label, f"inputs on {lm.device}, MLP outputs on {', '.join(sorted(where))}", ""))
    edits(lm, cases, corpus, stats_dir, rows, device, label)


def edits(lm, cases, corpus: str, stats_dir: str, rows: list, device, label: str = "") -> None:
    """One ROME and one MEMIT edit (C from `corpus`), time and memory, restored bit for bit."""
    from polyedit.methods import get_method

    for name in ("rome", "memit"):
        params = dict(lm.model.named_parameters())
        m = get_method(name, {"stats_corpus": corpus, "stats_dir": stats_dir, "prefixes": 2})
        hp = m.resolved(lm)
        gpus = range(torch.cuda.device_count()) if device.type == "cuda" else range(0)
        for i in gpus:
            torch.cuda.reset_peak_memory_stats(i)
        before = {n: params[n].detach().clone() for n in lm.arch.mlp_out_weights(
            [hp.layer] if name == "rome" else hp.layers)}
        # C first (cached), so the edit's own time is separate from the one-off statistics
        from polyedit.methods.locate_then_edit.second_moment import second_moments

        _, t_stats = timed(device, lambda: second_moments(lm, [hp.layer] if name == "rome" else hp.layers, corpus,
                                                          hp.stats_tokens, stats_dir))
        handle, t_edit = timed(device, lambda: m.apply_cases(lm, cases[:1]))
        changed = any(not torch.equal(params[n], w) for n, w in before.items())
        handle.restore()
        restored = all(torch.equal(params[n], w) for n, w in before.items())
        peak = sum(torch.cuda.max_memory_allocated(i) for i in gpus) / 2**30 if gpus else float("nan")
        rows.append((f"{name} edit{label}", f"{t_edit:.2f} s (C of {hp.stats_tokens:,} tokens: {t_stats:.1f} s)",
                     f"peak {peak:.1f} GiB (all GPUs); changed {changed}, restored bit for bit {restored}"))
        if not (changed and restored):
            raise SystemExit(f"{name}{label}: changed={changed} restored={restored}")


def parallel_single(args, device, rows: list) -> None:
    """`bench_parallel_single.py`'s comparison on this device: single ROME and LoRA edits on world:medium's
    test split, one at a time vs `--parallel-edits` (each batch row under its own edit); identical numbers
    asked. `--tiny`: two ROME edits on world:small on the CPU (a dry run of the code)."""
    import sys

    import polyedit as pe

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_parallel_single import TOLERANCE, differences, run

    world, methods, n = ("world:small", ["rome"], 2) if args.tiny else ("world:medium", ["rome", "lora"],
                                                                          args.parallel_cases)
    lm = pe.load_model(world, device=str(device))
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            runs = [run(lm, method, f"{world}:split=test", Path(tmp, method, str(k)), n, k, args.batch_size)
                    for k in (1, args.parallel)]
            worst, over, texts = differences(*runs)
            one, par = runs
            rows.append((f"{n} single {method} edits on {world}, one at a time vs {args.parallel} in parallel",
                         f"{one['wall']:.1f} s vs {par['wall']:.1f} s wall: {one['wall'] / par['wall']:.1f}x; CPU "
                         f"{one['cpu'] / par['cpu']:.1f}x",
                         f"{'identical' if over == texts == 0 else 'DIFFERENT'} (largest metric difference "
                         f"{worst:.1e}, {over} over {TOLERANCE:g}, {texts} generated answers differ)"))
VLLM_PORT = 8765


def served_adapters(rows: list, tiny: bool, cases: int = 20) -> None:
    """ROME edits of world:small scored locally and as adapters through a server that loads them at run time:
    vLLM on a GPU, `polyedit serve` in the dry run. Appends whether the tables are equal and the two times."""
    if tiny:
        from polyedit.models.load import load_model
        from polyedit.serve import CompletionModel, serve_in_thread

        server, _ = serve_in_thread(CompletionModel(load_model("world:small"), "world:small"))
        try:
            return adapter_bench(server.url, rows, "polyedit serve (dry run)", 1)
        finally:
            server.shutdown()
            server.server_close()
    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        rows.append(("edits as adapters through vLLM", "skipped", "needs the vllm package and a GPU"))
        return
    from polyedit.world.editing_yaml import CHECKPOINTS

    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(CHECKPOINTS / "small"),
           "--served-model-name", "world:small", "--enable-lora", "--max-lora-rank", "16", "--dtype", "float32",
           "--host", "127.0.0.1", "--port", str(VLLM_PORT), "--gpu-memory-utilization", "0.3",
           "--max-model-len", "256"]
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{VLLM_PORT}"
            if not wait_for(url + "/v1/models", proc, 600):
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["(no output)"]
                rows.append(("edits as adapters through vLLM", "failed to start", tail[0][:200]))
                return
            adapter_bench(url, rows, "vLLM", cases)
        finally:
            proc.terminate()
            proc.wait(60)


def wait_for(url: str, proc, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=5)
            return True
        except OSError:
            time.sleep(2)
    return False


def adapter_bench(url: str, rows: list, server: str, cases: int) -> None:
    from polyedit import api
    from polyedit.evaluation.adapters import ServedAdapters
    from polyedit.models.load import load_model
    from polyedit.models.openai_backend import OpenAIBackend

    lm = load_model("world:small")
    settings = dict(limit=cases, langs=["en", "de"] if cases == 1 else None, progress=False,
                    hparams={"stats_corpus": "identity"})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        local = api.bench(lm, "rome", "world:small", Path(tmp) / "local", **settings)
        t_local = time.perf_counter() - t0
        backend = ServedAdapters(OpenAIBackend(url, "world:small", cache=None), "rome")
        t0 = time.perf_counter()
        remote = api.bench(lm, "rome", "world:small", Path(tmp) / "served", backend=backend, **settings)
        t_served = time.perf_counter() - t0
        tables = [[x for x in (Path(tmp) / run / "summary.md").read_text("utf-8").splitlines() if x.startswith("|")]
                  for run in ("local", "served")]
    same = tables[1][:len(tables[0])] == tables[0]
    rows.append((f"edits as adapters through {server}",
                 f"{cases} ROME edits: served {t_served:.1f} s, local {t_local:.1f} s",
                 f"headline equal {remote['mean'] == local['mean']}, whole table equal {same}; logprobs "
                 f"{backend.has_logprobs}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny model on the CPU, float32 (a dry run)")
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--parallel", type=int, default=64, help="K of the parallel single edits' section")
    ap.add_argument("--parallel-cases", type=int, default=100, help="edits per method in that section")
    args = ap.parse_args()

    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import load_model
    from polyedit.models.tokens import encode_with_target

    if args.tiny:
        device, dtype, shape, n_cases = torch.device("cpu"), torch.float32, "tiny", 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --tiny for a CPU dry run")
        device, dtype, shape, n_cases = torch.device("cuda"), torch.bfloat16, "1b", args.cases
    tok = load_model("world:small").tokenizer
    lm = build(shape, device, dtype, tok)
    n_params = sum(p.numel() for p in lm.model.parameters())
    d, vocab = SHAPES[shape]["hidden_size"], SHAPES[shape]["vocab_size"]
    body = n_params - 2 * d * vocab
    cases = load_dataset("world:small", limit=n_cases).cases
    if args.tiny:
        cases = [c.restrict(["en", "de"]) for c in cases]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = args.peak_tflops or matmul_tflops(device, dtype, 8192 if device.type == "cuda" else 256)
    rows = [("device", name, f"{torch.cuda.device_count() if device.type == 'cuda' else 0} GPU(s)"),
            ("model", f"random Llama, {n_params / 1e6:,.1f}M parameters, {str(dtype).replace('torch.', '')}", ""),
            ("peak used for MFU", f"{peak:.1f} TFLOP/s", "given" if args.peak_tflops else "measured matmul rate")]

    # scoring: every probe of the cases, token accuracy and probability comparison
    protocols = ["token_accuracy", "prob_compare"]
    backend = HFBackend(lm, args.batch_size)
    evaluate(backend, cases[:2], protocols)  # warm-up
    reqs = {(p.prompt, a) for c in cases for p in c.probes for a in (p.answer, p.answer_true) if a}
    enc = [encode_with_target(tok, *r) for r in reqs]
    tokens, answers = sum(len(e.ids) for e in enc), sum(len(e.target_ids) for e in enc)
    _, t_score = timed(device, lambda: evaluate(backend, cases, protocols))
    flops = 2 * body * tokens + 2 * d * vocab * answers
    rows.append(("batched scoring", f"{tokens / t_score:,.0f} tokens/s ({len(reqs):,} requests, {t_score:.2f} s)",
                 f"MFU {flops / t_score / 1e12 / peak:.1%}"))

    # generation: greedy, 16 new tokens for every probe prompt (a random model never stops early)
    prompts = sorted({p.prompt for c in cases for p in c.probes})
    backend.generate(prompts[:4], 4)
    gens, t_gen = timed(device, lambda: backend.generate(prompts, 16))
    new = sum(len(g.token_ids) for g in gens)
    prompt_tokens = sum(len(tok(p)["input_ids"]) for p in prompts)
    gflops = 2 * (body + d * vocab) * (new + len(prompts)) + 2 * body * prompt_tokens
    rows.append(("batched generation", f"{new / t_gen:,.0f} new tokens/s ({len(prompts):,} prompts, {t_gen:.2f} s)",
                 f"MFU {gflops / t_gen / 1e12 / peak:.1%}"))

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"  # world sentences as the statistics corpus
        texts = [p.prompt + " " + p.answer for c in load_dataset("world:small", limit=20 if args.tiny else 200).cases
                 for p in c.probes]
        corpus.write_text("\n\n".join(texts), "utf-8")
        edits(lm, cases, str(corpus), tmp, rows, device)
        split_edits(lm, cases, str(corpus), tmp, rows, device, args.tiny)
    parallel_single(args, device, rows)
    served_adapters(rows, args.tiny)
    print("| what | figure | notes |\n|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), "utf-8")


if __name__ == "__main__":
    main()
