"""What a remote run knows of its model without loading weights, so that it runs with the settings a local run
of the same `--model` would: the model folder's `editing.yaml` (recommended hyperparameters), its tokenizer
and its context length (the context rule of `models.context`: a case too long is skipped and counted).

`describe_model(spec)` returns a `LoadedModel` whose `model` is a weightless module carrying only the
config, for a built-in world model or a local folder; for a hub id or a name the endpoint alone knows it
returns None, and the method's own defaults apply (recorded as such in run.json's `hparams_source`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from polyedit.models.load import LoadedModel, editing_hparams, prepare_tokenizer, resolve_model_path


class ConfigOnly(torch.nn.Module):
    """A model with a config and no weights: enough for context lengths and tokenisation, never for running."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def forward(self, *args, **kwargs):
        raise RuntimeError("a remote model's local description has no weights")


def describe_model(spec: str, trust_remote_code: bool = False) -> LoadedModel | None:
    """The config, tokenizer and editing.yaml of `spec` when it is local (a folder or `world:NAME`); else None."""
    if not (spec.startswith("world:") or Path(spec).expanduser().exists()):
        return None
    from transformers import AutoConfig, AutoTokenizer

    path = resolve_model_path(spec)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    prepare_tokenizer(tokenizer)
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    return LoadedModel(ConfigOnly(config), tokenizer, spec, {"path": path, "editing_hparams": editing_hparams(path),
                                                             "weights": "remote"})
