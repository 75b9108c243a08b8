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

import tempfile
from pathlib import Path
from typing import NamedTuple

from polyedit.data.cases import EditCase
from polyedit.data.requests import cases_from_requests
from polyedit.data.registry import Dataset, load_dataset
from polyedit.evaluation.engine import Evaluation
from polyedit.evaluation.engine import evaluate as _evaluate
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
from polyedit.evaluation.runner import BenchConfig, run_bench
from polyedit.evaluation.store import RunStore, write_atomic
from polyedit.methods.base import ChainedHandle, EditHandle, apply_in_turn, get_method
from polyedit.models.backend import HFBackend
from polyedit.models.load import LoadedModel, load_model


def evaluate(lm: LoadedModel, cases: list[EditCase], protocols=DEFAULT_PROTOCOLS, handle=None,
             reference: Evaluation | None = None, batch_size: int | str = 32,
             chat_template: bool | str = False) -> Evaluation:
    """Score every probe of `cases` on `lm` (with `handle`'s prompt rewriting, if any). `batch_size`: an
    integer or "auto"; `chat_template`: True wraps the prompts of generation protocols in the tokenizer's
    chat template, "all" teacher-forced prompts too (`models.chat`); each protocol's record says which."""
    return _evaluate(HFBackend(lm, batch_size, chat_template), cases, list(protocols), handle, reference)


def bench(model: str | LoadedModel, method: str, data: str, out: str | Path, *, langs=None, protocols=None,
          hparams=None, seed: int = 0, mode: str = "single", edits_per_step: int = 1, limit: int | None = None,
          resume: bool = False, progress: bool = True, backend=None, dataset: Dataset | None = None,
          log_samples: bool = True, judge_url: str | None = None, judge_model: str | None = None,
          judge_api: str = "chat", device: str = "auto", dtype: str = "auto", device_map: str | dict | None = None,
          batch_size: int | str = 32, chat_template: bool | str = False, checkpoints: list[int] | None = None,
          retention_sample: int | None = None, recall_sample: int = 50, capability: list[str] | None = None,
          capability_limit: int | None = None, capability_sample: int | None = None, cache: bool = True,
          case_filter: str | None = None, edit_probes: str = "all") -> dict:
    """`polyedit bench` from Python: writes results.jsonl, summary.json and summary.md under `out`.
    `device`, `dtype`, `device_map`: how a model given by name is loaded (see `load_model`); `batch_size`:
    evaluation batch size or "auto"; `chat_template`: as in `evaluate` (True: generation prompts; "all").
    `backend`: score through it instead of a local model (e.g. `OpenAIBackend`; in-context methods only).
    `dataset`: `data` already loaded (callers that loaded it to check it pass it on rather than read it twice).
    `log_samples`: write samples.jsonl (every prompt as sent, generated text, gold and metrics).
    `judge_url`, `judge_model`, `judge_api`: an OpenAI-compatible endpoint that judges every generated answer,
    over its chat route (`chat`) or its completions route.
    `checkpoints`, `retention_sample`, `recall_sample`: lifelong checkpoints of a sequential run
    (`polyedit.evaluation.lifelong`). `capability`, `capability_limit`, `capability_sample`: lm-eval tasks run
    before and after editing (`polyedit.evaluation.capability`; needs the `capability` extra). `cache`: the
    unedited model's results are read from and added to the cache shared by runs (`polyedit.models.pre_cache`);
    False computes them afresh and stores nothing. `case_filter`: "known" keeps the cases whose old answer the
    unedited model generates (`polyedit.evaluation.edit_success.known_cases`). `edit_probes`: "edit" scores
    each edit right after it is made on its edit prompt only (`BenchConfig.edit_probes`)."""
    from polyedit.reports.markdown import summary_markdown
    from polyedit.reports.specs import display_spec

    settings = dict(method=method, data=data, langs=list(langs) if langs is not None else None,
                    protocols=list(protocols) if protocols is not None else None, seed=seed, mode=mode,
                    edits_per_step=edits_per_step, limit=limit, log_samples=log_samples, judge_url=judge_url,
                    judge_model=judge_model, judge_api=judge_api, eval_batch_size=batch_size,
                    chat_template=chat_template,
                    checkpoints=checkpoints, retention_sample=retention_sample, recall_sample=recall_sample,
                    capability=list(capability) if capability is not None else None,
                    capability_limit=capability_limit, capability_sample=capability_sample, filter=case_filter,
                    edit_probes=edit_probes)
    BenchConfig(model="", **settings)  # bad settings fail here, before a model is loaded
    get_method(method, hparams)
    RunStore(out).check_before(resume)  # the output folder, before the data and the model are read
    dataset = dataset if dataset is not None else load_dataset(data, langs=settings["langs"])
    if backend is not None:
        from polyedit.models.openai_backend_model import describe_model

        # the endpoint holds the model; a local or built-in one is described here (editing.yaml, tokenizer,
        # context length, no weights) so the run resolves its settings as a local run would
        lm = describe_model(model) if isinstance(model, str) else model
    else:
        lm = load_model(model, device=device, dtype=dtype, device_map=device_map) if isinstance(model, str) else model
    m = get_method(method, hparams, lm)  # the model's recommended hyperparameters fill what is not given
    name = model if isinstance(model, str) or lm is None else lm.name
    cfg = BenchConfig(model=name, hparams=m.hparams.to_dict(), **settings)
    summary = run_bench(lm, m, dataset, out, cfg, resume=resume, progress=progress, backend=backend, pre_cache=cache)
    write_atomic(Path(out, "summary.md"), summary_markdown(summary, f"{method} on {display_spec(data)}"))
    return summary


