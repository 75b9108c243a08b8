"""Per-language null spaces (LangEdit-style; Sun et al., ACL Findings 2025, arXiv 2506.10800)."""

from polyedit.methods.langedit.langedit_main import LangEdit, LangEditHParams

__all__ = ["LangEdit", "LangEditHParams"]
