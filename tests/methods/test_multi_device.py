"""Editors with layers on different devices: every tensor an update is computed from follows its weight's
own device, not the device the inputs go to (`lm.device`).

Without two accelerators here, one layer's MLP output weight is moved to PyTorch's `meta` device (shapes
only, no data): an operation mixing a `meta` and a `cpu` tensor raises, so a second moment or an update put
on the input device instead of the weight's fails these tests. The whole ROME/MEMIT edit across two CUDA
devices is `benchmarks/gpu_check.py`'s multi-device section (it cannot run on `meta`: v* is optimised on
real activations).
"""

import torch

from polyedit.methods.memit.update import batch_update
from polyedit.methods.rome.update import rank_one_update
from polyedit.methods.locate_then_edit.second_moment import IDENTITY, SecondMoments, second_moments
from polyedit.models.arch import weight_out_in


def _split(lm, layer: int) -> torch.Tensor:
    """Move `layer`'s MLP output projection to `meta`; its (out, in) weight view."""
    module = lm.model.get_submodule(lm.arch.mlp_out[layer])
    module.to("meta")
    return weight_out_in(module)


def test_second_moments_lie_beside_each_layer(tmp_path):
    from polyedit.models.load import load_model

    lm = load_model("world:small")
    layers = [0, lm.arch.n_layers - 1]
    second_moments(lm, layers, "world", n_tokens=64, cache_dir=tmp_path)  # cached on disk, on the cpu
    lm.method_state.forget(SecondMoments)  # read the cache again rather than the in-process memo
    _split(lm, layers[1])
    for corpus in (IDENTITY, "world"):
        cs = second_moments(lm, layers, corpus, n_tokens=64, cache_dir=tmp_path)
        assert cs[layers[0]].device.type == "cpu" and cs[layers[1]].device.type == "meta", corpus


def test_rank_one_update_is_computed_on_the_weights_device():
    from polyedit.models.load import load_model

    lm = load_model("world:small")
    w = _split(lm, 1)
    d_out, d_ff = w.shape
    c, k, v = torch.eye(d_ff), torch.randn(d_ff), torch.randn(d_out)  # made where the inputs are: cpu
    delta = rank_one_update(w, c, k, v, k + 1)
    assert delta.device.type == "meta" and delta.shape == w.shape


def test_memit_batch_update_follows_the_keys_device():
    d_ff, d_out, n = 12, 8, 3
    keys = torch.randn(n, d_ff, device="meta")  # read at the layer: its device
    delta = batch_update(torch.eye(d_ff), keys, torch.randn(n, d_out), 1.0)  # C and R made on the cpu
    assert delta.device.type == "meta" and delta.shape == (d_out, d_ff)
