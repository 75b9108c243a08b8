"""The bench loop: for each case, evaluate, edit, evaluate, restore; one JSON line per finished case.

The folder is a `RunStore` (locked; `run.json` written atomically; whole-line fsynced appends), so a killed
run loses at most the chunk in progress and `resume=True` continues it to the same numbers as an
uninterrupted run (see `run_bench`). Everything is checked before anything is written. Modes:
- `single`: every edit on the unedited model, restored after each;
- `batch`: groups of `edits_per_step` edits applied together, evaluated, restored;
- `sequential`: edits accumulate; after every `edits_per_step` edits all earlier cases are re-scored
  (written to `sequential.jsonl`), so drift and forgetting show. With `checkpoints` (lifelong editing,
  `lifelong.py`) that full re-scoring is replaced by cheap measurements at the chosen edit counts
  (`checkpoints.jsonl`: retention of earlier edits, recall of untouched facts, locality drift).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from polyedit.data.cases import RELIABILITY, EditCase, edit_language_added
from polyedit.data.registry import Dataset, check_unique_ids
from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation.adapters import EditWriter, ServedAdapters, edited_backend
from polyedit.evaluation.aggregate import ANSWER_SCORER, rows, summarize
from polyedit.evaluation.engine import Evaluation, evaluate
from polyedit.evaluation.judge import judge_evaluation, make_judge
from polyedit.evaluation import lifelong, parallel
from polyedit.evaluation.metrics import get_metric
from polyedit.evaluation.edit_success import (case_outcome, convergence_note, convergence_summary,
                                              known_cases, known_facts, known_note, settings_note)
from polyedit.evaluation.notes import run_notes
from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS, get_protocol
from polyedit.evaluation.records import protocol_labels
from polyedit.evaluation.samples import sample_lines
from polyedit.evaluation.schema import FORMAT_VERSION, validate
from polyedit.evaluation.spec import MODES, RunSpec  # noqa: F401 (MODES: imported from here)
from polyedit.evaluation.store import RunStore, environment, finite, write_atomic
from polyedit.methods.base import EditHandle, EditMethod, apply_in_turn, check_save_target, recommended_hparams
from polyedit.models.backend import HFBackend
from polyedit.models.batching import BatchSize
from polyedit.models.context import RULE as CONTEXT_RULE
from polyedit.models.context import context_limit, edit_text, probe_text, too_long
from polyedit.models.load import LoadedModel
from polyedit.models.pre_cache import cached
from polyedit.models.tokens import subject_span

#: the run's specification under the name this module has always used for it
BenchConfig = RunSpec


def _probe_records(pre: Evaluation, post: Evaluation, case: EditCase) -> list[dict]:
    pre_k, post_k = pre.by_key(), post.by_key()
    out = []
    for i, probe in enumerate(case.probes):
        a, b = pre_k[(case.case_id, i)], post_k[(case.case_id, i)]
        out.append({"index": i, "kind": probe.kind, "lang": probe.lang, "prompt": probe.prompt,
                    "answer": probe.answer, "pre": a.metrics, "post": b.metrics,
                    "protocol": protocol_labels({**a.protocol_of, **b.protocol_of}, {**pre.protocols, **post.protocols})})
    return out


def _apply(method: EditMethod, lm: LoadedModel, cases: list[EditCase]) -> tuple[dict[str, EditHandle], list]:
    """Apply the cases' edits (`apply_in_turn`: together, or one after another, and all undone if one fails)."""
    handles = apply_in_turn(method, lm, cases)
    return handles, list({id(h): h for h in handles.values()}.values())


def _restore(handles: list[EditHandle]) -> None:
    for h in reversed(handles):  # last applied first, so each backup restores the state it saw
        h.restore()


def _evaluate_with(backend, cases, cfg, handles: dict[str, EditHandle] | None, reference=None) -> Evaluation:
    if handles is None:
        return evaluate(backend, cases, cfg.protocols, None, reference, cfg.max_new_tokens)
    results, unavailable, protocols = [], {}, {}
    distinct = {id(h): h for h in handles.values()}
    for h in distinct.values():  # one engine call per distinct handle (one for batch-capable methods)
        mine = [c for c in cases if handles[c.case_id] is h]
        ev = evaluate(backend, mine, cfg.protocols, h, reference, cfg.max_new_tokens)
        results += ev.results
        unavailable.update(ev.unavailable)
        protocols.update(ev.protocols)  # the descriptors label every metric of the edited model's records
    return Evaluation(results, unavailable, protocols)


