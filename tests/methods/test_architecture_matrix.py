"""Every registered method crossed with tiny models of every family editing research runs on (tests/helpers/tiny_models.py
`ARCH_FAMILIES`, saved and loaded as a user loads a hub model), one edit per cell. A cell either

- edits: every parameter it changed is an MLP output projection (an expert's in a mixture of experts), and
  `restore()` gives the weights back bit-identical;
- hooks (a side memory, GRACE): nothing changes, and the hooked module is the MLP output projection;
- edits in context: nothing in the model changes;
- or refuses in one line that `REFUSALS` below records.

Never a traceback, never a parameter outside the MLP (an attention projection, say). The methods come from the
registry, so a new method is crossed with every family without touching this file; a new refusal fails until
it is recorded here.
"""

import re

import pytest
import torch

from polyedit.data.cases import Edit
from polyedit.errors import PolyeditError
from polyedit.methods import get_method, method_names
from helpers.tiny_models import ARCH_FAMILIES
from helpers.fast import FEWEST_STEPS

#: the blocks and the MLP output projection of each family, written out by hand (the code never sees them)
BLOCKS = {"gpt2": "transformer.h", "bloom": "transformer.h", "gptj": "transformer.h", "falcon": "transformer.h",
          "gpt_neox": "gpt_neox.layers", "gemma3_mm": "model.language_model.layers"}
OUTPUT = {"gpt2": "mlp.c_proj", "bloom": "mlp.dense_4h_to_h", "gpt_neox": "mlp.dense_4h_to_h",
          "falcon": "mlp.dense_4h_to_h", "gptj": "mlp.fc_out", "xglm": "fc2"}
MOE = {"mixtral", "qwen2_moe", "qwen3_moe"}
#: what an expert-editing cell may change: every routed expert's output projection, and the shared expert's
EXPERT_OUTPUTS = r"mlp\.(experts\.down_proj|shared_expert\.down_proj\.weight)"

#: the fewest steps that still edit (applied where a method has the field): one edit per cell, tiny widths

ONE_DENSE_PROJECTION = r"layer \d's MLP model\.layers\.\d\.mlp is a mixture of 4 experts .*does not edit experts"
#: (families, method pattern) -> the one-line refusal
REFUSALS = {
    (frozenset(MOE), r"alphaedit|emmet|grace|kn|langedit|lora|memit|memit-sum|memla.*|rome|ultraedit|wise"): ONE_DENSE_PROJECTION,
    # BloomConfig names no activation (BLOOM's GELU is hard-wired), and WISE's routing score compares activations
    (frozenset({"bloom"}), r"wise"): r"wise: the model config names no MLP activation",
    (frozenset(ARCH_FAMILIES), r"ike"): r"ike: the dataset of case 'edit-0' declares no demonstrations; set corpus",
}
#: methods that may leave the weights as they were on this single English edit, and why
NO_WEIGHT_CHANGE = {"memla-specific": "the control edits language-specific neurons; with one pivot language every "
                                      "neuron is language-independent (recorded in info.neurons)"}

EDIT = Edit("en", "France", "The capital of France is", "Berlin", "Paris")
_CELLS: dict = {}


def intended(family: str) -> re.Pattern:
    blocks = re.escape(BLOCKS.get(family, "model.layers"))
    out = EXPERT_OUTPUTS if family in MOE else re.escape(OUTPUT.get(family, "mlp.down_proj")) + r"\.weight"
    return re.compile(rf"{blocks}\.\d+\.{out}")


def expected_refusal(family: str, method: str) -> str | None:
    for (families, methods), message in REFUSALS.items():
        if family in families and re.fullmatch(methods, method):
            return message
    return None


def run_cell(lm, method: str) -> dict:
    """One edit, what it changed, and whether restore() gave every weight back."""
    m = get_method(method, {})
    fields = m.hparams_class.help()
    m = get_method(method, {k: v for k, v in FEWEST_STEPS.items() if k in fields})
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    try:
        handle = m.apply(lm, [EDIT])
    except PolyeditError as e:
        return {"refused": str(e)}
    changed = [n for n, p in lm.model.named_parameters() if not torch.equal(p, before[n])]
    handle.restore()
    restored = all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
    return {"changed": changed, "restored": restored, "hooked": handle.info.get("module"),
            "in_context": m.edits_in_context}


@pytest.fixture(scope="module")
def cell(arch_lm):
    def get(family, method):
        if (family, method) not in _CELLS:
            torch.manual_seed(0)
            _CELLS[family, method] = run_cell(arch_lm(family), method)
        return _CELLS[family, method]

    return get


@pytest.mark.parametrize("family", ARCH_FAMILIES)
@pytest.mark.parametrize("method", method_names())
def test_cell(family, method, cell):
    result = cell(family, method)
    want = expected_refusal(family, method)
    if "refused" in result:
        assert want is not None, f"{method} on {family} refused, unrecorded: {result['refused']}"
        assert re.search(want, result["refused"]) and "\n" not in result["refused"], result["refused"]
        return
    assert want is None, f"{method} on {family} ran; the table expects a refusal ({want})"
    assert result["restored"], f"{method} on {family}: restore() did not give the weights back"
    stray = [n for n in result["changed"] if not intended(family).fullmatch(n)]
    assert not stray, f"{method} on {family} changed {stray}, outside the MLP output projections"
    if result["in_context"]:
        assert not result["changed"]
    elif result["hooked"] is not None:
        assert intended(family).fullmatch(result["hooked"] + ".weight"), result["hooked"]
    else:
        assert result["changed"] or method in NO_WEIGHT_CHANGE, f"{method} on {family} changed nothing"


@pytest.mark.parametrize("method", method_names())
def test_qwen3_moe_no_method_writes_attention(method, cell):
    """Qwen3-MoE's attention is wider than its hidden size and its experts are fused 3-d parameters: a
    shape-only finder took `self_attn.o_proj` for the MLP output. No method may touch attention here."""
    result = cell("qwen3_moe", method)
    if "refused" in result:
        assert "self_attn" not in result["refused"]
        return
    assert not [n for n in result["changed"] if "self_attn" in n]
    assert result["hooked"] is None or "self_attn" not in result["hooked"]


SHARED_EXPERT = "model.layers.{layer}.mlp.shared_expert.down_proj"


@pytest.fixture(scope="module")
def shared_expert_lm(arch_model_dirs):
    from polyedit.models import load_model

    return load_model(str(arch_model_dirs["qwen2_moe"]), modules={"mlp_out": SHARED_EXPERT})


@pytest.mark.parametrize("method", method_names())
def test_every_method_honours_the_module_override(method, shared_expert_lm):
    """`--modules` (here Qwen2-MoE's shared expert, which runs on flattened tokens) replaces the located
    projections for every method: the MoE refusals give way to edits of exactly the named module."""
    torch.manual_seed(0)
    result = run_cell(shared_expert_lm, method)
    if "refused" in result:  # only what refuses on every family
        assert expected_refusal("llama", method) and re.search(expected_refusal("llama", method), result["refused"])
        return
    named = re.compile(r"model\.layers\.\d\.mlp\.shared_expert\.down_proj")
    assert result["restored"] and all(named.fullmatch(n.removesuffix(".weight")) for n in result["changed"])
    assert result["changed"] or result["in_context"] or result["hooked"] or method in NO_WEIGHT_CHANGE
    assert result["hooked"] is None or named.fullmatch(result["hooked"])
