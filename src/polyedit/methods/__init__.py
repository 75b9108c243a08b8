"""Editing methods: each subfolder registers one method. Imports data and models, never evaluation."""

from polyedit.methods.base import EditHandle, EditMethod, HParams, get_method, method_names, register_method

__all__ = ["EditHandle", "EditMethod", "HParams", "get_method", "method_names", "register_method"]
