"""GRACE (Hartvigsen et al. 2023, arXiv 2211.11031): a discrete key-value adaptor at one layer, the
model's weights untouched.

The adaptor wraps the MLP output projection of layer `layer` with a codebook (`codebook.py`). An edit
(prompt, target) reads the projection's input at the prompt's last token, h = k* (the key), updates the
codebook by §3.2's rules, and trains that entry's value v with Adam so that the model, with v replacing the
layer's output wherever the router defers to the entry, generates the target (loss: the target tokens'
teacher-forced NLL, as FT-M's). Values start from the layer's own output at the key (`val_init: warm`) or
uniform noise (`cold`, EasyEdit's default).

Where the router looks. The paper's decoder adaptor queries the last token of the input; here every
position's input is a query and each is replaced where it falls within an entry's radius. At the edit's
own last prompt token that is the paper's rule exactly; it also makes teacher-forced scoring (prompt +
answer in one pass, right-padded), batched left-padded generation and cached decoding (one new token a
step) route the same position the same way, which "the last token of the input" does not.

The adaptor is a forward hook on the projection, so `restore()` puts the codebook back as it was before
the edit and, once it is empty, removes the hook: the weights are never written (bit-identical by
construction, and tested). Edits of one `apply` go into the codebook one after another (GRACE is
sequential by nature); later `apply`s on the same model share the codebook, so sequential editing grows it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import torch

from polyedit.data.cases import Edit
from polyedit.errors import PolyeditError
from polyedit.methods import convergence
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.grace.codebook import Codebook
from polyedit.methods.layer_choice import check_layers, layer_at
from polyedit.methods.objectives import edit_batch, mean_target_nll, trainable
from polyedit.methods.search import int_range, log_range, one_layer
from polyedit.methods.side_memory import Attached, Hooked, SideMemoryHandle
from polyedit.models.hooks import trace
from polyedit.models.load import LoadedModel

GRACE_DEPTH = 0.8  # EasyEdit's GRACE settings edit layer 27 of 32 (Llama-2) and 35 of 48 (GPT-2 XL)


class GraceHParams(HParams):
    layer: int | None = param(None, "layer whose MLP output projection gets the adaptor (default: 80% of the "
                                    "way up)", search=one_layer())
    eps_init: float = param(1.0, "ε_init: the deferral radius of a new codebook entry (Euclidean, in the "
                                 "projection's input space)", gt=0, search=log_range(0.5, 200.0))
    lr: float = param(1.0, "Adam learning rate of the value (EasyEdit's GRACE: 1.0)", gt=0,
                      search=log_range(0.05, 2.0))
    steps: int = param(100, "at most this many Adam steps per edit (EasyEdit's n_iter: 50)", ge=0,
                     search=int_range(10, 200, log=True))
    early_stop_loss: float = param(0.05, "stop once the target's mean token NLL is below this", ge=0)
    val_init: Literal["warm", "cold"] = param("warm", "a new value starts as the layer's own output at the key (warm) "
                                              "or uniform noise in [0, 1) (cold)")

    def resolve(self, lm: LoadedModel) -> GraceHParams:
        layer = self.layer if self.layer is not None else layer_at(lm.arch.n_layers, GRACE_DEPTH)
        return self.model_copy(update=dict(layer=check_layers([layer], lm.arch.n_layers, "grace")[0]))


@dataclass
class Snapshot:
    """A codebook as an edit found it (`Adaptor.state`)."""

    entries: int
    epsilons: torch.Tensor
    values: dict[int, torch.Tensor]


class Adaptor(Hooked):
    """The codebook of one module and the forward hook that routes the module's inputs through it."""

    def __init__(self, module: torch.nn.Module, name: str, key_dim: int, value_dim: int, device) -> None:
        self.name = name
        self.codebook = Codebook(key_dim, value_dim, device)
        self.training: tuple[int, torch.Tensor] | None = None  # (entry, the value being trained)
        self._hooks = [module.register_forward_hook(self._route)]

    def _values(self) -> torch.Tensor:
        if self.training is None:
            return self.codebook.values
        i, v = self.training
        vals = self.codebook.values
        return torch.cat([vals[:i], v.reshape(1, -1), vals[i + 1:]])

    def _route(self, module, args, output):
        if not len(self.codebook):
            return output
        x = args[0]
        flat = x.reshape(-1, x.shape[-1])
        idx, inside = self.codebook.route(flat)
        if not bool(inside.any()):
            return output
        out = output.reshape(-1, output.shape[-1])
        chosen = self._values()[idx].to(out.dtype)
        return torch.where(inside[:, None], chosen, out).reshape(output.shape)

    def state(self) -> Snapshot:
        """What an edit can change, not a copy of the codebook: the entry count (entries are only ever
        appended), the radii, and (`keep_value`) the values of earlier entries the edit trains again. A copy
        per edit would make a sequence of n edits hold n²/2 entries for restoring: 96 GB at 10,000 edits on
        world:medium, against 19 MB for the codebook itself. Valid for restores in reverse order, as handles
        are restored."""
        return Snapshot(len(self.codebook), self.codebook.epsilons.clone(), {})

    def keep_value(self, snapshot: Snapshot, entry: int) -> None:
        """Before an entry that existed at `snapshot` is trained again: its value, to put back on restore."""
        if entry < snapshot.entries and entry not in snapshot.values:
            snapshot.values[entry] = self.codebook.values[entry].clone()

    def load(self, snapshot: Snapshot) -> None:
        book, n = self.codebook, snapshot.entries
        values = book.values[:n].clone()
        for i, v in snapshot.values.items():
            values[i] = v
        book.load((book.keys[:n], values, snapshot.epsilons, book.labels[:n]))

    def holds_edits(self) -> bool:
        return len(self.codebook) > 0

    def stop_training(self) -> None:
        self.training = None


