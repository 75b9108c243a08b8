"""Model access: loading, architecture introspection, hooks, tokenisation and LM backends.

Imports only from polyedit.data and polyedit.errors.
"""

from polyedit.models.arch import Architecture, find_architecture
from polyedit.models.load import LoadedModel, load_model

__all__ = ["Architecture", "LoadedModel", "find_architecture", "load_model"]
