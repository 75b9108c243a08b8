"""Several low-rank weight changes carried by one forward pass, a different one for each row of the batch.

Multi-adapter serving (Punica, S-LoRA, vLLM's LoRA support) runs one batch through one base model while each
request reads its own adapter. Independent edits are the same: edit e changes the weight W of some modules by
ΔW_e = B_e A_e (rank r), so row i of a batch, which belongs to edit e(i), computes

    y_i = W x_i + b + B_e(i) (A_e(i) x_i)

through a forward hook on each edited module. The weights themselves are never written. `factors` turns a
change read off a weight (after minus before) into (B, A) in the (out_features, in_features) orientation,
whatever the module's storage (GPT-2's Conv1D keeps its weight as (in, out)).

`RowDeltas.rows(edit_ids)` says which edit each row of the next forward passes belongs to (-1: none); a
forward pass whose batch has another number of rows (scoring's one-token pass that only feeds the output
head hidden states computed before) leaves the modules' outputs alone.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from polyedit.errors import PolyeditError
from polyedit.models.arch import is_transposed

#: the energy of the singular values a factorisation drops, relative to ‖ΔW‖: the level of float32 rounding
#: of the weights themselves, so B A is the change the edited model computes with, to that rounding
DROPPED = 1e-6


def factors(module: nn.Module, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ΔW (as stored in `module.weight`) as B (out, r) and A (r, in), float32: its SVD U S Vᵀ cut at the
    smallest r whose dropped singular values hold at most `DROPPED` of ‖ΔW‖ (a rank-one ROME update has r = 1,
    a rank-8 LoRA r <= 8)."""
    return factors_out_in((delta.T if is_transposed(module) else delta).float())


def factors_out_in(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`factors` of a change already in the (out_features, in_features) orientation."""
    d = d.float()
    u, s, vh = torch.linalg.svd(d, full_matrices=False)
    tail = s.flip(0).square().cumsum(0).flip(0).sqrt()  # tail[j]: the norm of singular values j, j+1, ...
    r = max(1, int((tail > DROPPED * float(d.norm())).sum()))
    return (u[:, :r] * s[:r]).contiguous(), vh[:r].contiguous()


def _output(output):
    return output[0] if isinstance(output, tuple) else output


class RowDeltas:
    """Edits 0..E-1, each a {module name: (B, A)} mapping, stacked per module (ranks padded with zeros, an
    edit that leaves a module unchanged carries zeros there)."""

    def __init__(self, model: nn.Module, edits: list[dict[str, tuple[torch.Tensor, torch.Tensor]]]) -> None:
        self.model = model
        self.n_edits = len(edits)
        self._rows: torch.Tensor | None = None
        self.stacks: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name in sorted({m for e in edits for m in e}):
            weight = model.get_submodule(name).weight
            out_f, in_f = (weight.shape[1], weight.shape[0]) if is_transposed(model.get_submodule(name)) \
                else weight.shape
            r = max(e[name][0].shape[1] for e in edits if name in e)
            # one extra, all-zero edit at index E: the rows that belong to no edit
            b = torch.zeros(len(edits) + 1, out_f, r, dtype=weight.dtype, device=weight.device)
            a = torch.zeros(len(edits) + 1, r, in_f, dtype=weight.dtype, device=weight.device)
            for i, e in enumerate(edits):
                if name in e:
                    eb, ea = e[name]
                    b[i, :, :eb.shape[1]] = eb
                    a[i, :ea.shape[0]] = ea
            self.stacks[name] = (b, a)

    def rows(self, edit_ids: list[int] | None) -> None:
        """The edit of each row of the forward passes to come (-1: the unedited model); None: no row edited."""
        if edit_ids is None:
            self._rows = None
            return
        ids = torch.tensor([self.n_edits if e < 0 else e for e in edit_ids], dtype=torch.long)
        if len(ids) and (ids.max() > self.n_edits or ids.min() < 0):
            raise PolyeditError(f"row edit ids must be below {self.n_edits}, got {max(edit_ids)}")
        self._rows = ids

    def current(self) -> list[int] | None:
        """The row edit ids last set (-1: none)."""
        if self._rows is None:
            return None
        return [-1 if e == self.n_edits else e for e in self._rows.tolist()]

    @contextmanager
    def active(self):
        """Inside the block, each edited module adds its rows' changes to its output."""
        hooks = [self.model.get_submodule(name).register_forward_hook(self._hook(name)) for name in self.stacks]
        try:
            yield self
        finally:
            for h in hooks:
                h.remove()
            self._rows = None

    def _hook(self, name: str):
        b_all, a_all = self.stacks[name]

        def add(_module, args, output):
            x, y = args[0], _output(output)
            rows = self._rows
            if rows is None or x.shape[0] != len(rows):
                return output
            rows = rows.to(b_all.device)
            b, a = b_all[rows], a_all[rows]  # (n, out, r), (n, r, in)
            shape = x.shape
            flat = x.reshape(shape[0], -1, shape[-1]).to(a.dtype)  # (n, positions, in)
            change = torch.bmm(torch.bmm(flat, a.transpose(1, 2)), b.transpose(1, 2))  # (n, positions, out)
            new = y + change.reshape(*shape[:-1], change.shape[-1]).to(y.dtype)
            return (new, *output[1:]) if isinstance(output, tuple) else new

        return add
