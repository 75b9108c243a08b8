"""UltraEdit: polyedit's method against the authors' update rule, re-derived from reading their code
(XiaojieGu/UltraEdit `editor/ultraedit.py`, `nets.py` `RunningMeanStd`, `util.py` `Tracer`; the same in
zjunlp/EasyEdit's `ULTRAEDIT.py`), on the same model and the same edits.

    python benchmarks/ultraedit_crosscheck.py [--model world:small] [--steps 3] [--batch 4]

A sequence of `--steps` batches of `--batch` edits. Before each batch the reference side captures, with its
own hooks (a forward hook on each edited module's input and a full backward hook on its output gradient at the
answer positions, loss = cross-entropy averaged over every answer token), the keys and gradients, feeds its own
float32 running statistics (kept across the sequence, one per module shape, every module's rows before any
update) and computes each module's shift as the reference does. Then polyedit's `ultraedit` edits the batch and
the weight change it made is compared with the reference's shift: the largest relative difference
‖ΔW_polyedit − ΔW_reference‖ / ‖ΔW_reference‖ over every module and step is printed (float32 reference vs
polyedit's float64 statistics and solve, committed to float32 weights; `--reference-dtype float64` runs the
reference's arithmetic in float64 to show how much of the difference is float32 rounding).
"""

from __future__ import annotations

import argparse

import torch

from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.methods.objectives import edit_batch
from polyedit.models.arch import weight_out_in
from polyedit.models.load import load_model


EPS = torch.finfo(torch.float32).eps  # the reference's ε: finfo of its rows' dtype, always float32 there


class ReferenceRunningMeanStd:
    """The reference's normaliser, float32, as its buffers n, mean, var (an accumulated sum) and std."""

    def __init__(self, size: int, dtype: torch.dtype = torch.float32) -> None:
        self.n = torch.zeros(1, dtype=dtype)
        self.mean, self.var, self.std = (torch.zeros(size, dtype=dtype) for _ in range(3))

    def update(self, x: torch.Tensor) -> None:
        n = self.n + x.shape[0]
        delta = x.mean(0) - self.mean
        self.mean = self.mean + x.shape[0] * delta / n
        self.var = self.var + x.shape[0] * x.var(0) + self.n * x.shape[0] * delta.pow(2) / n
        self.std = (self.var / (n - 1 + EPS)).sqrt()
        self.n = n

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / (self.std + EPS)


def reference_capture(model, modules: list[str], input_ids, attention_mask, labels):
    """Keys (module inputs) and output gradients at labels != -100, one backward of the token-mean CE."""
    keys, grads, hooks = {}, {}, []
    mask = labels != -100
    for name in modules:
        m = model.get_submodule(name)
        hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: keys.__setitem__(n, i[0][mask].detach())))
        hooks.append(m.register_full_backward_hook(
            lambda mod, gi, go, n=name: grads.__setitem__(n, go[0][mask].detach())))
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(True)
    try:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        torch.nn.functional.cross_entropy(logits[mask], labels[mask]).backward()
    finally:
        for h in hooks:
            h.remove()
        for p, f in flags.items():
            p.requires_grad_(f)
            p.grad = None
    return keys, grads


def reference_shift(keys: torch.Tensor, grads: torch.Tensor, normaliser: ReferenceRunningMeanStd,
                    lr: float) -> torch.Tensor:
    """`predict_param_shifts` for one module: (d_in, d_out) shift, float32."""
    d_in = keys.shape[1]
    z = normaliser(torch.cat((keys, grads), -1))
    k_hat, g_hat = z.split([d_in, grads.shape[1]], -1)
    v = -lr * (k_hat * k_hat).sum(-1).unsqueeze(-1) * g_hat
    mat = keys.T @ keys + torch.eye(d_in, dtype=keys.dtype)
    return torch.linalg.solve(mat, keys.T @ v)


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reference-dtype", choices=["float32", "float64"], default="float32",
                    help="the reference computes in float32; float64 shows what of the difference is its rounding")
    args = ap.parse_args(argv)
    dtype = getattr(torch, args.reference_dtype)
    lm = load_model(args.model)
    cases = load_dataset("world:small").cases[:args.steps * args.batch]
    method = get_method("ultraedit", {}, lm)
    hp = method.resolved(lm)
    modules = [n.removesuffix(".weight") for n in lm.arch.mlp_out_weights(hp.layers)]
    normalisers: dict[tuple, ReferenceRunningMeanStd] = {}
    worst, handles = 0.0, []
    for step in range(args.steps):
        chunk = cases[step * args.batch:(step + 1) * args.batch]
        b = edit_batch(lm, [c.edit for c in chunk])
        labels = torch.where(b.target_mask, b.next_ids, torch.full_like(b.next_ids, -100))
        keys, grads = reference_capture(lm.model, modules, b.input_ids, b.attention_mask, labels)
        shapes = {}
        for name in modules:  # every module's rows first, as the reference's `cache`
            shapes[name] = (keys[name].shape[1], grads[name].shape[1])
            normalisers.setdefault(shapes[name], ReferenceRunningMeanStd(sum(shapes[name]), dtype))
            normalisers[shapes[name]].update(torch.cat((keys[name].to(dtype), grads[name].to(dtype)), -1))
        ref = {n: reference_shift(keys[n].to(dtype), grads[n].to(dtype), normalisers[shapes[n]], hp.lr).T
               for n in modules}
        before = {n: weight_out_in(lm.model.get_submodule(n)).detach().double().clone() for n in modules}
        handles.append(method.apply_cases(lm, chunk))
        for n in modules:
            ours = weight_out_in(lm.model.get_submodule(n)).detach().double() - before[n]
            rel = float((ours - ref[n].double()).norm() / ref[n].double().norm())
            worst = max(worst, rel)
            print(f"step {step} {n}: |ΔW| {float(ref[n].norm()):.4g}, relative difference {rel:.2e}")
    for h in reversed(handles):
        h.restore()
    print(f"largest relative difference, polyedit vs reference rule: {worst:.2e}")
    return worst


if __name__ == "__main__":
    main()