def _subject_rule(lm: LoadedModel, case: EditCase) -> str | None:
    try:
        return subject_span(lm.tokenizer, case.edit.prompt, case.edit.subject).rule
    except Exception:  # tokenizers without offsets: not needed for evaluation
        return None


def prepare_cases(lm: LoadedModel | None, dataset: Dataset, cfg: BenchConfig,
                  method: EditMethod | None = None) -> tuple[list[EditCase], Counter]:
    """The cases a run edits, checked before anything is written: unique ids, the asked languages present,
    and each case within the model's context (`polyedit.models.context`: a case with a text longer than
    the context, as `method` makes the model read it, is dropped and counted, never truncated)."""
    cases = dataset.cases if cfg.limit is None else dataset.cases[:cfg.limit]
    check_unique_ids(cases, cfg.data)
    if cfg.langs:
        present = {lang for c in cases for lang in c.languages}
        missing = [lang for lang in cfg.langs if lang not in present]
        if missing:
            raise SpecError("langs", f"language(s) {', '.join(missing)} not in {cfg.data} "
                                f"(it has: {', '.join(sorted(present))})")
        note = edit_language_added(cases, cfg.langs, f"--langs {','.join(cfg.langs)}")
        if note and note not in dataset.notes:
            dataset.notes.append(note)
        cases = [c.restrict_probed(cfg.langs) for c in cases]
    skipped: Counter = Counter()
    limit = context_limit(lm) if lm is not None else None
    if limit is not None:
        texts = method.texts_read if method is not None else _texts
        fitting = [c for c in cases if too_long(lm, texts(lm, c), cfg.max_new_tokens or 0) is None]
        if len(fitting) < len(cases):
            skipped[f"longer than the model's context ({limit} tokens)"] = len(cases) - len(fitting)
        cases = fitting
    if not cases:
        why = f"; {', '.join(f'{n} {r}' for r, n in skipped.items())}" if skipped else ""
        raise PolyeditError(f"dataset {cfg.data!r} has no cases{why}")
    for name in cfg.protocols:
        get_protocol(name)
    return cases, skipped


def _texts(lm, case: EditCase) -> list[str]:
    """Every prompt with its longest answer, as the model reads it without a method's rewrite."""
    return [edit_text(case.edit)] + [probe_text(p.prompt, p) for p in case.probes]


