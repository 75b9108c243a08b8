"""An edit in the weights written as a peft LoRA adapter, which `PeftModel.from_pretrained`, vLLM
(`--enable-lora`) and `polyedit serve` load onto the unedited model.

Most editors change a few matrices by a low-rank amount: ROME by a rank-one update ΔW = u vᵀ on one
projection, MEMIT and its family by ΔW = R Kᵀ (C + K Kᵀ)⁻¹ of rank at most the number of edits on each of
several layers, LoRA by (α/r) B A. Whatever the method, the change is read from the model itself (the
edited weights minus the handle's backup of them) and factored by its SVD ΔW = U S Vᵀ into LoRA's
B = U √S and A = √S Vᵀ (α = r, so peft's scaling α/r is 1). The rank kept is the change's numerical
rank: every singular value above the weights' own float rounding (`eps × ‖W‖_F`), so a rank-one update
stays rank one and nothing it did is lost. A full-rank change (FT-L, FT-M) is written only through a
truncated SVD at a rank the caller chooses (`rank`); its relative error ‖ΔW − B A‖_F / ‖ΔW‖_F is recorded
and the adapter refused above `max_error`. A LoRA edit is its own adapter and is written as trained.

The folder holds peft's two files plus `polyedit_adapter.json`: the method, the adapter's rank, and for
each module its own rank, shape and relative error (`ADAPTER_INFO`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from polyedit.errors import PolyeditError
from polyedit.methods.base import ChainedHandle, EditHandle, check_save_target
from polyedit.models.arch import is_transposed

ADAPTER_INFO = "polyedit_adapter.json"
#: the relative error above which a truncated adapter is refused, unless the caller allows more
DEFAULT_MAX_ERROR = 1e-3


@dataclass
class Factor:
    """One module's change as B (out × r) and A (r × in), with the rank the change needs and the error kept."""

    module: str
    B: torch.Tensor
    A: torch.Tensor
    rank: int
    relative_error: float


def weight_changes(handle: EditHandle | list[EditHandle]) -> dict[str, torch.Tensor]:
    """Parameter name -> (edited − unedited) for every parameter the edits changed, read while they are in
    place. Edits applied one after another (a list, in the order applied, or a chain) are measured against
    the first backup of each parameter: the unedited weights."""
    backups: dict[str, torch.Tensor] = {}
    for h in _handles(handle):
        for name, saved in h._backup.items():
            backups.setdefault(name, saved)
    params = dict(_handles(handle)[0].lm.model.named_parameters()) if backups else {}
    changes = {n: (params[n].detach() - saved) for n, saved in backups.items()}
    return {n: d for n, d in changes.items() if bool(d.any())}


def _handles(handle: EditHandle | list[EditHandle]) -> list[EditHandle]:
    if isinstance(handle, list):
        return [x for h in handle for x in _handles(h)]
    if isinstance(handle, ChainedHandle):
        return [x for h in handle.handles for x in _handles(h)]
    return [handle]


def factor(module_name: str, module: nn.Module, delta: torch.Tensor, rank: int | None) -> Factor:
    """The change of one linear module as LoRA factors (see the module docstring for the rank chosen)."""
    d = (delta.T if is_transposed(module) else delta).double()  # (out, in), as LoRA's B A
    U, S, Vh = torch.linalg.svd(d, full_matrices=False)
    weight = module.weight.detach().double()
    floor = torch.finfo(module.weight.dtype).eps * float(torch.linalg.norm(weight))
    needed = max(1, int((S > floor).sum()))
    if rank is None and needed > min(d.shape) // 2:
        raise PolyeditError(f"the change to {module_name} has rank {needed} of at most {min(d.shape)}: it is not "
                            "low-rank; give a rank to write its truncated SVD (--adapter-rank R; the error is "
                            "recorded and checked against --adapter-max-error)")
    r = needed if rank is None else min(rank, needed)
    total = float(torch.linalg.norm(S))
    error = float(torch.linalg.norm(S[r:])) / total if total > 0 else 0.0
    root = S[:r].sqrt()
    dtype = module.weight.dtype
    return Factor(module_name, (U[:, :r] * root).to(dtype), (root[:, None] * Vh[:r]).to(dtype), needed, error)


