"""Module location on the families editing research runs on (tiny random models saved and loaded as a user
would): found from the structure, fused gate_up rows split as the unfused model's, mixture-of-experts layers
named, post-norm blocks written exactly, an explicit override honoured, an appended EOS kept out of generation."""

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.models.arch import find_architecture
from polyedit.models.load import LoadedModel

# What the structure must give, written out by hand per family (the code never sees these names):
# (MLP input projection, gate rows of a fused one, output projection, post-MLP norm) of block 1.
EXPECTED = {
    "llama": ("mlp.gate_proj", None, "mlp.down_proj", None),
    "qwen3": ("mlp.gate_proj", None, "mlp.down_proj", None),  # attention 2 x 24 = 48 wide, hidden 32
    "gemma2": ("mlp.gate_proj", None, "mlp.down_proj", "post_feedforward_layernorm"),
    "gemma3": ("mlp.gate_proj", None, "mlp.down_proj", "post_feedforward_layernorm"),
    "gemma3_mm": ("mlp.gate_proj", None, "mlp.down_proj", "post_feedforward_layernorm"),
    "olmo2": ("mlp.gate_proj", None, "mlp.down_proj", "post_feedforward_layernorm"),
    "cohere": ("mlp.gate_proj", None, "mlp.down_proj", None),
    "phi3": ("mlp.gate_up_proj", slice(0, 80), "mlp.down_proj", None),
    "xglm": ("fc1", None, "fc2", None),
    "gptj": ("mlp.fc_in", None, "mlp.fc_out", None),
    "falcon": ("mlp.dense_h_to_4h", None, "mlp.dense_4h_to_h", None),
    "falcon_new": ("mlp.dense_h_to_4h", None, "mlp.dense_4h_to_h", None),
}


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_modules_located_from_the_structure(family, arch_lm):
    lm = arch_lm(family)
    a = lm.arch
    mlp_in, rows, mlp_out, norm = EXPECTED[family]
    blocks = a.blocks_path
    assert a.mlp_in[1] == f"{blocks}.1.{mlp_in}" and a.mlp_out[1] == f"{blocks}.1.{mlp_out}"
    assert a.gate_rows[1] == (rows or slice(None))
    assert a.post_norm[1] == (f"{blocks}.1.{norm}" if norm else None)
    assert not a.moe


@pytest.mark.parametrize("family,shared", [("mixtral", None), ("qwen2_moe", "model.layers.1.mlp.shared_expert"),
                                           ("qwen3_moe", None)])
def test_mixture_of_experts_is_named_and_refused_in_one_line(family, shared, arch_lm):
    a = arch_lm(family).arch
    moe = a.moe[1]
    assert (moe.module, moe.experts, moe.n_experts, moe.shared) == (
        "model.layers.1.mlp", "model.layers.1.mlp.experts", 4, shared)
    for per_layer in (a.mlp_out, a.mlp_in):
        with pytest.raises(PolyeditError, match=r"model\.layers\.1\.mlp is a mixture of 4 experts") as e:
            per_layer[1]
        assert "\n" not in str(e.value)
    # fine-tuning reaches every routed expert's output projection, and the shared expert's: recorded
    names = a.mlp_out_weights([1], experts=True)
    assert names == ["model.layers.1.mlp.experts.down_proj"] + ([f"{shared}.down_proj.weight"] if shared else [])
    assert a.experts_note([1])["experts"]["1"]["shared"] == shared