def run_bench(lm: LoadedModel, method: EditMethod, dataset: Dataset, out_dir: str | Path, cfg: BenchConfig,
              resume: bool = False, progress: bool = True, backend=None, pre_cache: bool = True) -> dict:
    """Run (or resume) a benchmark into `out_dir`. Cases are grouped into chunks of `edits_per_step` by
    their place in the dataset, never by what is left to do, so a resumed run applies exactly the edits
    an uninterrupted one would: a chunk is finished only when all its records are written; a partly
    written one is cut and redone, and in sequential mode the finished chunks are replayed, chunk by
    chunk with their seeds, before the run goes on. `pre_cache`: read the unedited model's results from the
    cache shared by runs, and add to it (`polyedit.models.pre_cache`); it changes no number, so it is no
    part of the run's configuration (a run may be resumed with it on or off)."""
    if cfg.protocols is None:
        cfg.protocols = default_protocols(dataset)
    cases, too_long_skipped = prepare_cases(lm, dataset, cfg, method)
    for note in (settings_note(lm, method, cfg.data), parallel.one_at_a_time(method, cfg)):
        if note and note not in dataset.notes:
            dataset.notes.append(note)
    filtered: Counter = Counter()
    if cfg.filter == "known":  # on the unedited model, before anything is written
        cases, unknown = known_cases(backend or HFBackend(lm, batch_size=cfg.eval_batch_size,
                                                          chat_template=cfg.chat_template), cases, cfg.max_new_tokens)
        filtered["old answer not generated by the unedited model (--filter known)"] = unknown
        if not cases:
            raise SpecError("filter", f"known: the unedited model generates the old answer of none of the "
                                f"{unknown} cases")
    step = cfg.edits_per_step if cfg.mode != "single" else 1
    chunks = [cases[i:i + step] for i in range(0, len(cases), step)]
    method_state = getattr(method, "state_bytes", None)
    untouched = None
    if cfg.checkpoints:  # checked against the run's cases before anything is written
        lifelong.check_checkpoints(cfg.checkpoints, step, len(cases))
        pool = dataset.cases if dataset.untouched is None else dataset.untouched
        untouched = lifelong.untouched_cases(pool, cases, cfg.recall_sample, cfg.seed, cfg.langs)
    meta = {"format_version": FORMAT_VERSION, "config": cfg.config(), "access": cfg.access(),
            "hparams": method.resolved(lm).to_dict(),
            "hparams_source": hparams_source(method, lm), "cases": [c.case_id for c in cases],
            "context": {"max_positions": context_limit(lm) if lm is not None else None,
                        "rule": CONTEXT_RULE, "skipped": dict(too_long_skipped)},
            "environment": environment(lm, backend)}
    if untouched is not None:
        meta["lifelong"] = _lifelong_settings(cfg, untouched)
    checks = _capability_checks(lm, method, cfg, cases, chunks) if cfg.capability else None
    writer = _edit_writer(cfg, method, backend, out_dir, resume)
    store = RunStore(out_dir)
    with store.open(meta, resume):
        backend = backend or HFBackend(lm, batch_size=cfg.eval_batch_size, chat_template=cfg.chat_template)
        # only a local model is cached here (a remote endpoint's answers have their own cache); only the
        # unedited model's results go through it: before each edit and the untouched facts
        unedited = cached(backend) if pre_cache and isinstance(backend, HFBackend) else backend
        judge = (make_judge(cfg.judge_url, cfg.judge_model, store.out / "judge_cache.jsonl", api=cfg.judge_api,
                            **_shared_endpoint(backend)) if cfg.judge_url else None)
        _run_chunks(lm, method, backend, cfg, cases, chunks, store, progress, judge, untouched, checks, unedited,
                    writer, method_state)
        if callable(getattr(backend, "describe", None)):  # notes an endpoint added while it was used
            store.note("backend_at_end", backend.describe())
        life = (lifelong.summarize_checkpoints(store.checkpoints.records(), meta["lifelong"],
                                               {c.case_id: c.edit.lang for c in cases},
                                               {c.case_id: c.meta[lifelong.SEGMENT] for c in cases
                                                if lifelong.SEGMENT in c.meta})
                if untouched is not None else None)
        skipped = dataset.skipped + too_long_skipped + filtered
        return write_summary(store.out, store.results.records(), dataclasses.replace(dataset, cases=[], skipped=skipped),
                             getattr(unedited, "describe", dict)(), life, checks.summary(store.out) if checks else None)


def _edit_writer(cfg: BenchConfig, method: EditMethod, backend, out_dir, resume: bool) -> EditWriter | None:
    """Where the run's edits are written as adapters: `save_edits`, or, for a server that scores them, the
    run's own `adapters/` folder. Checked before anything is written."""
    served = isinstance(backend, ServedAdapters)
    if cfg.save_edits is None and not served:
        return None
    if method.edits_in_context:
        raise PolyeditError(f"method {cfg.method!r} edits in context: there is no adapter to write or serve")
    if served and cfg.mode == "sequential":
        raise PolyeditError("edits served as adapters are scored one adapter per edit (batch): single or batch "
                            "mode, not sequential (where the edits accumulate)")
    root = Path(cfg.save_edits) if cfg.save_edits is not None else Path(out_dir) / "adapters"
    if cfg.save_edits is not None and not resume:
        check_save_target(root)
    return EditWriter(root, cfg.method, cfg.adapter_rank, cfg.adapter_max_error)


