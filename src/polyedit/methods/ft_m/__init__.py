"""FT-M: fine-tuning with the loss on the target tokens only (EasyEdit's FT-M)."""

from polyedit.methods.ft_m.ft_m import FTM, FTMHParams

__all__ = ["FTM", "FTMHParams"]
