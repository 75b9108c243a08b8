"""WISE (Wang et al. 2024, arXiv 2405.14768): edits go into a side memory of one MLP output projection,
and a routing activation sends a query to it only when the query looks like an edit (`memory.py`).

An edit (prompt, target) trains the current knowledge shard Δ with SGD (EasyEdit's optimiser) on the
edit's target NLL plus the routing margins (`losses.py`), with the side memory answering at every position;
only the shard's masked entries move, each kept within ±norm_constraint of the main memory. The
out-of-scope text the margins push away is model-generated ROME-style prefixes in the edit's language
(EasyEdit reads an unrelated dataset's question there). After training, the edit's own routing score
joins the threshold's data.

Routing is per row of a forward call (one sequence), over its non-padding positions: the model's
attention mask is read by a pre-hook on the model's forward, so padding never votes; in cached decoding a
step's row is its new token, as in the reference's generation.

State lives in one `SideMemory` per projection, shared by every edit of the model (sequential editing
grows it); a handle restores it to what it was before its edit and, once it holds no edit, removes both
hooks. The weights are never written.
"""

from __future__ import annotations

import math

import torch

from polyedit.data.cases import Edit
from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.layer_choice import check_layers, layer_at
from polyedit.methods.objectives import edit_batch, mean_target_nll, trainable
from polyedit.methods.search import int_range, log_range, one_layer, real_range
from polyedit.methods.side_memory import Attached, Hooked, SideMemoryHandle
from polyedit.methods.wise.losses import margin_loss
from polyedit.methods.wise.memory import SideMemory, activation_scores, route, row_scores, shard_mask
from polyedit.models.arch import is_transposed
from polyedit.models.load import LoadedModel

WISE_DEPTH = 0.8  # EasyEdit's WISE edits layer 27 of 32 (Llama-2-7B's down_proj)
ACTIVATION_FIELDS = ("hidden_act", "activation_function", "hidden_activation", "activation")


class WiseHParams(HParams):
    layer: int | None = param(None, "layer whose MLP output projection gets the side memory (default: 80% of "
                                    "the way up)", search=one_layer())
    lr: float = param(1.0, "SGD learning rate of the side memory (EasyEdit's edit_lr: 1.0)", gt=0,
                      search=log_range(0.05, 5.0))
    steps: int = param(70, "at most this many SGD steps per edit (EasyEdit's n_iter: 70)", ge=0,
                       search=int_range(5, 100, log=True))
    early_stop_loss: float = param(0.01, "stop once the edit's loss (NLL + margins) is below this", ge=0)
    mask_ratio: float = param(0.2, "ρ: the fraction of the side memory's entries a knowledge shard trains",
                              gt=0, le=1, search=real_range(0.05, 1.0))
    act_ratio: float = param(0.88, "the routing threshold is this times the smallest activation score of an "
                                   "edit", gt=0, search=real_range(0.3, 1.0))
    alpha: float = param(5.0, "α: out-of-scope text should score below this", ge=0)
    beta: float = param(20.0, "β: an edit should score above this", ge=0, search=log_range(0.5, 40.0))
    gamma: float = param(10.0, "γ: the margin between an edit's score and out-of-scope text's", ge=0)
    norm_constraint: float = param(1.0, "each side-memory entry stays within this of the main memory's",
                                   gt=0, search=log_range(0.01, 5.0))
    save_freq: int = param(500, "edits per knowledge shard (then a fresh shard and mask)", ge=1)
    merge_freq: int = param(1000, "the shards are merged (TIES) every this many edits", ge=1)
    density: float = param(0.53, "TIES: the fraction of each shard's largest entries kept in a merge",
                           gt=0, le=1)
    merge_weight: float = param(1.0, "the total weight of the shards in their first merge", gt=0)
    out_of_scope: int = param(2, "model-generated out-of-scope texts the routing margins push away", ge=0)
    out_of_scope_tokens: int = param(10, "the length of each out-of-scope text in tokens", ge=1)

    def resolve(self, lm: LoadedModel) -> WiseHParams:
        layer = self.layer if self.layer is not None else layer_at(lm.arch.n_layers, WISE_DEPTH)
        return self.model_copy(update=dict(layer=check_layers([layer], lm.arch.n_layers, "wise")[0]))