def _capability_checks(lm, method: EditMethod, cfg: BenchConfig, cases, chunks):
    """lm-eval checks of the edited model (`evaluation/capability`); tasks resolved before anything is written."""
    from polyedit.evaluation.capability.checks import Checks

    if lm is None:
        raise SpecError("capability", "runs lm-eval on a local model; it cannot check a remote endpoint")
    return Checks(lm, cfg, cases, chunks, bool(getattr(method, "edits_in_context", False)))


def hparams_source(method: EditMethod, lm) -> dict[str, str]:
    """Where each hyperparameter came from: given (--hparams), the model folder's editing.yaml, or the
    method's default; the same for a local run and a remote run of the same --model."""
    if method.given is None:
        return dict.fromkeys(method.hparams.to_dict(), "given")
    recommended = recommended_hparams(lm, method.name)
    return {k: "given" if k in method.given else "editing.yaml" if k in recommended else "default"
            for k in method.hparams.to_dict()}


def _shared_endpoint(backend) -> dict:
    """A remote backend's response cache and token ledger, which the judge shares (one ledger per run)."""
    endpoint = getattr(backend, "endpoint", None)
    return {"response_cache": endpoint.cache, "ledger": endpoint.ledger} if endpoint is not None else {}


def default_protocols(dataset: Dataset) -> list[str]:
    """A run that names no protocols: polyedit's defaults, or the headline protocols (the dataset's answer
    scorer's and `answer_locality`) followed by those the benchmark was published with."""
    if dataset.protocols is None:
        return list(DEFAULT_PROTOCOLS)
    scorer = get_metric(getattr(dataset, "answer_scorer", ANSWER_SCORER)).protocol
    return list(dict.fromkeys([scorer, "answer_locality", *dataset.protocols]))


def _check_resumed(results) -> None:
    """Each record a resumed run keeps must be one its summary can read (`aggregate.rows`, the reader of the
    summary): a damaged one is refused now, before any case runs, rather than after all of them."""
    for number, record in enumerate(results.records(), 1):
        try:
            if not isinstance(record, dict):
                raise TypeError(f"a {type(record).__name__}, not an object")
            rows([record])
        except (KeyError, TypeError, AttributeError) as e:
            what = f"no field {e.args[0]!r}" if isinstance(e, KeyError) else str(e)
            raise PolyeditError(f"{results.path}: record {number} is not a whole results record ({what}); the run "
                                f"cannot be resumed (choose a new --out)") from None


def _lifelong_settings(cfg: BenchConfig, untouched: list[EditCase]) -> dict:
    return {"checkpoints": cfg.checkpoints, "retention_sample": cfg.retention_sample,
            "recall_sample": cfg.recall_sample, "untouched_cases": len(untouched),
            "untouched_probes": sum(len(c.probes) for c in untouched),
            "untouched_ids": [c.case_id for c in untouched]}


