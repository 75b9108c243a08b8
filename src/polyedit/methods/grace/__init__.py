"""GRACE: lifelong editing with a discrete key-value adaptor (a side memory; the weights are untouched)."""

from polyedit.methods.grace.grace_main import GRACE, GraceHParams

__all__ = ["GRACE", "GraceHParams"]
