"""ROME: rank-one model editing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT")."""

from polyedit.methods.rome.rome_main import ROME, ROMEHParams

__all__ = ["ROME", "ROMEHParams"]
