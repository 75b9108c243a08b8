"""AlphaEdit and the per-language null-space editor inside a model: the update each layer got lies in its null
space, the written keys are remembered and later edits keep them, and `restore()` forgets them with the
weights (bit-identical)."""

import torch

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.alphaedit.alphaedit_main import Projectors
from polyedit.methods.locate_then_edit.null_space import key_memory
from polyedit.methods.locate_then_edit.rank_one import fact_contexts, subject_keys
from polyedit.models.arch import weight_out_in
from helpers.weights import state_hash

EN = Edit("en", "Paris", "The capital of France is Paris and", "Berlin")
DE = Edit("de", "Berlin", "Berlin ist die Hauptstadt von", "Italien")
ZH = Edit("zh", "巴黎", "巴黎是法国的", "首都")
HP = {"stats_corpus": "identity", "prefixes": 0, "v_steps": 10, "v_lr": 0.5, "clamp_norm_factor": 50.0,
      "v_weight_decay": 0.0, "kl_factor": 0.0, "fact_token": "prompt_last", "nullspace_fraction": 0.5, "l2": 0.01,
      "layers": [0, 1]}


def weights(lm, layers):
    return {layer: weight_out_in(lm.model.get_submodule(lm.arch.mlp_out[layer])).detach().double().clone()
            for layer in layers}


def test_each_layers_update_lies_in_its_null_space_and_restore_forgets_the_keys(tiny_model_dirs):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    before, w0 = state_hash(lm.model), weights(lm, [0, 1])
    handle = get_method("alphaedit", HP).apply(lm, [EN, ZH])
    w1 = weights(lm, [0, 1])
    projectors = lm.method_state.of(Projectors)
    for layer in (0, 1):
        p = next(v[0] for k, v in projectors.items() if k[0] == layer).double()
        delta = w1[layer] - w0[layer]
        assert delta.abs().max() > 1e-4
        # ΔW (I − P) = 0 up to the float32 weights' rounding
        assert (delta - delta @ p).abs().max() < 1e-5 * w0[layer].abs().max()
        assert handle.info["null_space"][str(layer)]["null_space_dims"] == lm.arch.intermediate_size // 2
    memory = key_memory(lm)
    assert [(layer, lang, len(k)) for layer, lang, k in memory.log] == [(0, "en", 1), (0, "zh", 1), (1, "en", 1),
                                                                        (1, "zh", 1)]
    handle.restore()
    assert state_hash(lm.model) == before and memory.log == []


def test_a_later_edit_keeps_the_earlier_keys_outputs(tiny_model_dirs):
    """The second edit's change to the layer's output on the first edit's keys is much smaller with the first
    edit's keys in K_p than without (remember_edits: false). A tiny α: a random model's keys of two prompts are
    nearly parallel, and the ridge would otherwise outweigh keeping them apart."""
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["qwen2"]))
    drift = {}
    for remember in (True, False):
        hp = HP | {"remember_edits": remember, "l2": 1e-6}
        first = get_method("alphaedit", hp).apply(lm, [EN])
        keys = {layer: k for layer, _, k in key_memory(lm).log} if remember else None
        ctx = [fact_contexts(lm, EN, [], "prompt_last")]
        k_en = {layer: subject_keys(lm, layer, ctx, "grouped").double() for layer in (0, 1)}
        if keys is not None:  # what was remembered are the keys the edit wrote
            assert all(torch.allclose(keys[layer], k_en[layer], atol=1e-5) for layer in (0, 1))
        w_mid = weights(lm, [1])[1]
        second = get_method("alphaedit", hp).apply(lm, [DE])
        drift[remember] = ((weights(lm, [1])[1] - w_mid) @ k_en[1].T).norm().item()
        second.restore()
        first.restore()
    assert drift[True] < 0.2 * drift[False], drift


def test_langedit_writes_language_by_language_with_its_own_null_space(tiny_model_dirs):
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))
    before = state_hash(lm.model)
    first = get_method("langedit", HP).apply(lm, [EN])
    handle = get_method("langedit", HP).apply(lm, [ZH, DE, Edit("zh", "北京", "北京是中国的", "首都")])
    assert handle.info["language_order"] == ["zh", "de"]
    null = handle.info["null_space"]
    assert null["zh"]["0"]["preserved_edit_keys"] == 1  # English, written before
    assert null["de"]["0"]["preserved_edit_keys"] == 3  # English and the two Chinese edits of this call
    assert [lang for layer, lang, _ in key_memory(lm).log if layer == 0] == ["en", "zh", "de"]
    handle.restore()
    assert [lang for _, lang, _ in key_memory(lm).log] == ["en", "en"]
    first.restore()
    assert state_hash(lm.model) == before and key_memory(lm).log == []
