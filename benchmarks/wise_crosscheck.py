"""Cross-check polyedit's WISE against the reference's formulas (EasyEdit `easyeditor/models/wise/`:
`WISE.py` `euc`, `WISEAdapter.forward`, `__cal_activation_loss`; `merge/gta.py` `GTA('magnitude', 'sum',
normalize=True)` with `merge/utils.py` `magnitude`), re-derived below in plain torch from reading that code,
on the same tensors: world:small's side-memory layer, its real inputs for a few prompts, a random shard.

Prints the relative difference (max |ours − reference| / max |reference|) of the routing scores, the
margin loss and the TIES merge, and whether the routing decisions agree.

    PYTHONPATH=src python benchmarks/wise_crosscheck.py
"""

from __future__ import annotations

import torch

import polyedit as pe
from polyedit.methods.wise.losses import margin_loss
from polyedit.methods.wise.memory import activation_scores, route, row_scores, ties_merge
from polyedit.methods.wise.wise_main import WiseHParams, mlp_activation
from polyedit.models.hooks import trace

PROMPTS = ["Marusa Kaso is employed by", "The capital of the country is", "Nanoro Bemone was born in the city of",
           "Niko Rotomo earns a living as a"]


# ---- the reference, re-derived (non-retrieval WISE) ----
def ref_euc(query, key, act, act_mask=None, infer=False):
    l2 = torch.norm(act(key) - act(query), dim=-1)
    if infer and l2.size(1) > 100:
        return torch.topk(l2, k=1, largest=True).values.mean()
    if act_mask is not None:
        return torch.sum(l2 * act_mask, dim=1) / torch.sum(act_mask, dim=1)
    return torch.mean(l2, dim=-1)


def ref_route(original, merged, new, act, threshold):
    """WISEAdapter.forward for one sequence: 0 original, 1 merged layer, 2 the new weight."""
    dist2, dist1 = ref_euc(original, new, act, infer=True), ref_euc(original, merged, act, infer=True)
    if dist1.item() < threshold and dist2.item() < threshold:
        return 0
    return 1 if dist1.item() > dist2.item() else 2


def ref_activation_loss(original, new, act, alpha, beta, gamma):
    """__cal_activation_loss without masks: the last row is the out-of-scope one."""
    inside, out = ref_euc(original[:-1], new[:-1], act), ref_euc(original[-1:], new[-1:], act)
    loss, loss2, loss3 = out.view(-1, 1) - inside + gamma, out - alpha, beta - inside
    pos = (lambda t: torch.mean(t[t > 0]) if t[t > 0].numel() else torch.tensor(0.0))
    return pos(loss) + pos(loss2) + pos(loss3)


def ref_magnitude(tensor, density):
    if density >= 1:
        return tensor
    k = int(density * tensor.view(-1).shape[0])
    mask = torch.zeros_like(tensor)
    mask.view(-1)[torch.topk(tensor.abs().view(-1).float(), k=k, largest=True).indices] = 1
    return tensor * mask


def ref_ties(weights, base, tensors, density):
    deltas = torch.stack([ref_magnitude(x - base, density) for x in tensors])
    w = torch.tensor(weights, dtype=deltas.dtype)
    while len(deltas.shape) > len(w.shape):
        w.unsqueeze_(-1)
    weighted = deltas * w
    majority = (weighted.sum(dim=0) >= 0).to(base.dtype) * 2 - 1
    mask = weighted.sign().to(base.dtype) == majority
    mixed, divisor = (weighted * mask).sum(dim=0), (w * mask).sum(dim=0)
    divisor[divisor == 0] = 1
    return (base + mixed / divisor).to(base.dtype)


def rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def layer_inputs(lm, name, prompt):
    ids = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad(), trace(lm.model, name, retain_input=True, retain_output=False, detach=True) as t:
        lm.model(**ids)
    return t[name].input


def main() -> None:
    lm = pe.load_model("world:small")
    hp = WiseHParams().resolve(lm)
    name, act = lm.arch.mlp_out[hp.layer], mlp_activation(lm)
    w = lm.model.get_submodule(name).weight.detach().float()  # Linear: (d_out, d_in)
    g = torch.Generator().manual_seed(0)
    deltas = [0.05 * torch.randn(w.shape[1], w.shape[0], generator=g) * (torch.rand(w.shape[1], w.shape[0],
              generator=g) < 0.2) for _ in range(3)]  # three shards, in polyedit's x @ Δ orientation
    merged, side = deltas[0], deltas[1]

    score_ours, score_ref, outputs = [], [], []
    for prompt in PROMPTS:
        x = layer_inputs(lm, name, prompt)
        main = x @ w.T
        outputs.append((main, x @ (w + merged.T).T, x @ (w + side.T).T))  # the reference's F.linear(x, W')
        score_ours += [row_scores(activation_scores(main, main + x @ d, act), torch.ones(x.shape[:2]))
                       for d in (merged, side)]
        score_ref += [ref_euc(main, o, act, infer=True).reshape(1) for o in outputs[-1][1:]]
    ours_all, ref_all = torch.cat(score_ours), torch.cat(score_ref)
    cut = sorted(ref_all.tolist())
    thresholds = [0.5 * (a + b) for a, b in zip(cut, cut[1:])] + [cut[0] / 2, 2 * cut[-1]]
    decisions = [(route(ours_all[2 * i:2 * i + 1], ours_all[2 * i + 1:2 * i + 2], t).item(),
                  ref_route(*outputs[i], act, t)) for i in range(len(PROMPTS)) for t in thresholds]
    agree = sum(a == b for a, b in decisions)
    print(f"routing score (Δ_act, {len(PROMPTS)} prompts × 2 memories): relative difference "
          f"{rel(ours_all, ref_all):.2e}; routing decisions agree {agree}/{len(decisions)} "
          f"({len(thresholds)} thresholds)")

    xs = torch.cat([layer_inputs(lm, name, p)[:, :5] for p in PROMPTS if len(lm.tokenizer(p)["input_ids"]) >= 5])
    main, new = xs @ w.T, xs @ (w + side.T).T
    valid = torch.ones(xs.shape[:2])
    ours_in = row_scores(activation_scores(main[:-1], main[:-1] + xs[:-1] @ side, act), valid[:-1], infer=False)
    ours_out = row_scores(activation_scores(main[-1:], main[-1:] + xs[-1:] @ side, act), valid[-1:], infer=False)
    for alpha, beta, gamma in ((5.0, 20.0, 10.0), (0.1, 1.0, 0.5)):
        ours = margin_loss(ours_in, ours_out, alpha, beta, gamma)
        ref = ref_activation_loss(main, new, act, alpha, beta, gamma)
        print(f"margin loss (α={alpha}, β={beta}, γ={gamma}): ours {ours.item():.6f}, reference {ref.item():.6f}, "
              f"relative difference {rel(ours, ref):.2e}")

    for weights, density in (([1 / 3] * 3, 0.53), ([0.4 / 2, 0.4 / 2, 0.6], 0.53), ([0.5] * 3, 1.0)):
        ours = w + ties_merge(deltas, weights, density).T
        ref = ref_ties(weights, w, [w + d.T for d in deltas], density)
        print(f"TIES merge ({w.shape[0]}×{w.shape[1]}, weights {[round(x, 3) for x in weights]}, density "
              f"{density}): relative difference {rel(ours, ref):.2e}")


if __name__ == "__main__":
    main()