def _run_chunks(lm, method, backend, cfg: BenchConfig, cases, chunks, store: RunStore, progress: bool,
                judge=None, untouched: list[EditCase] | None = None, checks=None, unedited=None,
                writer: EditWriter | None = None, state_bytes=None) -> None:
    unedited = unedited or backend
    scored = {c.case_id: edit_probes_of(c, cfg.edit_probes) for c in cases}  # what each edit is scored on
    position = {c.case_id: i for i, c in enumerate(cases)}  # seeds follow a case's place in the dataset
    chunk_of = {c.case_id: k for k, chunk in enumerate(chunks) for c in chunk}
    _check_resumed(store.results)
    done_ids = {r.get("case_id") for r in store.results.records()}
    n_done = next((k for k, chunk in enumerate(chunks) if not all(c.case_id in done_ids for c in chunk)), len(chunks))

    def finished(record: dict) -> bool:
        return chunk_of.get(record.get("case_id"), n_done) < n_done

    store.results.keep(finished)  # cut a partly written chunk, and its samples
    store.samples.keep(finished)
    edits_done = sum(len(chunk) for chunk in chunks[:n_done])
    # the edit seconds of every finished edit, in order: a checkpoint reports those of its window
    edit_seconds = [(r["seconds_per_edit"], r.get("cpu_seconds_per_edit")) for r in store.results.records()
                    if finished(r)]
    sequential = cfg.mode == "sequential"
    if sequential:  # checkpoints of an unfinished chunk (written before its results) are redone
        store.sequential.keep(lambda r: isinstance(r.get("after_edits"), int) and r["after_edits"] <= edits_done)
        store.checkpoints.keep(lambda r: isinstance(r.get("after_edits"), int) and r["after_edits"] <= edits_done)
    if checks is not None and n_done < len(chunks):  # the unedited model, before any edit is replayed
        checks.start(store.out, n_done)
    bar = tqdm(total=len(cases), initial=edits_done, disable=not progress, desc=f"{cfg.method}",
               unit="case", dynamic_ncols=True)
    seq_handles: list[EditHandle] = []  # in the order applied, for restoring
    seq_map: dict[str, EditHandle] = {}  # case -> its handle, for re-scoring earlier cases
    seq_cases: list[EditCase] = []
    seq_pre: Evaluation | None = None
    untouched_pre: Evaluation | None = None
    if cfg.parallel_edits != 1 and parallel.one_at_a_time(method, cfg) is None and isinstance(backend, HFBackend):
        try:
            _run_parallel(lm, method, backend, cfg, chunks, store, bar, judge, unedited, position, n_done)
        finally:
            bar.close()
        return
    try:
        if sequential and n_done < len(chunks):  # a finished run resumed only rewrites its summary
            seq_pre, seq_cached = _evaluate_unedited(unedited, [scored[c.case_id] for c in cases], cfg)
            if untouched is not None:  # the locality reference: the unedited model's answers
                untouched_pre = lifelong.evaluate_untouched(unedited, untouched, None, None, cfg.max_new_tokens)
            for chunk in chunks[:n_done]:  # resuming: replay the finished edits as they were applied
                torch.manual_seed(cfg.seed + position[chunk[0].case_id])
                hmap, hs = _apply(method, lm, chunk)
                seq_handles += hs
                seq_map.update(hmap)
                seq_cases += chunk
        for chunk in chunks[n_done:]:
            torch.manual_seed(cfg.seed + position[chunk[0].case_id])
            chunk_scored = [scored[c.case_id] for c in chunk]
            pre, from_cache = (seq_pre, seq_cached) if sequential else _evaluate_unedited(unedited, chunk_scored, cfg)
            t0, cpu0 = time.perf_counter(), time.process_time()
            handles, applied = _apply(method, lm, chunk)
            t_edit, cpu_edit = time.perf_counter() - t0, time.process_time() - cpu0
            if sequential:
                seq_handles += applied
            try:  # an exception or Ctrl-C while scoring the edited model still restores it
                with edited_backend(backend, writer, applied, chunk) as scorer:
                    post = _evaluate_with(scorer, chunk_scored, cfg, handles, reference=pre)
                for ev in (pre, post) if judge else ():
                    judge_evaluation(ev, judge)
                records = [_record(lm, cfg, c, chunk_of[c.case_id], (t_edit / len(chunk), cpu_edit / len(chunk)),
                                   from_cache, handles[c.case_id], _edit_index(handles, chunk, c), pre, post,
                                   scored[c.case_id]) for c in chunk]
                edit_seconds += [(t_edit / len(chunk), cpu_edit / len(chunk))] * len(chunk)
                if sequential:
                    seq_map.update(handles)
                    seq_cases += chunk
                    if untouched is None:
                        _sequential_checkpoint(backend, cfg, seq_cases, seq_map, seq_pre, store)
                    elif len(seq_cases) in cfg.checkpoints:
                        cost = lifelong.checkpoint_cost(len(seq_cases), cfg.checkpoints, edit_seconds,
                                                        state_bytes(seq_handles[-1]) if state_bytes else None)
                        _lifelong_checkpoint(backend, cfg, seq_cases, seq_map, seq_handles[-1], untouched,
                                             untouched_pre, store, cost)
                if checks is not None:  # with the edits in place, before the chunk's results are written
                    checks.after(chunk_of[chunk[0].case_id], seq_cases if sequential else chunk)
            finally:
                if not sequential:
                    _restore(applied)
            if cfg.log_samples:  # before the results: a chunk's samples without its results are cut on resume
                store.samples.append(sample_lines(pre, post, chunk_scored, cfg.method))
            for r in records:  # the written contract (schema.py), checked before a line is written
                validate("results.jsonl", r, str(store.results.path))
            store.results.append(records)
            bar.update(len(chunk))
    finally:
        _restore(seq_handles)
        bar.close()