def _unfused_twin(phi3):
    """A Llama model with Phi-3's weights, its fused qkv_proj and gate_up_proj split into separate projections:
    the same function, written the way every other family writes it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    c = phi3.config
    twin = LlamaForCausalLM(LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, max_position_embeddings=c.max_position_embeddings,
        rms_norm_eps=c.rms_norm_eps, rope_parameters=c.rope_parameters, tie_word_embeddings=c.tie_word_embeddings,
        bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id, pad_token_id=c.pad_token_id)).eval()
    src = phi3.state_dict()
    d, kv = c.hidden_size, c.num_key_value_heads * (c.hidden_size // c.num_attention_heads)
    out = {}
    for name, t in src.items():
        if name.endswith("qkv_proj.weight"):
            base = name[:-len("qkv_proj.weight")]
            out[base + "q_proj.weight"], out[base + "k_proj.weight"], out[base + "v_proj.weight"] = t.split([d, kv, kv])
        elif name.endswith("gate_up_proj.weight"):
            base = name[:-len("gate_up_proj.weight")]
            out[base + "gate_proj.weight"], out[base + "up_proj.weight"] = t.chunk(2)
        else:
            out[name] = t
    twin.load_state_dict(out)
    return twin


def test_fused_gate_up_neurons_equal_the_unfused_models(arch_lm):
    from polyedit.methods.knowledge_neurons.attribution import GradientRow, last_position_activations, row_gradients

    phi3 = arch_lm("phi3")
    twin = LoadedModel(_unfused_twin(phi3.model), phi3.tokenizer, "unfused")
    ids = torch.tensor([[5, 9, 14, 3]])
    assert torch.allclose(phi3.model(input_ids=ids).logits, twin.model(input_ids=ids).logits, atol=1e-5)
    assert twin.arch.mlp_in[1].endswith("mlp.gate_proj") and phi3.arch.mlp_in[1].endswith("mlp.gate_up_proj")
    seqs = [(5, 9, 14, 3), (7, 8, 20)]
    acts = last_position_activations(phi3, seqs)
    assert acts.shape == (2, 3, 80)
    assert torch.allclose(acts, last_position_activations(twin, seqs), atol=1e-5)

    from polyedit.methods.knowledge_neurons.attribution import AttributionInput

    x = AttributionInput(ids=(5, 9, 14, 3), target=11)
    rows = [GradientRow(x, layer, acts[0, layer] * 0.5) for layer in range(3)]
    fused, plain = row_gradients(phi3, rows), row_gradients(twin, rows)
    assert fused.abs().max() > 0 and torch.allclose(fused, plain, atol=1e-6)


@pytest.mark.parametrize("family", ["olmo2", "gemma2", "gemma3", "llama", "cohere"])
def test_post_norm_block_output_changes_as_intended(family, arch_model_dirs):
    """The MEMIT family's target z lives where the update writes (in a post-norm block the MLP output
    projection's output, before the norm; elsewhere the block output, which the MLP output reaches unchanged),
    so the block output after an exact write equals the block output the optimisation intended: off-target
    component below 1e-4 of the intended change (z at the block output of a post-norm block: 18% on OLMo-2,
    50% on Gemma-2)."""
    from polyedit.data.cases import Edit
    from polyedit.methods.locate_then_edit.mass_edit import MassEditHParams, bare_prompt_outputs, spread_edits
    from polyedit.methods.locate_then_edit.rank_one import fact_contexts
    from polyedit.models import load_model
    from polyedit.models.hooks import trace

    lm = load_model(str(arch_model_dirs[family]))
    lm.model.double()  # the write is exact; float64 keeps rounding far below the 1e-4 asked
    edit = Edit("en", "France", "The capital of France is", "Berlin", "Paris")
    hp = MassEditHParams(layers=[1], prefixes=0, v_steps=4, v_lr=2.0, clamp_norm_factor=50.0)
    contexts = [fact_contexts(lm, edit, [])]
    block = lm.arch.block(1)
    before = bare_prompt_outputs(lm, 1, contexts).double()

    def exact(layer, keys, residual, w):  # ΔW k = R exactly (one fact, its bare-prompt key)
        k = keys.double()
        return (residual.double().T @ k / (k @ k.T)).to(w.dtype)

    params = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    spread = spread_edits(lm, hp, [edit], exact)
    module = spread.info["z_module"]
    assert module == (lm.arch.mlp_out[1] if lm.arch.post_norm[1] else block)
    after = bare_prompt_outputs(lm, 1, contexts).double()
    with torch.no_grad():
        for n, p in lm.model.named_parameters():
            p.copy_(params[n])
    pos = contexts[0].lookup[0]

    def put_z(_name, out):
        out = out.clone()
        out[0, pos] = spread.z[0].to(out.dtype)
        return out

    ids = torch.tensor([lm.tokenizer(edit.prompt)["input_ids"]])
    with torch.no_grad(), trace(lm.model, [module], edit_output=put_z), trace(lm.model, block) as t:
        lm.model(input_ids=ids)
    intended = t[block].output[0, pos].double()
    change = intended - before[0]
    assert change.norm() > 1e-3
    assert (after[0] - intended).norm() / change.norm() < 1e-4


def test_post_norm_refuses_a_spread_over_several_layers(arch_lm):
    from polyedit.data.cases import Edit
    from polyedit.methods import get_method

    lm = arch_lm("olmo2")
    refusal = r"memit: model\.layers\.0\.post_feedforward_layernorm normalises .* one layer"
    with pytest.raises(PolyeditError, match=refusal):
        get_method("memit", {"layers": [0, 1], "prefixes": 0, "v_steps": 1}).apply(
            lm, [Edit("en", "France", "The capital of France is", "Berlin", "Paris")])


def test_post_norm_default_range_is_its_last_layer():
    from types import SimpleNamespace

    from polyedit.methods.locate_then_edit.mass_edit import MassEditHParams, default_layers

    def model(post_norm):
        arch = SimpleNamespace(n_layers=12, intermediate_size=80, post_norm=[post_norm] * 12)
        return SimpleNamespace(arch=arch)

    assert default_layers(12) == [1, 2, 3, 4]
    assert MassEditHParams().resolve_range(model(None), "memit").layers == [1, 2, 3, 4]
    assert MassEditHParams().resolve_range(model("post_feedforward_layernorm"), "memit").layers == [4]
    assert MassEditHParams(layers=[2, 3]).resolve_range(model("norm"), "memit").layers == [2, 3]  # refused later


def test_module_override_is_honoured(arch_lm):
    qwen2_moe = arch_lm("qwen2_moe").model
    shared = find_architecture(qwen2_moe, {"mlp_out": "model.layers.{layer}.mlp.shared_expert.down_proj"})
    assert shared.mlp_out[1] == "model.layers.1.mlp.shared_expert.down_proj"
    assert shared.mlp_in[1] == "model.layers.1.mlp.shared_expert.gate_proj" and not shared.moe
    with pytest.raises(PolyeditError, match=r"--modules mlp_out=model.layers.\{layer\}.mlp.nothing: .* not a Linear"):
        find_architecture(qwen2_moe, {"mlp_out": "model.layers.{layer}.mlp.nothing"})
    with pytest.raises(PolyeditError, match="not to the hidden size"):
        find_architecture(qwen2_moe, {"mlp_out": "model.layers.{layer}.mlp.shared_expert.up_proj"})


def test_lora_target_modules_run_on_a_mixture_of_experts(arch_lm):
    from polyedit.data.cases import Edit
    from polyedit.methods import get_method

    lm = arch_lm("mixtral")
    target = "model.layers.1.self_attn.o_proj"
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    handle = get_method("lora", {"target_modules": [target], "steps": 2}).apply(
        lm, [Edit("en", "France", "The capital of France is", "Berlin", "Paris")])
    changed = [n for n, p in lm.model.named_parameters() if not torch.equal(p, before[n])]
    handle.restore()
    assert changed == [f"{target}.weight"]
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())


def _eos_appending(tokenizer):
    from tokenizers import processors

    tok = tokenizer.backend_tokenizer
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return tokenizer


def test_an_appended_eos_is_kept_out_of_generation(arch_model_dirs):
    import copy

    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend

    lm = load_model(str(arch_model_dirs["llama"]))
    plain = lm.tokenizer
    appending = _eos_appending(copy.deepcopy(plain))
    prompts = ["The capital of France is", "Berlin ist die Hauptstadt von", "巴黎是"]
    assert appending(prompts[0])["input_ids"][-1] == appending.eos_token_id  # the tokenizer does append
    want = [g.text for g in HFBackend(lm).generate(prompts, 6)]
    got = [g.text for g in HFBackend(LoadedModel(lm.model, appending, "eos")).generate(prompts, 6)]
    assert got == want


def test_edit_cli_names_the_moe_layer_and_honours_modules(arch_model_dirs, tmp_path, capsys):
    from polyedit.cli.main import main

    hp = tmp_path / "fast.yaml"
    hp.write_text("prefixes: 0\nv_steps: 2\n")
    base = ["edit", "--method", "rome", "--hparams", str(hp), "--prompt", "The capital of France is",
            "--subject", "France", "--target-new", "Berlin", "--max-new-tokens", "2"]
    model = ["--model", str(arch_model_dirs["qwen2_moe"])]
    capsys.readouterr()  # building the model may have written a progress bar
    for extra, message in [([], "layer 1's MLP model.layers.1.mlp is a mixture of 4 experts"),
                           (["--modules", "down=x"], "--modules 'down=x': expected mlp_in=NAME, mlp_out=NAME")]:
        assert main(base + model + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err and "Traceback" not in err, err
    # the shared expert, named: ROME writes it
    shared = "mlp_out=model.layers.{layer}.mlp.shared_expert.down_proj"
    assert main(base + model + ["--modules", shared]) == 0
    assert "rome edit (en)" in capsys.readouterr().out


def test_experts_as_a_list_of_mlps_are_found(arch_model_dirs):
    """The older layout (Mixtral before transformers 5): one MLP module per expert, as many as the config says."""
    import copy

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(arch_model_dirs["llama"]).eval()
    dense = model.model.layers[1].mlp

    class ListedExperts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = torch.nn.Linear(32, 2, bias=False)
            self.experts = torch.nn.ModuleList([copy.deepcopy(dense), copy.deepcopy(dense)])

        def forward(self, x):
            weights = self.gate(x).softmax(-1)
            return sum(weights[..., i:i + 1] * e(x) for i, e in enumerate(self.experts))

    model.model.layers[1].mlp = ListedExperts()
    model.config.num_local_experts = 2
    a = find_architecture(model)
    assert a.moe[1].down_params == ("model.layers.1.mlp.experts.0.down_proj.weight",
                                    "model.layers.1.mlp.experts.1.down_proj.weight")
    assert a.mlp_out[2] == "model.layers.2.mlp.down_proj"
    with pytest.raises(PolyeditError, match="mixture of 2 experts"):
        a.mlp_out[1]


def test_refusals_name_their_fix(arch_model_dirs, capsys):
    """Without a stats corpus C = I has no null space (AlphaEdit, LangEdit); `polyedit edit` has no dataset to
    take IKE's demonstrations from: each refusal names the option that fixes it."""
    from polyedit.cli.main import main

    model = str(arch_model_dirs["llama"])
    capsys.readouterr()
    edit = ["--prompt", "The capital of France is", "--subject", "France", "--target-new", "Berlin"]
    for method, message in [("alphaedit", "no stats_corpus given, so C = I, which has no null space to edit in; "
                                          "compute C with `polyedit stats"),
                            ("langedit", "set stats_corpus: SPEC"),
                            ("ike", "set corpus: SPEC (edits to build them from) or pool: zsre|counterfact|wikifactdiff "
                                    "(in --hparams FILE)")]:
        assert main(["edit", "--model", model, "--method", method, *edit, "--max-new-tokens", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err
