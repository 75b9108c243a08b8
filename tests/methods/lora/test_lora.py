"""LoRA edits save as a standard peft adapter, which `PeftModel.from_pretrained` loads onto a fresh base model."""

import torch

from polyedit.data.cases import Edit
from polyedit.methods import get_method



def test_lora_adapter_round_trip(tiny_model_dirs, tmp_path):
    from peft import PeftModel

    from polyedit.models import load_model

    for family in ("llama", "gpt2"):  # gpt2: Conv1D, fan_in_fan_out
        lm = load_model(str(tiny_model_dirs[family]))
        edit = Edit("en", "Paris", "The capital of France is Paris and", "Berlin")
        out = tmp_path / family
        handle = get_method("lora", {"steps": 5, "lr": 5e-2, "adapter_dir": str(out)}).apply(lm, [edit])
        assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
        ids = lm.tokenizer(edit.prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            edited = lm.model(input_ids=ids).logits
        fresh = load_model(str(tiny_model_dirs[family]))
        with torch.no_grad():
            base = fresh.model(input_ids=ids).logits
            loaded = PeftModel.from_pretrained(fresh.model, str(out))(input_ids=ids).logits
        assert not torch.allclose(base, edited, atol=1e-4)
        assert torch.allclose(loaded, edited, atol=1e-5)
        assert not hasattr(lm.model, "peft_config")  # the edited model is a plain model again
        handle.restore()
