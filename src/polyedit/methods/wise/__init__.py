"""WISE: lifelong editing in a side memory (a copy of one MLP output projection) with a routing activation,
knowledge shards and their TIES merge; the model's weights are untouched."""

from polyedit.methods.wise.wise_main import WISE, WiseHParams

__all__ = ["WISE", "WiseHParams"]
