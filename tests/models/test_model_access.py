import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.models import load_model
from polyedit.models.arch import is_transposed, weight_out_in
from polyedit.models.hooks import trace
from polyedit.models.tokens import encode_with_target, subject_span
from helpers.tiny_models import tiny_tokenizer

# What introspection must find, written out by hand per family (the code itself never sees these names).
EXPECTED = {
    "gpt2": ("transformer.h", "mlp.c_fc", None, "mlp.c_proj", "transformer.ln_f"),
    "llama": ("model.layers", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "model.norm"),
    "qwen2": ("model.layers", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "model.norm"),
    "gpt_neox": ("gpt_neox.layers", "mlp.dense_h_to_4h", None, "mlp.dense_4h_to_h", "gpt_neox.final_layer_norm"),
    "bloom": ("transformer.h", "mlp.dense_h_to_4h", None, "mlp.dense_4h_to_h", "transformer.ln_f"),
}


def test_architecture_found_by_introspection(tiny_lm):
    family = tiny_lm.model.config.model_type
    blocks, mlp_in, mlp_up, mlp_out, norm = EXPECTED[family]
    a = tiny_lm.arch
    assert a.blocks_path == blocks and a.n_layers == 3
    assert a.mlp_in[1] == f"{blocks}.1.{mlp_in}"
    assert a.mlp_up[1] == (f"{blocks}.1.{mlp_up}" if mlp_up else None)
    assert a.mlp_out[2] == f"{blocks}.2.{mlp_out}"
    assert a.final_norm == norm
    out = tiny_lm.model.get_submodule(a.mlp_out[0])
    assert weight_out_in(out).shape == (a.hidden_size, a.intermediate_size)
    assert is_transposed(out) == (family == "gpt2")


def test_trace_reads_and_edits(tiny_lm):
    ids = torch.tensor([[5, 6, 7, 8]])
    name = tiny_lm.arch.mlp_out[1]
    with trace(tiny_lm.model, name, retain_input=True) as t:
        base = tiny_lm.model(input_ids=ids).logits
    assert t[name].input.shape[-1] == tiny_lm.arch.intermediate_size
    assert t[name].output.shape[-1] == tiny_lm.arch.hidden_size
    with trace(tiny_lm.model, name, edit_output=lambda n, o: o * 0):
        zeroed = tiny_lm.model(input_ids=ids).logits
    assert not torch.allclose(base, zeroed)
    assert torch.equal(tiny_lm.model(input_ids=ids).logits, base)  # hooks removed


class _ByKeyword(torch.nn.Module):
    """Calls its projection with the input by keyword, `proj(input=x)`, as some model code does."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 2)

    def forward(self, x):
        return self.proj(input=x)


@pytest.mark.parametrize("keyword", [True, False])
def test_trace_edits_an_input_given_by_keyword_or_by_position(keyword):
    m = _ByKeyword()
    x = torch.ones(1, 3, 2)
    call = m if keyword else (lambda v: m.proj(v))
    with torch.no_grad(), trace(m, "proj", retain_input=True, edit_input=lambda n, v: v * 0) as t:
        out = call(x)
    assert torch.equal(out, m.proj.bias.detach().expand_as(out))  # W·0 + b: the edit reached the module
    assert torch.equal(t["proj"].input, torch.zeros_like(x))


def test_bad_model_paths(tmp_path):
    with pytest.raises(PolyeditError, match="does not exist"):
        load_model("./no/such/model")
    with pytest.raises(PolyeditError, match="has no config.json"):
        load_model(str(tmp_path))


def test_pickled_weights_are_refused(tiny_model_dirs, tmp_path):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["llama"])
    m.config.save_pretrained(tmp_path)
    torch.save(m.state_dict(), tmp_path / "pytorch_model.bin")  # the pickled format of older checkpoints
    tiny_tokenizer().save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.safetensors"))
    with pytest.raises(PolyeditError, match="cannot load model"):
        load_model(str(tmp_path))


def _bos_tokenizer():
    from tokenizers.processors import TemplateProcessing

    tok = tiny_tokenizer()
    fast = tok.backend_tokenizer.__class__.from_str(tok.backend_tokenizer.to_str())
    fast.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=fast, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


@pytest.mark.parametrize("tokenizer", [tiny_tokenizer, _bos_tokenizer])
def test_target_tokens_found_without_space_assumptions(tokenizer):
    tok = tokenizer()
    for ctx, cont in [("The capital of France is", " Paris"), ("巴黎是", "法国"), ("กรุงเทพเป็น", "เมืองหลวง")]:
        e = encode_with_target(tok, ctx, cont)
        assert tok.decode(e.target_ids) == cont
        assert tok.decode(e.ids[:e.n_context], skip_special_tokens=True) == ctx
    e = encode_with_target(_bos_tokenizer(), "巴黎是", "法国")
    assert e.ids[0] == 0 and e.n_context >= 2  # BOS is context, never the first target token


def test_subject_span_rules():
    tok = tiny_tokenizer()
    s = subject_span(tok, "Danielle Darrieux speaks", "Danielle Darrieux")
    assert s.rule == "exact" and tok.decode(tok("Danielle Darrieux speaks")["input_ids"][s.start:s.end]) == "Danielle Darrieux"
    assert subject_span(tok, "danielle darrieux speaks", "Danielle Darrieux").rule == "casefold"
    assert subject_span(tok, "Darrieuxa mówi", "Danielle Darrieux").rule == "fuzzy"
    last = subject_span(tok, "巴黎是法国的首都", "Paris")
    assert last.rule == "last_token" and last.end == len(tok("巴黎是法国的首都")["input_ids"])


def test_remote_code_is_off_unless_asked(tiny_model_dirs, monkeypatch):
    import transformers

    seen = {}
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(path, **kw):
        seen.update(kw)
        return real(path, **kw)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    load_model(str(tiny_model_dirs["llama"]))
    assert seen["trust_remote_code"] is False and seen["use_safetensors"] is True
    load_model(str(tiny_model_dirs["llama"]), trust_remote_code=True)
    assert seen["trust_remote_code"] is True


def test_pad_right_keeps_positions_and_masks_padding():
    from polyedit.models.tokens import pad_right

    ids, mask = pad_right([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and ids.dtype == torch.long
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