def edit_factors(handle: EditHandle | list[EditHandle], rank: int | None = None) -> list[Factor]:
    """Every changed weight of the edits as LoRA factors; one line for an edit no LoRA adapter can carry."""
    if any(type(h).transform_prompt is not EditHandle.transform_prompt for h in _handles(handle)):
        raise PolyeditError("this edit lives in the prompt, not in the weights: there is no adapter to write")
    changes = weight_changes(handle)
    if not changes:
        raise PolyeditError("this edit changed no weight (it lives in a side memory or a hook): there is no "
                            "adapter to write")
    factors = []
    for name, delta in changes.items():
        module_name, _, leaf = name.rpartition(".")
        module = _handles(handle)[0].lm.model.get_submodule(module_name)
        if leaf != "weight" or not (isinstance(module, nn.Linear) or is_transposed(module)):
            raise PolyeditError(f"the edit changed {name} ({type(module).__name__}.{leaf}); a LoRA adapter carries "
                                "changes of linear weights only")
        factors.append(factor(module_name, module, delta, rank))
    return factors


def write_adapter(handle: EditHandle | list[EditHandle], path: str | Path, method: str, *, rank: int | None = None,
                  max_error: float = DEFAULT_MAX_ERROR, about: dict | None = None) -> Path:
    """Write the edit held by `handle` (in place now; a list: edits applied in that order, as one change) as a
    peft LoRA adapter in the new folder `path`. Refused (nothing written) when an edit is not in linear
    weights or a truncation errs above `max_error`. `about`: more to record in `polyedit_adapter.json`."""
    out = check_save_target(path)
    handles = _handles(handle)
    if len(handles) == 1 and callable(getattr(handles[0], "save_adapter", None)):  # LoRA: its own adapter, exactly
        handle = handles[0]
        config = handle.adapter_config
        info = {"rank": config.r, "relative_error": 0.0, "modules": {
            m: {"rank": config.r, "relative_error": 0.0} for m in sorted(config.target_modules)}}
        handle.save_adapter(out)
        return _write_info(out, method, info, max_error, about)
    factors = edit_factors(handle, rank)
    worst = max(f.relative_error for f in factors)
    if worst > max_error:
        f = max(factors, key=lambda f: f.relative_error)
        raise PolyeditError(f"the adapter of rank {f.A.shape[0]} misses {100 * worst:.3g}% of the change to "
                            f"{f.module} (relative Frobenius error {worst:.3g} > --adapter-max-error "
                            f"{max_error:g}); raise the rank or the bound")
    r = max(f.A.shape[0] for f in factors)
    lora_config(handles[0].lm, factors, r).save_pretrained(str(out))
    _save_tensors(out, factors, r)
    info = {"rank": r, "relative_error": worst, "modules": {
        f.module: {"rank": f.rank, "kept": f.A.shape[0], "shape": list(f.B.shape[:1]) + list(f.A.shape[1:]),
                   "relative_error": f.relative_error} for f in factors}}
    return _write_info(out, method, info, max_error, about)


def lora_config(lm, factors: list[Factor], r: int):
    """peft's config: one rank for every module (smaller factors padded with zeros, which serving engines
    without per-module ranks accept), α = r so the scaling α/r is 1, the exact module names targeted."""
    from peft import LoraConfig

    transposed = any(is_transposed(lm.model.get_submodule(f.module)) for f in factors)
    config = LoraConfig(r=r, lora_alpha=r, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                        target_modules=sorted(f.module for f in factors), fan_in_fan_out=transposed)
    config.base_model_name_or_path = getattr(lm.model.config, "_name_or_path", None) or lm.name
    return config


def _save_tensors(out: Path, factors: list[Factor], r: int) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for f in factors:
        pad = r - f.A.shape[0]
        A = torch.cat([f.A, f.A.new_zeros(pad, f.A.shape[1])]) if pad else f.A
        B = torch.cat([f.B, f.B.new_zeros(f.B.shape[0], pad)], dim=1) if pad else f.B
        tensors[f"base_model.model.{f.module}.lora_A.weight"] = A.contiguous().cpu()
        tensors[f"base_model.model.{f.module}.lora_B.weight"] = B.contiguous().cpu()
    save_file(tensors, str(out / "adapter_model.safetensors"))


def _write_info(out: Path, method: str, info: dict, max_error: float, about: dict | None) -> Path:
    record = {"method": method, **info, "max_error": max_error, **(about or {})}
    (out / ADAPTER_INFO).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def read_adapter_info(path: str | Path) -> dict:
    """What `write_adapter` recorded beside an adapter (its rank and errors)."""
    return json.loads((Path(path) / ADAPTER_INFO).read_text("utf-8"))
