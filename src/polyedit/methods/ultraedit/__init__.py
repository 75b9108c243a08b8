"""UltraEdit: training-, subject- and memory-free lifelong editing (Gu et al. 2025, arXiv 2505.14679)."""

from polyedit.methods.ultraedit.ultraedit_main import UltraEdit, UltraEditHParams

__all__ = ["UltraEdit", "UltraEditHParams"]
