"""The Python API, with the names the CLI uses.

    import polyedit as pe
    lm = pe.load_model("world:small")
    case = pe.make_case("c1", "en", "Ana Lind", "Ana Lind was born in", "Oslo", target_true="Lima")
    method = pe.get_method("ft-l")
    before = pe.evaluate(lm, [case])
    handle = method.apply(lm, [case.edit])
    after = pe.evaluate(lm, [case], handle=handle, reference=before)
    handle.restore()
"""

from __future__ import annotations

from pathlib import Path

from polyedit.data.cases import EditCase
from polyedit.data.registry import Dataset, load_dataset
from polyedit.evaluation.engine import Evaluation
from polyedit.evaluation.engine import evaluate as _evaluate
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.methods.base import get_method
from polyedit.models.backend import HFBackend
from polyedit.models.load import LoadedModel, load_model


def evaluate(lm: LoadedModel, cases: list[EditCase], protocols=DEFAULT_PROTOCOLS, handle=None,
             reference: Evaluation | None = None, batch_size: int | str = 32,
             chat_template: bool = False) -> Evaluation:
    """Score every probe of `cases` on `lm` (with `handle`'s prompt rewriting, if any). `batch_size`: an
    integer or "auto"; `chat_template`: wrap prompts in the tokenizer's chat template."""
    return _evaluate(HFBackend(lm, batch_size, chat_template), cases, list(protocols), handle, reference)


def bench(model: str | LoadedModel, method: str, data: str, out: str | Path, *, langs=None, protocols=None,
          hparams=None, seed: int = 0, mode: str = "single", edits_per_step: int = 1, limit: int | None = None,
          resume: bool = False, progress: bool = True, backend=None, dataset: Dataset | None = None,
          device: str = "auto", dtype: str = "auto", device_map: str | dict | None = None,
          batch_size: int | str = 32, chat_template: bool = False) -> dict:
    """`polyedit bench` from Python: writes results.jsonl, summary.json and summary.md under `out`.
    `device`, `dtype`, `device_map`: how a model given by name is loaded (see `load_model`); `batch_size`:
    evaluation batch size or "auto"; `chat_template`: wrap prompts in the tokenizer's chat template.
    `backend`: score through it instead of a local model (e.g. `OpenAIBackend`; in-context methods only).
    `dataset`: `data` already loaded (callers that loaded it to check it pass it on rather than read it twice)."""
    from polyedit.reports.markdown import summary_markdown

    if backend is not None:
        lm = None  # nothing is loaded here: the endpoint holds the model
    else:
        lm = load_model(model, device=device, dtype=dtype, device_map=device_map) if isinstance(model, str) else model
    m = get_method(method, hparams, lm)  # the model's recommended hyperparameters fill what is not given
    dataset = dataset if dataset is not None else load_dataset(data)
    cfg = BenchConfig(model=model if isinstance(model, str) else lm.name, method=method, data=data,
                      langs=list(langs) if langs else None, protocols=list(protocols) if protocols else None,
                      hparams=m.hparams.to_dict(), seed=seed, mode=mode, edits_per_step=edits_per_step, limit=limit,
                      eval_batch_size=batch_size, chat_template=chat_template)
    summary = run_bench(lm, m, dataset, out, cfg, resume=resume, progress=progress, backend=backend)
    Path(out, "summary.md").write_text(summary_markdown(summary, f"{method} on {data}"), "utf-8")
    return summary
