"""What `polyedit serve` does to the model before serving it: apply a file of edits with a weight-editing
method, or load a PEFT adapter. In-context methods rewrite prompts the server cannot know in advance, so
they are refused here (use them on the client side: `polyedit bench --method ike --backend openai`)."""

from __future__ import annotations

from pathlib import Path

from polyedit.errors import PolyeditError
from polyedit.models.load import LoadedModel


def apply_edits(lm: LoadedModel, edits_file: str | Path, method: str, hparams=None) -> int:
    """Apply every case of `edits_file` (polyedit's JSONL case format) with `method`; returns the count.
    The edits stay in place for the server's lifetime."""
    from polyedit.data.registry import load_dataset
    from polyedit.methods.base import get_method

    from polyedit.methods.base import EditHandle

    cases = load_dataset(f"jsonl:{edits_file}").cases
    if not cases:
        raise PolyeditError(f"{edits_file}: no edits")
    m = get_method(method, hparams, lm)  # the model's editing.yaml fills what `hparams` leaves out
    if m.edits_in_context:  # refused before any work (its demonstrations may not even be findable here)
        raise PolyeditError(f"method {method!r} edits in context, not in the weights, so it cannot be "
                            "served; run it on the client (polyedit bench --method ike --backend openai)")
    batches = [cases] if m.supports_batch else [[c] for c in cases]
    for chunk in batches:
        handle = m.apply_cases(lm, chunk)
        if type(handle).transform_prompt is not EditHandle.transform_prompt:
            handle.restore()
            raise PolyeditError(f"method {method!r} edits in context, not in the weights, so it cannot be "
                                "served; run it on the client (polyedit bench --method ike --backend openai)")
    return len(cases)


def apply_adapter(lm: LoadedModel, adapter_dir: str | Path) -> None:
    """Load a PEFT adapter (e.g. LoRA) onto the model and merge it, so serving needs no peft at run time."""
    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise PolyeditError(f"--adapter {path}: no adapter_config.json there")
    if not (path / "adapter_model.safetensors").is_file():  # peft would fall back to a pickled .bin
        raise PolyeditError(f"--adapter {path}: no adapter_model.safetensors there (pickled weights are never loaded)")
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing`
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        lm.model = PeftModel.from_pretrained(lm.model, str(path)).merge_and_unload().eval()