def _record(lm, cfg: BenchConfig, case: EditCase, chunk: int, seconds: tuple[float, float | None], from_cache: bool,
            handle: EditHandle, edit_index: int, pre: Evaluation, post: Evaluation, scored: EditCase | None = None) -> dict:
    """One case's line of results.jsonl (`seconds`: wall and CPU seconds of its edit; `scored`: the case with the
    probes its edit was scored on, `edit_probes`)."""
    return {"case_id": case.case_id, "method": cfg.method, "mode": cfg.mode, "chunk": chunk, "edit": asdict(case.edit),
            "subject_rule": _subject_rule(lm, case), "seconds_per_edit": seconds[0],
            "cpu_seconds_per_edit": seconds[1], "pre_from_cache": from_cache,
            "info": _jsonable(handle.info), "unavailable": post.unavailable,
            "convergence": _jsonable_or_none(case_outcome(handle.info, edit_index)),
            "meta": _jsonable(case.meta), "protocols": {**pre.protocols, **post.protocols},
            "probes": _probe_records(pre, post, scored or case)}


def _run_parallel(lm, method, backend, cfg: BenchConfig, chunks, store: RunStore, bar, judge, unedited,
                  position: dict[str, int], first: int) -> None:
    """Single mode with `--parallel-edits`: the chunks from `first` on (one case each) in groups of K, each group
    made edit by edit on the unedited model and scored in one pass (`parallel.py`); written group by group,
    so a resumed run cuts a partly written group as it cuts a partly written chunk. With `auto`, K starts
    large and halves on out-of-memory (`batching.BatchSize`), the group redone from its first edit."""
    size = BatchSize(cfg.parallel_edits)
    k = first
    while k < len(chunks):
        done = size.run(lambda n: _parallel_group(lm, method, backend, cfg, chunks[k:k + n], k, store, judge,
                                                  unedited, position))
        k += done
        bar.update(done)
    store.note("parallel_edits", size.size)  # the K used (with auto: the largest that fitted)


def _parallel_group(lm, method, backend, cfg: BenchConfig, group, first: int, store: RunStore, judge, unedited,
                    position: dict[str, int]) -> int:
    cases = [chunk[0] for chunk in group]
    pre, from_cache = _evaluate_unedited(unedited, cases, cfg)
    edits = parallel.make_edits(method, lm, cases, [cfg.seed + position[c.case_id] for c in cases])
    post = parallel.evaluate_edits(backend, lm, cases, edits, cfg, pre)
    for ev in (pre, post) if judge else ():
        judge_evaluation(ev, judge)
    records = [_record(lm, cfg, c, first + i, (e.seconds, e.cpu_seconds), from_cache, e.handle, 0, pre, post)
               for i, (c, e) in enumerate(zip(cases, edits))]
    if cfg.log_samples:  # before the results, as in `_run_chunks`
        store.samples.append(sample_lines(pre, post, cases, cfg.method))
    for r in records:
        validate("results.jsonl", r, str(store.results.path))
    store.results.append(records)
    return len(group)


def edit_probes_of(case: EditCase, which: str) -> EditCase:
    """`case` with the probes its edit is scored on (`BenchConfig.edit_probes`): all, or its edit prompt."""
    if which == "all":
        return case
    own = [p for p in case.probes if p.kind == RELIABILITY and p.lang == case.edit.lang and p.prompt == case.edit.prompt]
    return dataclasses.replace(case, probes=own[:1])


def _evaluate_unedited(backend, cases, cfg) -> tuple[Evaluation, bool]:
    """The unedited model's evaluation, and whether every request of it was read from the pre-edit cache."""
    computed = getattr(backend, "misses", None)
    ev = _evaluate_with(backend, cases, cfg, None)
    return ev, computed is not None and backend.misses == computed


