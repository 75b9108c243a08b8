"""ReMaKE: retrieval-augmented multilingual knowledge editing (a growing memory of edits + in-context editing)."""

from polyedit.methods.remake.remake_main import ReMaKE, ReMaKEHParams

__all__ = ["ReMaKE", "ReMaKEHParams"]
