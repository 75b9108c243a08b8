"""AlphaEdit: null-space constrained knowledge editing (Fang et al., ICLR 2025, arXiv 2410.02355)."""

from polyedit.methods.alphaedit.alphaedit_main import AlphaEdit, AlphaEditHParams

__all__ = ["AlphaEdit", "AlphaEditHParams"]
