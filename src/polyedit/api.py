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
from polyedit.errors import PolyeditError
from polyedit.evaluation.engine import Evaluation
from polyedit.evaluation.engine import evaluate as _evaluate
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
from polyedit.evaluation.runner import run_bench
from polyedit.evaluation.spec import RunSpec
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


def bench(model: str | LoadedModel, method: str | None = None, data: str | None = None,
          out: str | Path | None = None, *, spec: RunSpec | None = None, resume: bool = False,
          progress: bool = True, backend=None, dataset: Dataset | None = None, **settings) -> dict:
    """`polyedit bench` from Python: writes results.jsonl, summary.json and summary.md under `out`.
    The run is `spec` (`polyedit.evaluation.spec.RunSpec`), or the spec made of `method`, `data` and the
    keyword `settings`, each a field of it (`seed=`, `mode=`, `limit=`, `hparams=` a mapping or a YAML file,
    `device=`, `dtype=`, `eval_batch_size=`, `chat_template=`, `checkpoints=`, `capability=`, `judge_url=`,
    `cache=`, `filter=` ...; see the spec's fields). `model`: a name (loaded with the spec's `device`,
    `dtype`, `device_map`) or a model already loaded.
    `backend`: score through it instead of a local model (e.g. `OpenAIBackend`; in-context methods only).
    `dataset`: `data` already loaded (callers that loaded it to check it pass it on rather than read it twice).
    With `backend` a `ServedAdapters` and `model` loaded here, the edits are made here and scored through the
    server, one adapter per edit (`polyedit.evaluation.adapters`)."""
    from polyedit.reports.markdown import summary_markdown
    from polyedit.reports.specs import display_spec

    name = model if isinstance(model, str) else getattr(model, "name", None) or ""
    if spec is None:  # bad settings fail here, before a model is loaded
        spec = RunSpec(model=name, method=method, data=data, **settings)
    elif method is not None or data is not None or settings:
        raise PolyeditError("bench: give a spec or the settings that make one, not both")
    get_method(spec.method, spec.hparams)
    RunStore(out).check_before(resume)  # the output folder, before the data and the model are read
    dataset = dataset if dataset is not None else load_dataset(spec.data, langs=spec.langs)
    if backend is not None:
        from polyedit.models.openai_backend_model import describe_model

        # the endpoint holds the model; a local or built-in one is described here (editing.yaml, tokenizer,
        # context length, no weights) so the run resolves its settings as a local run would
        lm = describe_model(model, spec.trust_remote_code) if isinstance(model, str) else model
    elif isinstance(model, str):
        lm = load_model(model, device=spec.device, dtype=spec.dtype, device_map=spec.device_map,
                        trust_remote_code=spec.trust_remote_code, modules=spec.modules)
    else:
        lm = model
    m = get_method(spec.method, spec.hparams, lm)  # the model's recommended hyperparameters fill what is not given
    cfg = spec.model_copy(update={"model": name if isinstance(model, str) or lm is None else lm.name,
                                  "hparams": m.hparams.to_dict()})
    summary = run_bench(lm, m, dataset, out, cfg, resume=resume, progress=progress, backend=backend,
                        pre_cache=spec.cache)
    write_atomic(Path(out, "summary.md"), summary_markdown(summary, f"{spec.method} on {display_spec(spec.data)}"))
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
