"""MEMLA (Xie et al. 2024): knowledge neurons by integrated gradients, edited by neuron-masked LoRA."""

from polyedit.methods.memla.config import MEMLAHParams
from polyedit.methods.memla.memla_main import MEMLA
from polyedit.methods.memla.controls import MEMLAIndependent, MEMLALoRA, MEMLARandom, MEMLASpecific

__all__ = ["MEMLA", "MEMLAHParams", "MEMLARandom", "MEMLALoRA", "MEMLASpecific", "MEMLAIndependent"]
