"""Find a causal LM's parts from its structure, never from its name.

The evidence, in order: the config (`hidden_size`, `intermediate_size` and its other spellings, read from the
text config of a multimodal model), the named submodules (attention lives in a submodule called *attn* or
*attention*, by attribute or class; experts are a 3-d parameter or a list of identical MLPs), and shapes as
confirmation. Found per block: the MLP input projection (hidden -> intermediate; the gate in gated MLPs, or the
gate's rows of a fused `gate_up_proj`), its output projection (intermediate -> hidden), whether a norm sits
between the MLP's output and the residual add (post-/sandwich-norm blocks), and mixture-of-experts layers, which
the methods that write one dense projection refuse in one line (`PerLayer`). Also the input embeddings and the
final norm. GPT-2's Conv1D stores weights as (in, out); `weight_out_in` hides that.

`modules` overrides the MLP location: {"mlp_out": "model.layers.{layer}.mlp.down_proj", "mlp_in": ...}.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from polyedit.errors import PolyeditError

try:  # transformers' Conv1D: a Linear with a transposed weight (GPT-2 family)
    from transformers.pytorch_utils import Conv1D
except ImportError:  # pragma: no cover
    Conv1D = ()

#: config fields that name the MLP width, by family spelling (GPT-2 `n_inner`, XGLM `ffn_dim`, Falcon ...)
WIDTH_FIELDS = ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size")
#: config fields that name the number of routed experts
EXPERT_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
OVERRIDE_KEYS = ("mlp_in", "mlp_out")
log = logging.getLogger(__name__)


def modules_from_text(value: str) -> dict[str, str] | None:
    """`mlp_out=NAME[,mlp_in=NAME]` (as `--modules` gives it) as a mapping; None when it is not that form."""
    out = {}
    for item in value.split(","):
        key, sep, name = item.strip().partition("=")
        if not sep or key not in OVERRIDE_KEYS or not name.strip():
            return None
        out[key] = name.strip()
    return out


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


@dataclass(frozen=True)
class MixtureOfExperts:
    """A block's mixture-of-experts layer: where it is, its routed experts, its shared expert if any."""

    layer: int
    module: str
    experts: str
    n_experts: int
    down_params: tuple[str, ...]  # the experts' output projections (a fused 3-d parameter, or one per expert)
    shared: str | None = None
    shared_down: str | None = None

    def refusal(self) -> str:
        shared = f", a shared expert {self.shared}" if self.shared else ""
        return (f"layer {self.layer}'s MLP {self.module} is a mixture of {self.n_experts} experts ({self.experts}"
                f"{shared}): this method writes one dense MLP projection and does not edit experts "
                f"(ft-l, ft-m and the in-context methods do)")


class PerLayer:
    """One module name per block; a mixture-of-experts block has none, and reading it refuses in one line."""

    def __init__(self, names: list[str | None], moe: dict[int, MixtureOfExperts]) -> None:
        self._names, self._moe = list(names), moe

    def __getitem__(self, layer: int) -> str | None:
        if layer in self._moe or (layer < 0 and layer + len(self._names) in self._moe):
            raise PolyeditError(self._moe[layer % len(self._names)].refusal())
        return self._names[layer]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self):
        return (self[i] for i in range(len(self._names)))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)