def _sequential_checkpoint(backend, cfg, seq_cases, seq_map, pre, store: RunStore) -> None:
    """Re-score every case edited so far, with all edits in place (forgetting and drift)."""
    ev = _evaluate_with(backend, seq_cases, cfg, seq_map, reference=pre)
    by_case: dict[str, dict] = {}
    for r in ev.results:
        rec = by_case.setdefault(r.case_id, {"after_edits": len(seq_cases), "case_id": r.case_id, "probes": []})
        rec["probes"].append({"index": r.index, "kind": r.probe.kind, "lang": r.probe.lang, "post": r.metrics,
                              "protocol": protocol_labels(r.protocol_of, ev.protocols)})
    store.sequential.append(list(by_case.values()))


def _lifelong_checkpoint(backend, cfg, seq_cases, seq_map, last, untouched, untouched_pre, store: RunStore,
                         cost: dict) -> None:
    """Retention of the edits so far and recall/locality of the untouched facts (`lifelong.py`), with the
    edit cost of the window that ends here and the method's state (`cost`)."""
    kept = lifelong.retention_cases(seq_cases, cfg.retention_sample, cfg.seed)
    retention = _evaluate_with(backend, kept, replace_protocols(cfg, ["answer"]), seq_map)
    after = lifelong.evaluate_untouched(backend, untouched, last, untouched_pre, cfg.max_new_tokens)
    store.checkpoints.append([{**lifelong.checkpoint_record(len(seq_cases), retention, after), **cost}])


def replace_protocols(cfg: BenchConfig, protocols: list[str]) -> BenchConfig:
    return cfg.model_copy(update={"protocols": protocols, "checkpoints": None, "retention_sample": None})


def _edit_index(handles: dict[str, EditHandle], chunk: list[EditCase], case: EditCase) -> int:
    """Where `case`'s edit stands among the edits its handle applied (0 for an edit applied alone)."""
    mine = handles[case.case_id]
    return [c.case_id for c in chunk if handles[c.case_id] is mine].index(case.case_id)


def _jsonable_or_none(info: dict | None) -> dict | None:
    return None if info is None else _jsonable(info)


def _jsonable(info: dict) -> dict:
    return json.loads(json.dumps(info, default=lambda o: float(o) if hasattr(o, "__float__") else str(o)))


def write_summary(out: Path, records: list[dict], dataset: Dataset | None = None, evaluation: dict | None = None,
                  lifelong_summary: dict | None = None, capability_summary: dict | None = None) -> dict:
    """summary.json beside the results (the Markdown table is written by the report layer). `evaluation`:
    how the backend ran (device, dtype, batch size actually used, chat template)."""
    scorer = getattr(dataset, "answer_scorer", ANSWER_SCORER)
    summary = {"format_version": FORMAT_VERSION,
               **summarize(records, meta_groups=tuple(getattr(dataset, "group_by", ()) or ()), answer_scorer=scorer,
                           paper_protocols=tuple(getattr(dataset, "protocols", None) or ()))}
    if evaluation:
        summary["evaluation"] = evaluation
    summary["skipped"] = dict(dataset.skipped) if dataset is not None else {}
    summary["seconds_per_edit"] = (sum(r["seconds_per_edit"] for r in records) / len(records)) if records else None
    summary["subject_rules"] = _count(r.get("subject_rule") for r in records)
    if lifelong_summary is not None:
        summary["lifelong"] = lifelong_summary
    if capability_summary is not None:
        summary["capability"] = capability_summary
    summary["convergence"] = convergence_summary(records, scorer)
    summary["known_facts"] = known_facts(records, scorer)
    summary["notes"] = (list(getattr(dataset, "notes", [])) if dataset is not None else []) + run_notes(records)
    summary["notes"] += [n for n in [convergence_note(summary["convergence"]), known_note(summary["known_facts"])] if n]
    write_atomic(out / "summary.json", json.dumps(finite(summary), indent=2, ensure_ascii=False, allow_nan=False))
    return summary


def _count(values) -> dict:
    out: dict = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out
