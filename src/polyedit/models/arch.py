"""Find a causal LM's parts by looking at its modules and shapes, never at its name.

Found: the transformer blocks (the ModuleList of `num_hidden_layers` identical modules), each block's MLP
input projection (hidden -> intermediate; the gate in gated MLPs), its output projection
(intermediate -> hidden), the input embeddings and the final norm (the norm registered after the blocks).
GPT-2's Conv1D stores weights as (in, out); `weight_out_in` hides that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from polyedit.errors import PolyeditError

try:  # transformers' Conv1D: a Linear with a transposed weight (GPT-2 family)
    from transformers.pytorch_utils import Conv1D
except ImportError:  # pragma: no cover
    Conv1D = ()


def projection_dims(module: nn.Module) -> tuple[int, int] | None:
    """(in_features, out_features) of a Linear or Conv1D, else None."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if Conv1D and isinstance(module, Conv1D):
        return module.weight.shape[0], module.weight.shape[1]
    return None


def is_transposed(module: nn.Module) -> bool:
    return bool(Conv1D) and isinstance(module, Conv1D)


def weight_out_in(module: nn.Module) -> torch.Tensor:
    """The weight as a (out_features, in_features) view, whatever the module's storage orientation."""
    return module.weight.T if is_transposed(module) else module.weight


@dataclass
class Architecture:
    blocks_path: str
    n_layers: int
    hidden_size: int
    intermediate_size: int
    mlp_in: list[str]  # per block: module whose output is the neuron pre-activation (gate_proj, c_fc, ...)
    mlp_up: list[str | None]  # per block: the multiplicative up-projection of gated MLPs, else None
    mlp_out: list[str]  # per block: intermediate -> hidden projection (down_proj, c_proj, dense_4h_to_h)
    embeddings: str
    final_norm: str
    lm_head: str | None

    def block(self, layer: int) -> str:
        return f"{self.blocks_path}.{layer}"

    def mlp_out_weights(self, layers: list[int]) -> list[str]:
        """Parameter names of the MLP output projections of `layers`: what the weight editors change."""
        return [f"{self.mlp_out[layer]}.weight" for layer in layers]


def _module_name(model: nn.Module, target: nn.Module) -> str:
    for name, mod in model.named_modules():
        if mod is target:
            return name
    raise PolyeditError("module not found in model")


def _find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) > 0 and len({type(m) for m in mod}) == 1:
            if n is not None and len(mod) != n:
                continue
            size = sum(p.numel() for p in mod.parameters())
            if best is None or size > best[2]:
                best = (name, mod, size)
    if best is None:
        raise PolyeditError(f"cannot find the transformer blocks of {type(model).__name__}")
    return best[0], best[1]


def _gate_or_up(mlp: nn.Module, a: nn.Module, b: nn.Module, hidden: int) -> tuple[nn.Module, nn.Module]:
    """Tell a gated MLP's gate from its up-projection by behaviour: pushing the gate far negative shuts the
    activation (SiLU/GELU of -inf is 0), pushing `up` far negative only scales the output up."""
    p = next(mlp.parameters())
    x = torch.randn(2, 3, hidden, generator=torch.Generator().manual_seed(0)).to(p.device, p.dtype)

    def magnitude(candidate: nn.Module) -> float:
        h = candidate.register_forward_hook(lambda m, i, o: -1e4 * o.abs())
        try:
            with torch.no_grad():
                return mlp(x).abs().mean().item()
        finally:
            h.remove()

    return (a, b) if magnitude(a) < magnitude(b) else (b, a)


def find_architecture(model: nn.Module) -> Architecture:
    blocks_path, blocks = _find_blocks(model)
    emb = model.get_input_embeddings()
    hidden = emb.weight.shape[1]
    mlp_in, mlp_up, mlp_out = [], [], []
    inter = None
    for i, block in enumerate(blocks):
        projs = {name: projection_dims(m) for name, m in block.named_modules() if projection_dims(m)}
        outs = [n for n, (fi, fo) in projs.items() if fo == hidden and fi != hidden]
        if len(outs) != 1:
            raise PolyeditError(f"block {i}: expected one MLP output projection (d_ff -> {hidden}), found {outs}")
        out = outs[0]
        d_ff = projs[out][0]
        parent = out.rpartition(".")[0]
        ins = [n for n, (fi, fo) in projs.items() if fi == hidden and fo == d_ff and n.rpartition(".")[0] == parent]
        if len(ins) == 1:
            gate, up = ins[0], None
        elif len(ins) == 2:
            mlp = block.get_submodule(parent) if parent else block
            g, u = _gate_or_up(mlp, block.get_submodule(ins[0]), block.get_submodule(ins[1]), hidden)
            gate = ins[0] if g is block.get_submodule(ins[0]) else ins[1]
            up = ins[1] if gate == ins[0] else ins[0]
        else:
            raise PolyeditError(f"block {i}: cannot find the MLP input projection beside {out} (found {ins})")
        prefix = f"{blocks_path}.{i}."
        mlp_in.append(prefix + gate)
        mlp_up.append(prefix + up if up else None)
        mlp_out.append(prefix + out)
        inter = d_ff
    names = [n for n, _ in model.named_modules()]
    last_block_pos = max(i for i, n in enumerate(names) if n.startswith(blocks_path + "."))
    norms = [n for n, m in list(model.named_modules())[last_block_pos + 1:]
             if "norm" in type(m).__name__.lower() and getattr(m, "weight", None) is not None
             and m.weight.shape[-1] == hidden]
    if not norms:
        raise PolyeditError(f"cannot find the final norm of {type(model).__name__}")
    head = model.get_output_embeddings()
    return Architecture(
        blocks_path=blocks_path, n_layers=len(blocks), hidden_size=hidden, intermediate_size=inter,
        mlp_in=mlp_in, mlp_up=mlp_up, mlp_out=mlp_out, embeddings=_module_name(model, emb),
        final_norm=norms[0], lm_head=_module_name(model, head) if head is not None else None,
    )