@dataclass
class Architecture:
    blocks_path: str
    n_layers: int
    hidden_size: int
    intermediate_size: int
    mlp_in: PerLayer  # per block: module whose output (its `gate_rows`) is the neuron pre-activation
    mlp_up: PerLayer  # per block: the multiplicative up-projection of gated MLPs (the fused module too), else None
    mlp_out: PerLayer  # per block: intermediate -> hidden projection (down_proj, c_proj, dense_4h_to_h)
    embeddings: str
    final_norm: str
    lm_head: str | None
    gate_rows: list[slice] = field(default_factory=list)  # rows of mlp_in's output that are the neurons
    post_norm: list[str | None] = field(default_factory=list)  # norm between the MLP output and the residual
    moe: dict[int, MixtureOfExperts] = field(default_factory=dict)

    def block(self, layer: int) -> str:
        return f"{self.blocks_path}.{layer}"

    def mlp_out_weights(self, layers: list[int], experts: bool = False) -> list[str]:
        """Parameter names of the MLP output projections of `layers`: what the weight editors change. With
        `experts`, a mixture-of-experts layer gives every routed expert's output projection and the shared
        expert's (fine-tuning reaches only those the router selects); without, it refuses."""
        names = []
        for layer in layers:
            moe = self.moe.get(layer)
            if moe is not None and experts:
                names += list(moe.down_params) + ([f"{moe.shared_down}.weight"] if moe.shared_down else [])
            else:
                names.append(f"{self.mlp_out[layer]}.weight")
        return names

    def experts_note(self, layers: list[int]) -> dict:
        """What `mlp_out_weights(layers, experts=True)` chose in mixture-of-experts layers, for the record."""
        moe = [self.moe[l] for l in layers if l in self.moe]
        if not moe:
            return {}
        return {"experts": {str(m.layer): {"module": m.module, "n_experts": m.n_experts, "shared": m.shared,
                                           "edited": "every routed expert's output projection"
                                           + (" and the shared expert's" if m.shared else "")
                                           + "; a gradient reaches only the experts the router selects"}
                            for m in moe}}

    def neurons(self, layer: int, output: torch.Tensor) -> torch.Tensor:
        """The neuron pre-activations within `mlp_in`'s output (the gate's rows of a fused projection)."""
        rows = self.gate_rows[layer] if self.gate_rows else slice(None)
        return output[..., rows]


def _module_name(model: nn.Module, target: nn.Module) -> str:
    for name, mod in model.named_modules():
        if mod is target:
            return name
    raise PolyeditError("module not found in model")


def text_config(model: nn.Module):
    """The language model's config (a multimodal model keeps it in `text_config`)."""
    config = getattr(model, "config", None)
    getter = getattr(config, "get_text_config", None)
    return getter() if callable(getter) else config


def _config_int(config, fields: tuple[str, ...]) -> int | None:
    for f in fields:
        v = getattr(config, f, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _find_blocks(model: nn.Module, hidden: int) -> tuple[str, nn.ModuleList]:
    """The ModuleList of `num_hidden_layers` identical blocks holding projections from the hidden size (a
    multimodal model's vision tower may have as many layers, at another width), the largest such."""
    n = getattr(text_config(model), "num_hidden_layers", None)
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) > 0 and len({type(m) for m in mod}) == 1:
            if n is not None and len(mod) != n:
                continue
            if not any((projection_dims(m) or (0,))[0] == hidden for m in mod[0].modules()):
                continue
            size = sum(p.numel() for p in mod.parameters())
            if best is None or size > best[2]:
                best = (name, mod, size)
    if best is None:
        raise PolyeditError(f"cannot find the transformer blocks of {type(model).__name__}")
    return best[0], best[1]


def _is_attention(name: str, module: nn.Module) -> bool:
    words = (name.rpartition(".")[2] + " " + type(module).__name__).lower()
    return "attn" in words or "attention" in words


def _outside_attention(block: nn.Module) -> dict[str, nn.Module]:
    """The block's submodules that are not inside an attention submodule."""
    inside: list[str] = []
    kept = {}
    for name, mod in block.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if name and _is_attention(name, mod):
            inside.append(name)
            continue
        kept[name] = mod
    return kept