class EditResult(NamedTuple):
    """What `edit` returns: unpack it as `summary, handle = pe.edit(...)`."""

    summary: dict  # what `polyedit bench` writes to summary.json: per-language pre/post metrics, means, matrix
    handle: EditHandle  # every edit, in place on `handle.lm` (the edited model); `handle.restore()` undoes them


def edit(model: str | LoadedModel, method: str, prompts, target_new, *, subject, ground_truth=None,
         rephrase_prompts=None, locality_inputs=None, portability_inputs=None, reliability_inputs=None,
         lang="en", rephrase_langs=None, hparams=None, protocols=None, out: str | Path | None = None) -> EditResult:
    """EasyEdit's one call (`editor.edit(prompts=..., ...)`, see `polyedit.data.requests` for the shapes and the
    language arguments): every request is scored before and after its edit, as `polyedit bench` does (each
    edit alone on the unedited model; results under `out` when given), then all edits are applied together
    and left in place. Returns the bench summary and the handle of the edited model."""
    lm = load_model(model) if isinstance(model, str) else model
    cases = cases_from_requests(prompts, target_new, subject=subject, ground_truth=ground_truth,
                                rephrase_prompts=rephrase_prompts, locality_inputs=locality_inputs,
                                portability_inputs=portability_inputs, reliability_inputs=reliability_inputs,
                                lang=lang, rephrase_langs=rephrase_langs)
    m = get_method(method, hparams, lm)  # checked before any work
    dataset = Dataset("edit-requests", cases, source="polyedit.edit")
    with tempfile.TemporaryDirectory(prefix="polyedit-edit-") as tmp:
        summary = bench(lm, method, "edit-requests", out if out is not None else tmp, hparams=hparams,
                        protocols=protocols, dataset=dataset, progress=False)
    if m.edits_in_context:  # one handle whose prompts carry every edit
        return EditResult(summary, m.apply_cases(lm, cases))
    handles = list({id(h): h for h in apply_in_turn(m, lm, cases).values()}.values())  # all kept, or none
    return EditResult(summary, handles[0] if len(handles) == 1 else ChainedHandle(lm, handles))
