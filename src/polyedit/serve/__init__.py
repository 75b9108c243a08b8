"""Serving a local (optionally edited) model over the OpenAI-compatible completions API."""

from polyedit.serve.server import CompletionModel, make_server, serve_in_thread
from polyedit.serve.prepare import apply_adapter, apply_edits

__all__ = ["CompletionModel", "make_server", "serve_in_thread", "apply_edits", "apply_adapter"]