class GraceAdaptors(Attached[Adaptor]):
    """A model's GRACE adaptors (its slot in `lm.method_state`): every edit of a model shares one codebook
    per layer."""


def adaptor_for(lm: LoadedModel, name: str) -> Adaptor:
    module = lm.model.get_submodule(name)
    weight = module.weight
    d_in, d_out = (weight.shape[0], weight.shape[1]) if _transposed(module) else (weight.shape[1], weight.shape[0])
    return lm.method_state.of(GraceAdaptors).attach(name, lambda: Adaptor(module, name, d_in, d_out, weight.device))


def _transposed(module) -> bool:
    from polyedit.models.arch import is_transposed

    return is_transposed(module)


def active_adaptors(lm: LoadedModel) -> list[Adaptor]:
    """The adaptors attached to `lm`'s modules now (none once every edit is restored)."""
    return lm.method_state.of(GraceAdaptors).active()


def _key_and_output(lm: LoadedModel, name: str, edit: Edit) -> tuple[torch.Tensor, torch.Tensor, object]:
    """h (the projection's input at the prompt's last token) and the projection's own output f(h)."""
    batch = edit_batch(lm, [edit])
    with torch.no_grad(), trace(lm.model, name, retain_input=True, retain_output=False, detach=True) as t:
        lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    h = t[name].input[0, batch.last_prompt[0]]
    with torch.no_grad():
        f_h = lm.model.get_submodule(name)(h[None])[0]
    return h, f_h, batch


@register_method
class GRACE(EditMethod):
    name = "grace"
    description = "GRACE: a codebook of keys with deferral radii at one layer, values trained per edit (side memory)"
    hparams_class = GraceHParams
    supports_batch = True

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        name = lm.arch.mlp_out[hp.layer]
        adaptor = adaptor_for(lm, name)
        handle = SideMemoryHandle(lm, lm.method_state.of(GraceAdaptors), adaptor,
                                  {"layer": hp.layer, "module": name, "edits": []})
        gen = torch.Generator(device="cpu").manual_seed(hp.seed)
        rules: Counter = Counter()
        outcomes = []
        try:
            for edit in edits:
                h, f_h, batch = _key_and_output(lm, name, edit)
                init = f_h if hp.val_init == "warm" else torch.rand(f_h.shape, generator=gen).to(f_h.device)
                entry, rule = adaptor.codebook.update(h, edit.target_new.strip(), hp.eps_init, init)
                rules[rule] += 1
                adaptor.keep_value(handle.before, entry)
                loss, steps = self._train_value(lm, adaptor, entry, batch, hp)
                handle.info["edits"].append({"loss": loss, "steps": steps})  # each edit's value, not the last
                outcomes.append(convergence.outcome(loss, steps, hp.early_stop_loss))
        except BaseException:
            handle.restore()
            raise
        handle.info.update({"rules": dict(rules), "keys": len(adaptor.codebook)})
        convergence.record(handle.info, outcomes)
        return handle

    def state_bytes(self, handle: EditHandle) -> int:
        """The codebook: it grows with every edit that adds an entry (§3.2's `add` and `split`)."""
        return handle.memory.codebook.nbytes()

    @staticmethod
    def _train_value(lm, adaptor: Adaptor, entry: int, batch, hp: GraceHParams) -> tuple[float, int]:
        v = torch.nn.Parameter(adaptor.codebook.values[entry].clone())
        opt = torch.optim.Adam([v], lr=hp.lr)
        adaptor.training = (entry, v)
        loss_value, steps = math.nan, 0
        try:
            with trainable(lm.model, []):  # only v learns; the weights get no gradient
                for step in range(hp.steps + 1):
                    opt.zero_grad()
                    logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
                    loss = mean_target_nll(logits, batch)
                    loss_value = loss.item()
                    if loss_value < hp.early_stop_loss or step == hp.steps or not math.isfinite(loss_value):
                        break
                    if not loss.requires_grad:  # the router sent no position of the edit to this entry
                        raise PolyeditError(f"grace: no position of the edit prompt routes to its codebook "
                                            f"entry {entry} at layer {hp.layer}, so its value cannot be trained")
                    loss.backward()
                    opt.step()
                    steps = step + 1
        finally:
            adaptor.training = None
        if not bool(torch.isfinite(v).all()):
            raise PolyeditError("grace: the trained value is not finite; try a smaller lr")
        adaptor.codebook.values[entry] = v.detach()
        return loss_value, steps