def mlp_activation(lm: LoadedModel):
    """The MLP's activation function a, from the model config (the routing score compares a(·))."""
    from transformers.activations import ACT2FN

    configs = [lm.model.config, getattr(lm.model.config, "text_config", None)]
    for config in filter(None, configs):
        for f in ACTIVATION_FIELDS:
            name = getattr(config, f, None)
            if isinstance(name, str) and name in ACT2FN:
                return ACT2FN[name]
    raise PolyeditError(f"wise: the model config names no MLP activation ({', '.join(ACTIVATION_FIELDS)}), "
                        f"which the routing score needs")


class Router(Hooked):
    """One projection's side memory and the hooks that route its output through it."""

    def __init__(self, lm: LoadedModel, name: str, act) -> None:
        module = lm.model.get_submodule(name)
        w = module.weight
        d_in, d_out = (w.shape[0], w.shape[1]) if is_transposed(module) else (w.shape[1], w.shape[0])
        self.name, self.act = name, act
        self.memory = SideMemory(d_in, d_out, w.device)
        self.act_ratio = 1.0
        self.training: torch.Tensor | None = None  # the shard being trained: the side memory answers everywhere
        self.recorded: tuple[torch.Tensor, torch.Tensor] | None = None  # (main, side) output while training
        self._mask: torch.Tensor | None = None
        self._hooks = [lm.model.register_forward_pre_hook(self._stash_mask, with_kwargs=True),
                       module.register_forward_hook(self._route)]

    def _stash_mask(self, model, args, kwargs):
        self._mask = kwargs.get("attention_mask")

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """The input as (sequences, positions, d): a module that runs on flattened tokens (an MoE's shared
        expert) is split into the attention mask's rows, or taken as one row without a mask that fits."""
        if x.dim() == 3:
            return x
        m = self._mask
        n = m.shape[0] if m is not None and m.dim() == 2 and x.shape[0] % m.shape[0] == 0 else 1
        return x.reshape(n, -1, x.shape[-1])

    def _valid(self, x: torch.Tensor) -> torch.Tensor:
        m = self._mask
        if m is not None and m.dim() == 2 and m.shape[0] == x.shape[0] and m.shape[1] >= x.shape[1]:
            return m[:, -x.shape[1]:].to(x.device)
        return torch.ones(x.shape[:2], device=x.device)

    def _route(self, module, args, output):
        rows = self._rows(args[0])
        main = output.reshape(*rows.shape[:2], -1)
        if self.training is not None:
            side = main + (rows.float() @ self.training).to(main.dtype)
            self.recorded = (main, side)
            return side.reshape(output.shape)
        if not self.memory.scores:
            return output
        with torch.no_grad():
            return self._answer(rows, main).reshape(output.shape)

    def _answer(self, rows: torch.Tensor, main: torch.Tensor) -> torch.Tensor:
        """Each row's output from the memory the routing rule picks: main, merged side, current side."""
        mem, valid = self.memory, self._valid(rows)
        merged = main if mem.merged is None else main + (rows.float() @ mem.merged).to(main.dtype)
        side = main + (rows.float() @ mem.side).to(main.dtype)
        score_merged, score_side = (row_scores(activation_scores(main, o, self.act), valid) for o in (merged, side))
        choice = route(score_merged, score_side, mem.threshold(self.act_ratio))
        return torch.stack([main, merged, side])[choice, torch.arange(main.shape[0], device=main.device)]

    def state(self):
        return self.memory.state()

    def load(self, state) -> None:
        self.memory.load(state)

    def holds_edits(self) -> bool:
        return bool(self.memory.edits)

    def stop_training(self) -> None:
        self.training, self.recorded = None, None


class WiseRouters(Attached[Router]):
    """A model's WISE routers (its slot in `lm.method_state`): every edit of a model shares one side memory
    per projection."""


def router_for(lm: LoadedModel, name: str) -> Router:
    return lm.method_state.of(WiseRouters).attach(name, lambda: Router(lm, name, mlp_activation(lm)))


def active_routers(lm: LoadedModel) -> list[Router]:
    """The routers attached to `lm`'s modules now (none once every edit is restored)."""
    return lm.method_state.of(WiseRouters).active()


def out_of_scope_batch(lm: LoadedModel, edit: Edit, hp: WiseHParams):
    """Model-generated text in the edit's language (ROME's prefixes), tokenised with its attention mask."""
    from polyedit.methods.locate_then_edit.rank_one import context_prefixes

    texts = context_prefixes(lm, edit.lang, hp.out_of_scope, hp.out_of_scope_tokens, hp.seed)
    if not texts:
        return None
    return lm.tokenizer(texts, return_tensors="pt", padding=True).to(lm.device)


