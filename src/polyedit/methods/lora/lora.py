"""LoRA editing (Hu et al. 2022) through `peft`: a low-rank adapter ΔW = (α/r) B A on chosen modules, trained on
the target tokens only (the FT-M loss), then merged into the weights so that every evaluation path sees a
plain model. The trained adapter is kept and can be saved as a standard peft adapter
(`handle.save_adapter(dir)`, or `adapter_dir` in the hyperparameters) that `PeftModel.from_pretrained` loads.

Default modules: the MLP output projections of the upper half of the layers (found by introspection, any
family). Defaults tuned on world:small (16 English edits, all failing before): lr 5e-3 × 30 steps on every
layer moved all of them but left only 55% of locality probes unchanged; lr 1e-3 on the upper half, stopped
once the target's mean NLL < 0.5: 94% moved, locality 0.95.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from polyedit.data.cases import Edit
from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle, EditMethod, HParams, check_save_target, param, register_method
from polyedit.methods.layer_choice import check_layers
from polyedit.methods.objectives import edit_batch, fit_adam, mean_target_nll
from polyedit.methods.search import int_range, layer_sets, log_range
from polyedit.models.arch import is_transposed
from polyedit.models.load import LoadedModel


class LoRAHParams(HParams):
    target_modules: list[str] | None = param(None, "full module names; default: the MLP output projections "
                                                   "of `layers`")
    layers: list[int] | None = param(None, "layers to adapt (default: the upper half)", search=layer_sets())
    rank: int = param(8, "LoRA rank r", ge=1, search=int_range(1, 32, log=True))
    alpha: float = param(32.0, "LoRA scaling alpha (the update is scaled by alpha / r)", gt=0)
    dropout: float = param(0.0, "LoRA dropout", ge=0, le=1)
    lr: float = param(1e-3, "Adam learning rate", gt=0, search=log_range(1e-4, 5e-2))
    steps: int = param(40, "at most this many Adam steps", ge=0, search=int_range(5, 100, log=True))
    early_stop_loss: float = param(0.5, "stop once the target's mean token NLL is below this (locality)", ge=0,
                                   search=log_range(1e-2, 1.0))
    adapter_dir: str | None = param(None, "also save the edit here as a peft adapter")

    def resolve(self, lm: LoadedModel) -> LoRAHParams:
        n = lm.arch.n_layers
        layers = check_layers(self.layers if self.layers is not None else range(n // 2, n), n, "lora")
        modules = self.target_modules or [lm.arch.mlp_out[layer] for layer in layers]
        known = {n for n, _ in lm.model.named_modules()}
        unknown = [m for m in modules if m not in known]
        if unknown:
            raise PolyeditError(f"lora: no module {unknown[0]!r} in {lm.name}")
        if self.rank < 1:
            raise PolyeditError("lora: rank must be at least 1")
        return self.model_copy(update=dict(layers=list(layers), target_modules=list(modules)))


class LoRAHandle(EditHandle):
    """The merged edit, restorable bit-identically, plus the adapter it came from."""

    def __init__(self, lm: LoadedModel, param_names: list[str], info: dict) -> None:
        super().__init__(lm, param_names, info)
        self.adapter_config = None
        self.adapter_state: dict[str, torch.Tensor] = {}

    def save_adapter(self, path: str | Path) -> Path:
        """Write adapter_config.json and adapter_model.safetensors (peft's standard adapter layout)."""
        from safetensors.torch import save_file

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.adapter_config.save_pretrained(str(out))
        save_file({k: v.contiguous() for k, v in self.adapter_state.items()}, str(out / "adapter_model.safetensors"))
        return out

    def save(self, path: str | Path) -> Path:
        """A LoRA edit is saved as its standard peft adapter (apply with `PeftModel.from_pretrained`)."""
        return self.save_adapter(check_save_target(path))


def train_adapter(lm: LoadedModel, edits: list[Edit], hp: LoRAHParams, handle: LoRAHandle) -> None:
    """Inject the adapter, train it with Adam on the target-token NLL, keep its weights, merge it, unload."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    modules = [lm.model.get_submodule(m) for m in hp.target_modules]
    config = LoraConfig(r=hp.rank, lora_alpha=hp.alpha, lora_dropout=hp.dropout, bias="none",
                        target_modules=list(hp.target_modules), fan_in_fan_out=is_transposed(modules[0]),
                        task_type="CAUSAL_LM")
    flags = {p: p.requires_grad for p in lm.model.parameters()}
    torch.manual_seed(hp.seed)  # the initialisation of A
    with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing`: not
        # the user's to act on, and it would be the one warning of a LoRA run
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(lm.model, config)
    try:
        batch = edit_batch(lm, edits)
        params = [p for n, p in peft_model.named_parameters() if "lora_" in n]
        peft_model.eval()  # no dropout in the base model; lora dropout is 0 by default
        fit_adam(peft_model, params, batch, mean_target_nll, hp, handle.info)
        handle.adapter_state = {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(peft_model).items()}
        handle.adapter_config = copy.deepcopy(peft_model.peft_config["default"])
        handle.adapter_config.base_model_name_or_path = getattr(lm.model.config, "_name_or_path", None) or lm.name
    finally:
        merged = peft_model.merge_and_unload()
        assert merged is lm.model
        for attr in ("peft_config", "_hf_peft_config_loaded"):
            if attr in vars(lm.model):
                delattr(lm.model, attr)
        for p, f in flags.items():
            p.requires_grad_(f)


@register_method
class LoRA(EditMethod):
    name = "lora"
    description = "low-rank adapter (peft) on chosen modules trained on the target tokens, merged; saveable as a peft adapter"
    hparams_class = LoRAHParams
    supports_batch = True
    edits_as_row_deltas = True  # a low-rank change of linear weights (--parallel-edits)

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        names = [f"{m}.weight" for m in hp.target_modules]
        handle = LoRAHandle(lm, names, info={"steps": 0, "rank": hp.rank, "modules": len(names)})
        train_adapter(lm, edits, hp, handle)
        if hp.adapter_dir:
            handle.save_adapter(hp.adapter_dir)
        return handle