def _find_moe(layer: int, prefix: str, modules: dict[str, nn.Module], hidden: int,
              n_experts: int | None) -> MixtureOfExperts | None:
    """Experts: a module with a 3-d parameter (transformers 5 fuses each expert's projections as one (experts,
    out, in) tensor; the output projection is the one mapping to the hidden size), or, in older layouts, a
    ModuleList of as many identical MLPs as the config's expert count (`n_experts`)."""
    for name, mod in modules.items():
        fused = {n: p for n, p in mod.named_parameters(recurse=False) if p.dim() == 3}
        listed = isinstance(mod, nn.ModuleList) and len(mod) == n_experts and len({type(m) for m in mod}) == 1 \
            and any(projection_dims(m) for m in mod[0].modules())
        if not fused and not listed:
            continue
        parent = name.rpartition(".")[0]
        if fused:
            downs = [n for n, p in fused.items() if p.shape[1] == hidden and p.shape[2] != hidden] or list(fused)
            n_exp, down_params = next(iter(fused.values())).shape[0], [f"{prefix}{name}.{d}" for d in downs]
        else:
            n_exp = len(mod)
            down_params = [f"{prefix}{name}.{i}.{_dense_mlp(m, hidden)[1]}.weight" for i, m in enumerate(mod)]
        shared = [n for n, m in modules.items() if n.startswith(parent + ".") and n != name
                  and not n.startswith(name + ".") and n.count(".") == parent.count(".") + 1
                  and sum(1 for x in m.modules() if projection_dims(x)) >= 2]
        shared_down = None
        if shared:
            shared_down = f"{prefix}{shared[0]}.{_dense_mlp(modules[shared[0]], hidden)[1]}"
        return MixtureOfExperts(layer, prefix + parent, prefix + name, n_exp, tuple(down_params),
                                prefix + shared[0] if shared else None, shared_down)
    return None


def _dense_mlp(mlp: nn.Module, hidden: int) -> tuple[str, str]:
    """(input, output) projection names of a small dense MLP (an expert): the one mapping to `hidden` is the
    output."""
    projs = {n: projection_dims(m) for n, m in mlp.named_modules() if projection_dims(m)}
    outs = [n for n, (fi, fo) in projs.items() if fo == hidden and fi != hidden]
    ins = [n for n, (fi, fo) in projs.items() if fi == hidden and fo != hidden]
    return (ins[0] if ins else ""), (outs[0] if outs else "")


def _gate_or_up(mlp: nn.Module, a: nn.Module, b: nn.Module, hidden: int) -> tuple[nn.Module, nn.Module]:
    """Tell a gated MLP's gate from its up-projection by behaviour: pushing the gate far negative shuts the
    activation (SiLU/GELU of -inf is 0), pushing `up` far negative only scales the output up."""
    first = _shut_magnitude(mlp, a, slice(None), hidden)
    return (a, b) if first < _shut_magnitude(mlp, b, slice(None), hidden) else (b, a)


def _shut_magnitude(mlp: nn.Module, proj: nn.Module, rows: slice, hidden: int) -> float:
    """|MLP output| when `rows` of `proj`'s output are pushed far negative (see `_gate_or_up`)."""
    p = next(mlp.parameters())
    x = torch.randn(2, 3, hidden, generator=torch.Generator().manual_seed(0)).to(p.device, p.dtype)

    def push(m, i, o):
        o = o.clone()
        o[..., rows] = -1e4 * o[..., rows].abs()
        return o

    h = proj.register_forward_hook(push)
    try:
        with torch.no_grad():
            out = mlp(x)
        return (out[0] if isinstance(out, tuple) else out).abs().mean().item()
    finally:
        h.remove()


@dataclass
class _DenseMLP:
    gate: str
    up: str | None
    out: str
    d_ff: int
    gate_rows: slice


def _locate_mlp(i: int, block: nn.Module, modules: dict[str, nn.Module], hidden: int,
                width: int | None) -> _DenseMLP:
    projs = {n: projection_dims(m) for n, m in modules.items() if projection_dims(m)}
    outs = [n for n, (fi, fo) in projs.items() if fo == hidden and (fi != hidden or fi == width)]
    if width is not None and len(outs) > 1:  # the config's width confirms which
        outs = [n for n in outs if projs[n][0] == width] or outs
    if len(outs) != 1:
        raise PolyeditError(f"block {i}: expected one MLP output projection (d_ff -> {hidden}) outside the "
                            f"attention, found {outs}; name it with --modules mlp_out=...")
    return _inputs_beside(i, block, outs[0], projs, hidden)


