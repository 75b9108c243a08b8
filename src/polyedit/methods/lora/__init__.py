"""LoRA editing through the `peft` library."""

from polyedit.methods.lora.lora import LoRA, LoRAHandle, LoRAHParams

__all__ = ["LoRA", "LoRAHandle", "LoRAHParams"]
