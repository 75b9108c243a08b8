"""Serving a local (optionally edited) model over the OpenAI-compatible completions API."""

from polyedit.serve.prepare import apply_adapter, apply_edits
from polyedit.serve.server import CompletionModel, PolyeditServer, create_app, make_server, serve_in_thread

__all__ = ["CompletionModel", "PolyeditServer", "create_app", "make_server", "serve_in_thread", "apply_edits",
           "apply_adapter"]
