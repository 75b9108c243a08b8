"""LoRA adapters loaded into the served model at run time, with vLLM's routes (`POST /v1/load_lora_adapter`
{"lora_name", "lora_path"}, `POST /v1/unload_lora_adapter` {"lora_name"}), each then asked for by its name
as a request's `model`, as vLLM does with `--enable-lora` and `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`.

peft holds them: the first load wraps the model's target modules in LoRA layers (`PeftModel`), later ones add
adapters to them, and the last unload takes the layers out again (`unload()`), leaving the plain model. A
batch is run with one adapter active (`set_adapter`), or none for the base model (`disable_adapter`); the
model worker groups its rows by adapter and holds `lock` while it runs them, and a load or unload takes the
same lock, so an adapter never changes under a forward pass. Adapter weights are read from safetensors only.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from pathlib import Path

from polyedit.models.load import LoadedModel
from polyedit.serve.schema import BadRequest


class RuntimeAdapters:
    """The adapters loaded now: name -> folder."""

    def __init__(self, lm: LoadedModel, base_name: str) -> None:
        self.lm, self.base_name = lm, base_name
        self.paths: dict[str, str] = {}
        self.lock = threading.RLock()
        self._peft = None  # the PeftModel while any adapter is loaded

    def __contains__(self, name: str) -> bool:
        return name in self.paths

    def load(self, name: str, path: str) -> None:
        """Load the adapter in folder `path` as `name`; BadRequest with vLLM's status when it cannot be."""
        if name == self.base_name or name in self.paths:
            raise BadRequest(400, f"The lora adapter '{name}' has already been loaded." if name in self.paths
                             else f"'{name}' is the base model's name; choose another lora_name", "lora_name")
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise BadRequest(404, f"No adapter found at {path} (no adapter_config.json there)", "lora_path")
        if not (folder / "adapter_model.safetensors").is_file():
            raise BadRequest(400, f"{path}: no adapter_model.safetensors (pickled weights are never loaded)",
                             "lora_path")
        with self.lock, warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing`: not the client's to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            try:
                if self._peft is None:
                    from peft import PeftModel

                    self._peft = PeftModel.from_pretrained(self.lm.model, str(folder), adapter_name=name)
                else:
                    self._peft.load_adapter(str(folder), adapter_name=name)
            except Exception as e:  # an adapter for another model, a damaged file: one line, model unchanged
                self._drop(name)
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise BadRequest(400, f"the adapter at {path} cannot be loaded onto this model: {first}",
                                 "lora_path") from None
            self._peft.eval()
            self.paths[name] = str(folder)

    def unload(self, name: str) -> None:
        if name not in self.paths:
            raise BadRequest(404, f"The lora adapter '{name}' cannot be found.", "lora_name")
        with self.lock:
            del self.paths[name]
            self._drop(name)

    def _drop(self, name: str) -> None:
        """Remove adapter `name` from peft's layers; with no adapter left, take the layers out of the model."""
        if self._peft is None:
            return
        if not self.paths:
            self._peft.unload()  # the base model with its own modules back; its weights were never changed
            self._peft = None
        elif name in self._peft.peft_config:
            self._peft.delete_adapter(name)

    @contextlib.contextmanager
    def active(self, name: str | None):
        """Run the block (on the model worker) with adapter `name` active, or the base model for None."""
        with self.lock:
            if self._peft is None:
                if name is not None:
                    raise RuntimeError(f"adapter {name!r} is not loaded")
                yield
            elif name is None:
                with self._peft.disable_adapter():
                    yield
            else:
                self._peft.set_adapter(name)
                yield
