"""KN (Dai et al. 2022): knowledge neurons by integrated gradients, edited through their output vectors."""

from polyedit.methods.kn.kn_main import KN, KNHParams

__all__ = ["KN", "KNHParams"]
