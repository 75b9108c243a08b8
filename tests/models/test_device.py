"""--device / --dtype / --device-map: resolution, one-line errors, and loading through accelerate."""

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.models.device import resolve_device, resolve_dtype
from polyedit.models.load import load_model


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("polyedit.models.device._mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr("polyedit.models.device._mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")


@pytest.mark.parametrize("spec,words", [("cuda", "CUDA is not available"), ("cuda:1", "CUDA is not available"),
                                        ("mps", "MPS is not available"), ("tpu", "unknown device"),
                                        ("xla", "polyedit runs on cpu, cuda or mps")])
def test_unavailable_device_is_one_line(monkeypatch, spec, words):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("polyedit.models.device._mps_available", lambda: False)
    with pytest.raises(PolyeditError, match=words) as e:
        resolve_device(spec)
    assert "\n" not in str(e.value)


def test_cli_device_cuda_without_cuda_exits_2(monkeypatch, capsys):
    from polyedit.cli.main import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["edit", "--model", "world:small", "--method", "ft-m", "--prompt", "Ana Lind was born in",
               "--subject", "Ana Lind", "--target-new", "Oslo", "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "CUDA is not available" in err


def test_dtype_auto(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_dtype("auto", cpu, None) == torch.float32
    assert resolve_dtype("auto", cpu, torch.bfloat16) == torch.bfloat16  # the checkpoint's own
    assert resolve_dtype("float16", cpu, torch.float32) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", cuda, torch.float32) == torch.bfloat16
    assert resolve_dtype("auto", cuda, torch.float16) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", cuda, torch.bfloat16) == torch.float16
    with pytest.raises(PolyeditError, match="unknown dtype"):
        resolve_dtype("int8", cpu, None)


def test_load_auto_keeps_checkpoint_dtype_and_records_placement(tiny_model_dirs):
    lm = load_model(str(tiny_model_dirs["llama"]))
    assert lm.dtype == torch.float32 and lm.device == torch.device("cpu")
    assert lm.placement() == {"device": "cpu", "devices": ["cpu"], "dtype": "float32"}
    half = load_model(str(tiny_model_dirs["llama"]), dtype="bfloat16")
    assert half.dtype == torch.bfloat16 and half.placement()["dtype"] == "bfloat16"


def test_device_map_loads_through_accelerate(tiny_model_dirs):
    from polyedit.models.backend import HFBackend

    plain = load_model(str(tiny_model_dirs["llama"]))
    mapped = load_model(str(tiny_model_dirs["llama"]), device_map="auto")
    assert "device_map" in mapped.placement()
    reqs = [("The capital of France is", " Paris"), ("Berlin ist", " die Hauptstadt")]
    a, b = HFBackend(plain).score(reqs), HFBackend(mapped).score(reqs)
    assert [r.argmax_ids for r in a] == [r.argmax_ids for r in b]
    with pytest.raises(PolyeditError, match="leave --device at auto"):
        load_model(str(tiny_model_dirs["llama"]), device_map="auto", device="cpu")
    with pytest.raises(PolyeditError, match="unknown device map"):
        load_model(str(tiny_model_dirs["llama"]), device_map="everywhere")


@pytest.mark.parametrize("method", ["ft-l", "ft-m", "lora", "rome", "memit", "kn", "memla"])
def test_editors_run_through_accelerate_hooks(tiny_model_dirs, method):
    """Each block dispatched by accelerate with its own device hook (all "cpu": this machine has one device),
    so activations pass through AlignDevicesHook as on a multi-GPU map; edit, then restore bit for bit.
    That every tensor follows its weight's device is by construction (index_at, `.to(w.device)`), not
    exercised here: no second device was available."""
    from accelerate import dispatch_model

    from polyedit.data.cases import Edit
    from helpers.weights import state_hash

    lm = load_model(str(tiny_model_dirs["llama"]))
    blocks = {f"model.layers.{i}": "cpu" for i in range(3)}
    dispatch_model(lm.model, {"model.embed_tokens": "cpu", **blocks, "model.norm": "cpu", "model.rotary_emb": "cpu",
                              "lm_head": "cpu"}, force_hooks=True)
    assert hasattr(lm.model.model.layers[1], "_hf_hook")
    before = state_hash(lm.model)
    hp = {"rome": {"prefixes": 1, "stats_corpus": "identity"}, "memit": {"prefixes": 1, "stats_corpus": "identity"},
          "kn": {"threshold": 0.05}, "memla": {"max_steps": 5}}.get(method, {})
    from polyedit.methods import get_method

    handle = get_method(method, hp).apply(lm, [Edit("en", "Paris", "The capital of France is Paris, in", "Germany",
                                                    "France")])
    assert state_hash(lm.model) != before
    handle.restore()
    assert state_hash(lm.model) == before
