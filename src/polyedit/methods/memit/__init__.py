"""MEMIT: mass-editing memory in a transformer (Meng et al. 2023)."""

from polyedit.methods.memit.memit_main import MEMIT, MEMITHParams

__all__ = ["MEMIT", "MEMITHParams"]
