"""Keys and output gradients of the edited modules at the edits' target positions (the reference's `Tracer`
with `token: ans`): one teacher-forced forward and backward of the target NLL, averaged over every target
token of the batch as the reference's `cross_entropy` does."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from polyedit.data.cases import Edit
from polyedit.methods.objectives import edit_batch, target_logprobs, trainable
from polyedit.models.hooks import trace
from polyedit.models.load import LoadedModel


@dataclass
class Rows:
    keys: dict[str, torch.Tensor]  # module -> (rows, d_in): its input at each target position
    grads: dict[str, torch.Tensor]  # module -> (rows, d_out): ∂L/∂(its output) there
    per_edit_rows: list[int]  # target positions of each edit, in order
    per_edit_nll: list[float]  # each edit's mean target-token NLL before the edit


def keys_and_gradients(lm: LoadedModel, edits: list[Edit], modules: list[str]) -> Rows:
    """A zero tensor is added to each module's output so that its gradient is ∂L/∂output; nothing in the model
    requires grad meanwhile (no parameter gradient is left behind)."""
    batch = edit_batch(lm, edits)
    zeros: dict[str, torch.Tensor] = {}

    def add_zero(name: str, output: torch.Tensor) -> torch.Tensor:
        zeros[name] = torch.zeros_like(output, requires_grad=True)
        return output + zeros[name]

    with trainable(lm.model, []), torch.enable_grad(), \
            trace(lm.model, modules, retain_input=True, retain_output=False, detach=True, edit_output=add_zero) as t:
        logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        lp = target_logprobs(logits, batch)
        (-lp.sum() / batch.target_mask.sum()).backward()
    mask = batch.target_mask
    keys = {n: t[n].input[mask.to(t[n].input.device)].detach() for n in modules}
    grads = {n: zeros[n].grad[mask.to(zeros[n].grad.device)] for n in modules}
    rows = mask.sum(1)
    nll = -(lp.detach().sum(1) / rows.to(lp.device))
    return Rows(keys, grads, rows.tolist(), nll.tolist())
