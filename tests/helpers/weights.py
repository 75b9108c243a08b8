"""A model's weights as one hash (restores are bit-identical or the hash differs), and whether the model
already predicts a target token by token."""

from __future__ import annotations

import hashlib

import torch


def state_hash(model) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def passes(lm, edit, target) -> bool:
    """Whether every token of `target` after the edit prompt is the model's argmax (teacher forced)."""
    from polyedit.data.languages import join_target
    from polyedit.models.backend import HFBackend

    res = HFBackend(lm).score([join_target(edit.prompt, target, edit.lang)])[0]
    return res.argmax_ids == res.target_ids