@register_method
class WISE(EditMethod):
    name = "wise"
    description = "WISE: a side memory of one MLP projection, routed by activation, in merged knowledge shards"
    hparams_class = WiseHParams
    supports_batch = True

    def apply(self, lm: LoadedModel, edits: list[Edit]) -> EditHandle:
        hp = self.resolved(lm)
        name = lm.arch.mlp_out[hp.layer]
        router = router_for(lm, name)
        router.act_ratio = hp.act_ratio
        handle = SideMemoryHandle(lm, lm.method_state.of(WiseRouters), router,
                                  {"layer": hp.layer, "module": name, "edits": []})
        for edit in edits:  # one after another, as the reference edits
            handle.info["edits"].append(self._edit(lm, router, edit, hp))
        mem = router.memory
        if mem.edits >= hp.save_freq:  # EasyEdit's merge before inference: whatever shards there are
            if bool(mem.side.any()):
                mem.set_aside()
            if mem.shards:
                mem.merge(hp.merge_weight, hp.density)
        handle.info.update({"threshold": mem.threshold(hp.act_ratio), "shards": len(mem.shards),
                            "merges": mem.merges, "state_bytes": mem.nbytes()})
        return handle

    def state_bytes(self, handle: EditHandle) -> int:
        """The side memory: merged memory, the shard in training, its mask, shards set aside, scores."""
        return handle.memory.memory.nbytes()  # the handle's memory is the router, whose memory the side memory

    def _edit(self, lm: LoadedModel, router: Router, edit: Edit, hp: WiseHParams) -> dict:
        mem = router.memory
        if mem.mask is None or mem.edits % hp.save_freq == 0:  # a new shard: a new random mask
            gen = torch.Generator().manual_seed(hp.seed + mem.edits)
            mem.mask = shard_mask(tuple(mem.side.shape), hp.mask_ratio, gen).to(mem.side.device)
        loss, steps, score = self._train(lm, router, edit, hp)
        mem.scores.append(score)
        mem.edits += 1
        if mem.edits % hp.save_freq == 0:
            mem.set_aside()
        if mem.edits % hp.merge_freq == 0 and mem.shards:
            mem.merge(hp.merge_weight, hp.density)
        return {"loss": loss, "steps": steps, "activation": score}

    @staticmethod
    def _scores(lm: LoadedModel, router: Router, ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
        logits = lm.model(input_ids=ids, attention_mask=mask).logits
        main, side = router.recorded
        return logits, row_scores(activation_scores(main, side, router.act), mask, infer=False)

    def _train(self, lm: LoadedModel, router: Router, edit: Edit, hp: WiseHParams) -> tuple[float, int, float]:
        mem = router.memory
        batch, outside = edit_batch(lm, [edit]), out_of_scope_batch(lm, edit, hp)
        delta = mem.side.clone().requires_grad_(True)
        router.training = delta
        loss_value, steps, score = math.nan, 0, math.nan
        try:
            with trainable(lm.model, []):  # only the shard learns; the weights get no gradient
                for step in range(hp.steps + 1):
                    logits, inside = self._scores(lm, router, batch.input_ids, batch.attention_mask)
                    out = (self._scores(lm, router, outside["input_ids"], outside["attention_mask"])[1]
                           if outside is not None else inside.new_zeros(0))
                    loss = mean_target_nll(logits, batch) + margin_loss(inside, out, hp.alpha, hp.beta, hp.gamma)
                    loss_value, score = loss.item(), inside.mean().item()
                    if loss_value < hp.early_stop_loss or step == hp.steps or not math.isfinite(loss_value):
                        break
                    grad, = torch.autograd.grad(loss, delta)
                    with torch.no_grad():  # SGD on the shard's entries only, within ±norm_constraint
                        delta -= hp.lr * grad * mem.mask
                        delta.clamp_(-hp.norm_constraint, hp.norm_constraint)
                    steps = step + 1
        finally:
            router.training, router.recorded = None, None
        if not bool(torch.isfinite(delta).all()):
            raise PolyeditError("wise: the trained side memory is not finite; try a smaller lr")
        mem.side = delta.detach()
        return loss_value, steps, score
