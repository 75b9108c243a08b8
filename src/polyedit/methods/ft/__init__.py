"""Fine-tuning baselines: FT-L (constrained fine-tuning of one MLP layer)."""

from polyedit.methods.ft.ft_l import FTL, FTLHParams

__all__ = ["FTL", "FTLHParams"]
