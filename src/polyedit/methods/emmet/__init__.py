"""EMMET: equality-constrained mass model editing (Gupta et al. 2024, arXiv 2403.14236)."""

from polyedit.methods.emmet.emmet_main import EMMET, EMMETHParams

__all__ = ["EMMET", "EMMETHParams"]