def _inputs_beside(i: int, block: nn.Module, out: str, projs: dict, hidden: int) -> _DenseMLP:
    d_ff = projs[out][0]
    parent = out.rpartition(".")[0]
    sib = [n for n, (fi, fo) in projs.items() if fi == hidden and n != out and n.rpartition(".")[0] == parent]
    ins = [n for n in sib if projs[n][1] == d_ff]
    fused = [n for n in sib if projs[n][1] == 2 * d_ff]
    mlp = block.get_submodule(parent) if parent else block
    if len(ins) == 1:
        return _DenseMLP(ins[0], None, out, d_ff, slice(None))
    if len(ins) == 2:
        a, b = (block.get_submodule(n) for n in ins)
        g, _ = _gate_or_up(mlp, a, b, hidden)
        gate = ins[0] if g is a else ins[1]
        return _DenseMLP(gate, ins[1] if gate == ins[0] else ins[0], out, d_ff, slice(None))
    if len(fused) == 1:  # gate and up in one projection (Phi-3's gate_up_proj): which half gates, by behaviour
        proj = block.get_submodule(fused[0])
        first, second = slice(0, d_ff), slice(d_ff, 2 * d_ff)
        gate = first if _shut_magnitude(mlp, proj, first, hidden) < _shut_magnitude(mlp, proj, second, hidden) \
            else second
        return _DenseMLP(fused[0], fused[0], out, d_ff, gate)
    raise PolyeditError(f"block {i}: cannot find the MLP input projection beside {out} (found {ins or sib}); "
                        f"name it with --modules mlp_in=...")


def _override(i: int, block: nn.Module, prefix: str, modules: dict[str, str], hidden: int) -> _DenseMLP:
    names = {k: modules[k].format(layer=i) for k in OVERRIDE_KEYS if k in modules}
    local = {}
    for key, full in names.items():
        if not full.startswith(prefix):
            raise PolyeditError(f"--modules {key}={modules[key]}: {full} is not inside block {i} ({prefix[:-1]})")
        local[key] = full[len(prefix):]
        try:
            dims = projection_dims(block.get_submodule(local[key]))
        except AttributeError:
            dims = None
        if dims is None:
            raise PolyeditError(f"--modules {key}={modules[key]}: {full} is not a Linear projection of the model")
    projs = {n: projection_dims(m) for n, m in block.named_modules() if projection_dims(m)}
    if "mlp_out" not in local:
        raise PolyeditError("--modules: name the MLP output projection (mlp_out=...)")
    if projs[local["mlp_out"]][1] != hidden:
        raise PolyeditError(f"--modules mlp_out={modules['mlp_out']}: maps to {projs[local['mlp_out']][1]}, "
                            f"not to the hidden size {hidden}")
    if "mlp_in" not in local:
        return _inputs_beside(i, block, local["mlp_out"], projs, hidden)
    fi, fo = projs[local["mlp_in"]]
    d_ff = projs[local["mlp_out"]][0]
    if fi != hidden or fo not in (d_ff, 2 * d_ff):
        raise PolyeditError(f"--modules mlp_in={modules['mlp_in']}: maps {fi} -> {fo}, expected {hidden} -> {d_ff}")
    return _DenseMLP(local["mlp_in"], None, local["mlp_out"], d_ff, slice(0, d_ff) if fo != d_ff else slice(None))


