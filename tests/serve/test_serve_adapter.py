"""`polyedit serve --adapter`: a saved PEFT LoRA adapter is merged into the served model."""

from __future__ import annotations

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.serve import apply_adapter


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_merged_adapter_gives_the_adapter_model_outputs(tiny_model_dirs, tmp_path):
    from peft import LoraConfig, get_peft_model

    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    ids = torch.tensor([lm.tokenizer("The capital of France is")["input_ids"]])
    base = _logits(lm.model, ids)
    peft_model = get_peft_model(lm.model, LoraConfig(r=4, target_modules=["down_proj"], lora_alpha=8))
    torch.manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero; give the adapter an effect
            p.data.normal_(0, 0.5)
    with_adapter = _logits(peft_model, ids)
    peft_model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()

    served = load_model(str(tiny_model_dirs["llama"]))
    apply_adapter(served, tmp_path / "adapter")
    merged = _logits(served.model, ids)
    assert not torch.allclose(with_adapter, base, atol=1e-3)
    torch.testing.assert_close(merged, with_adapter, atol=1e-5, rtol=1e-4)
    assert not any("lora" in n for n, _ in served.model.named_parameters())  # merged, no peft at run time


def test_adapter_folder_errors(tiny_model_dirs, tmp_path):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    with pytest.raises(PolyeditError, match="no adapter_config.json"):
        apply_adapter(lm, tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(PolyeditError, match="pickled weights are never loaded"):
        apply_adapter(lm, tmp_path)
