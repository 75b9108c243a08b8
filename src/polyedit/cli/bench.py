"""`polyedit bench`: evaluate, edit, evaluate, restore, for every case of a dataset."""

from __future__ import annotations

import click

from polyedit.cli.bench_remote import add_remote_options
from polyedit.cli.common import (batch_size_option, chat_template_option, device_map_option, device_option,
                                 dtype_option, hparams_option, method_option, model_option, parse_batch_size,
                                 modules_option, parse_modules, remote_option, split_langs)


@click.command("bench")
@model_option
@method_option
@click.option("--data", required=True, help="dataset spec, e.g. world:small, bmike53:zsre:langs=de,ja, jsonl:FILE")
@click.option("--langs", default=None, help="probe languages, comma-separated (default: all in the data)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@hparams_option
@click.option("--protocols", default=None,
              help="comma-separated protocols (default: the headline ones, then the dataset's own)")
@click.option("--mode", type=click.Choice(["single", "batch", "sequential"]), default="single", show_default=True)
@click.option("--edits-per-step", type=int, default=1, show_default=True,
              help="batch size (batch mode) or re-scoring interval (sequential mode)")
@click.option("--limit", type=int, default=None, help="first N cases only")
@click.option("--filter", "case_filter", type=click.Choice(["known"]), default=None,
              help="known: only the cases whose old answer the unedited model generates (counted in the summary)")
@click.option("--checkpoints", default=None, help="sequential mode: edit counts, e.g. 100,500,1000, at which "
              "retention of earlier edits, recall of untouched facts and locality drift are measured "
              "(checkpoints.jsonl; replaces the re-scoring of every case after every step)")
@click.option("--retention-sample", type=int, default=None,
              help="with --checkpoints: re-score this many of the edits so far in each segment (seeded sample; "
              "default 200, so a checkpoint's cost does not grow with the edits)")
@click.option("--edit-probes", type=click.Choice(["all", "edit"]), default="all", show_default=True,
              help="score each edit right after it is made on every probe of its case, or on its edit prompt "
              "only (a long lifelong run, whose checkpoints ask every language)")
@click.option("--recall-sample", type=int, default=50, show_default=True,
              help="with --checkpoints: cases the run does not edit whose facts measure recall and locality")
@click.option("--capability", default=None, help="lm-eval tasks (names or task YAML files, comma-separated) run on "
              "the model before and after editing, e.g. world_knowledge,world_fluency (needs polyedit[capability])")
@click.option("--capability-limit", type=int, default=None, help="with --capability: examples per task")
@click.option("--capability-sample", type=int, default=None,
              help="with --capability, single/batch mode: check after this many edits (batches), seeded (default all)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="skip cases already in OUT/results.jsonl")
@click.option("--judge-url", default=None, help="an OpenAI-compatible endpoint that judges each generated answer "
              "(YES/NO; junk or unreachable = unscored), e.g. http://127.0.0.1:8001/v1")
@click.option("--judge-model", default=None, help="the model name the judge endpoint serves")
@click.option("--log-samples/--no-log-samples", default=True, show_default=True,
              help="write OUT/samples.jsonl: every prompt as sent, the generated text, gold, aliases, metrics")
@add_remote_options
@device_option
@dtype_option
@device_map_option
@batch_size_option
@chat_template_option
@modules_option
@remote_option
def command(model, method, data, langs, out, hparams, protocols, mode, edits_per_step, limit, case_filter, checkpoints,
            retention_sample, edit_probes, recall_sample, capability, capability_limit, capability_sample, seed, resume,
            judge_url, judge_model, log_samples,
            backend_kind, base_url, model_name, api_key_env, concurrency, chat_protocol, judge_api, api_cache, no_cache,
            max_api_tokens, device, dtype, device_map, batch_size,
            chat_template, modules, trust_remote_code):
    """Run METHOD on every case of DATA and write results.jsonl, summary.json and summary.md to OUT."""
    from polyedit.api import bench
    from polyedit.cli.bench_remote import check_budget, check_remote, endpoint_options, estimate_tokens, make_backend
    from polyedit.data.registry import load_dataset
    from polyedit.methods.base import get_method
    from polyedit.errors import PolyeditError
    from polyedit.models.load import load_model

    from polyedit.evaluation.runner import BenchConfig
    from polyedit.evaluation.store import RunStore

    batch_size = parse_batch_size(batch_size)
    m = get_method(method, hparams)  # fail on a bad method or hyperparameters before loading anything
    langs = split_langs(langs)
    protocols = [p for p in protocols.split(",") if p] if protocols is not None else None
    checkpoints = _counts(checkpoints) if checkpoints is not None else None
    lifelong = dict(checkpoints=checkpoints, retention_sample=retention_sample, recall_sample=recall_sample,
                    edit_probes=edit_probes,
                    capability=capability.split(",") if capability is not None else None,
                    capability_limit=capability_limit, capability_sample=capability_sample)
    BenchConfig(model=model, method=method, data=data, langs=langs, protocols=protocols, seed=seed, mode=mode,
                edits_per_step=edits_per_step, limit=limit, log_samples=log_samples, judge_url=judge_url,
                judge_model=judge_model, filter=case_filter, **lifelong)  # and on bad flags
    if capability is not None:  # the optional extra: one line naming it, before anything is loaded
        from polyedit.evaluation.capability.harness import require_lm_eval

        require_lm_eval()
    RunStore(out).check_before(resume)  # the --out folder: before the data and the model are read
    dataset = load_dataset(data, langs=langs)  # fail on bad data before loading the model; handed on, not read again
    check_remote(backend_kind, m, method, base_url, chat_template, max_api_tokens)
    backend = None
    if backend_kind != "hf":
        from polyedit.models.openai_backend_model import describe_model

        lm = describe_model(model, trust_remote_code) or model  # editing.yaml, tokenizer, context: no weights
        described = lm if not isinstance(lm, str) else None
        if max_api_tokens is not None:
            cases = dataset.cases[:limit] if limit else dataset.cases
            cases = [c.restrict(langs) for c in cases] if langs else cases
            check_budget(max_api_tokens, estimate_tokens(described, get_method(method, hparams, described), cases,
                                                         scoring=backend_kind == "openai", judged=bool(judge_url),
                                                         new_tokens=16))
        backend = make_backend(backend_kind, base_url, model_name or model, api_key_env=api_key_env,
                               concurrency=concurrency, chat_protocol=chat_protocol, seed=seed,
                               endpoint=endpoint_options(no_cache, api_cache))
    else:
        lm = load_model(model, dtype=dtype, device=device, device_map=device_map, trust_remote_code=trust_remote_code,
                        modules=parse_modules(modules))
    summary = bench(lm, method, data, out, backend=backend, dataset=dataset, langs=langs, protocols=protocols,
                    hparams=hparams, seed=seed, mode=mode, edits_per_step=edits_per_step, limit=limit, resume=resume,
                    log_samples=log_samples, judge_url=judge_url, judge_model=judge_model, judge_api=judge_api,
                    batch_size=batch_size, chat_template=chat_template, cache=not no_cache, case_filter=case_filter,
                    **lifelong)
    click.echo(open(f"{out}/summary.md", encoding="utf-8").read())
    click.echo(f"results: {out}/results.jsonl ({summary['n_cases']} cases)")
    for note in summary.get("notes", []):  # last on the console: a fallback taken, an edit that did nothing
        click.echo(f"note: {note}", err=True)


def _counts(text: str) -> list[int]:
    from polyedit.errors import PolyeditError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise PolyeditError(f"--checkpoints: expected comma-separated edit counts such as 100,500,1000, "
                            f"got {text!r}") from None