def _post_norms(model: nn.Module, blocks_path: str, blocks: nn.ModuleList, mlp_outputs: dict[int, str]
                ) -> list[str | None]:
    """Per block, the norm that takes the MLP's output as its input (OLMo-2, Gemma-2/3: normalised before the
    residual add), found by running the model once on two tokens and comparing tensors."""
    seen: dict[int, torch.Tensor] = {}
    found: list[str | None] = [None] * len(blocks)
    handles = []
    for i, name in mlp_outputs.items():
        mod = model.get_submodule(name)
        handles.append(mod.register_forward_hook(
            lambda m, a, o, i=i: seen.__setitem__(i, o[0] if isinstance(o, tuple) else o)))
        for child_name, child in blocks[i].named_children():
            if "norm" in type(child).__name__.lower() or "norm" in child_name.lower():
                def check(m, args, i=i, n=child_name):
                    x = seen.get(i)
                    if x is not None and args and torch.is_tensor(args[0]) and (args[0] is x or (
                            args[0].shape == x.shape and torch.equal(args[0], x))):
                        found[i] = f"{blocks_path}.{i}.{n}"
                handles.append(child.register_forward_pre_hook(check))
    try:
        emb = model.get_input_embeddings()
        ids = torch.tensor([[0, min(1, emb.weight.shape[0] - 1)]], device=emb.weight.device)
        with torch.no_grad():
            model(input_ids=ids)
    except Exception as e:  # a model that cannot run here (a layer on the meta device): no evidence, said so
        log.warning("cannot run %s to look for post-MLP norms (%s): taken as pre-norm", type(model).__name__,
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
    finally:
        for h in handles:
            h.remove()
    return found


def find_architecture(model: nn.Module, modules: dict[str, str] | None = None) -> Architecture:
    """The model's parts (module docstring); `modules` names the MLP projections instead (`_override`)."""
    emb = model.get_input_embeddings()
    hidden = emb.weight.shape[1]
    config = text_config(model)
    width = _config_int(config, WIDTH_FIELDS)
    blocks_path, blocks = _find_blocks(model, hidden)
    mlps: dict[int, _DenseMLP] = {}
    moe: dict[int, MixtureOfExperts] = {}
    for i, block in enumerate(blocks):
        prefix = f"{blocks_path}.{i}."
        if modules:
            mlps[i] = _override(i, block, prefix, modules, hidden)
            continue
        kept = _outside_attention(block)
        found = _find_moe(i, prefix, kept, hidden, _config_int(config, EXPERT_FIELDS))
        if found is not None:
            moe[i] = found
        else:
            mlps[i] = _locate_mlp(i, block, kept, hidden, width)
    inter = next(iter(mlps.values())).d_ff if mlps else _config_int(config, ("moe_intermediate_size",)) or width or 0

    def per_layer(part: str) -> PerLayer:
        names = [getattr(mlps[i], part) if i in mlps else None for i in range(len(blocks))]
        return PerLayer([f"{blocks_path}.{i}.{n}" if n else None for i, n in enumerate(names)], moe)

    mlp_out = per_layer("out")
    outputs = {i: mlp_out[i] for i in mlps} | {i: m.module for i, m in moe.items()}
    head = model.get_output_embeddings()
    return Architecture(
        blocks_path=blocks_path, n_layers=len(blocks), hidden_size=hidden, intermediate_size=inter,
        mlp_in=per_layer("gate"), mlp_up=per_layer("up"), mlp_out=mlp_out,
        embeddings=_module_name(model, emb), final_norm=_final_norm(model, blocks_path, hidden),
        lm_head=_module_name(model, head) if head is not None else None,
        gate_rows=[mlps[i].gate_rows if i in mlps else slice(None) for i in range(len(blocks))],
        post_norm=_post_norms(model, blocks_path, blocks, outputs), moe=moe,
    )


def _final_norm(model: nn.Module, blocks_path: str, hidden: int) -> str:
    """The norm registered after the blocks."""
    named = list(model.named_modules())
    last_block_pos = max(i for i, (n, _) in enumerate(named) if n.startswith(blocks_path + "."))
    norms = [n for n, m in named[last_block_pos + 1:]
             if "norm" in type(m).__name__.lower() and getattr(m, "weight", None) is not None
             and m.weight.shape[-1] == hidden]
    if not norms:
        raise PolyeditError(f"cannot find the final norm of {type(model).__name__}")
    return norms[0]
