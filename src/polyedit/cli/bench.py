"""`polyedit bench`: evaluate, edit, evaluate, restore, for every case of a dataset."""

from __future__ import annotations

import click

from polyedit.cli.common import (batch_size_option, chat_template_option, device_map_option, device_option,
                                 dtype_option, hparams_option, method_option, model_option, parse_batch_size,
                                 remote_option, split_langs)


@click.command("bench")
@model_option
@method_option
@click.option("--data", required=True, help="dataset spec, e.g. world:small, bmike53:zsre:langs=de,ja, jsonl:FILE")
@click.option("--langs", default=None, help="probe languages, comma-separated (default: all in the data)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@hparams_option
@click.option("--protocols", default=None, help="comma-separated protocols (default: the dataset's own)")
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
              help="with --checkpoints: re-score this many of the edits so far (seeded sample; default all)")
@click.option("--recall-sample", type=int, default=50, show_default=True,
              help="with --checkpoints: cases the run does not edit whose facts measure recall and locality")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="skip cases already in OUT/results.jsonl")
@click.option("--judge-url", default=None, help="an OpenAI-compatible endpoint that judges each generated answer "
              "(YES/NO; junk or unreachable = unscored), e.g. http://127.0.0.1:8001/v1")
@click.option("--judge-model", default=None, help="the model name the judge endpoint serves")
@click.option("--log-samples/--no-log-samples", default=True, show_default=True,
              help="write OUT/samples.jsonl: every prompt as sent, the generated text, gold, aliases, metrics")
@click.option("--backend", "backend_kind", type=click.Choice(["hf", "openai"]), default="hf", show_default=True,
              help="hf: load MODEL here; openai: an OpenAI-compatible completions endpoint (in-context methods)")
@click.option("--base-url", default=None, help="endpoint URL for --backend openai, e.g. http://127.0.0.1:8000/v1")
@click.option("--model-name", default=None, help="model name the endpoint serves (default: --model)")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
              help="environment variable holding the endpoint's API key (never written anywhere)")
@click.option("--concurrency", type=int, default=4, show_default=True, help="requests in flight (--backend openai)")
@device_option
@dtype_option
@device_map_option
@batch_size_option
@chat_template_option
@remote_option
def command(model, method, data, langs, out, hparams, protocols, mode, edits_per_step, limit, case_filter, checkpoints,
            retention_sample, recall_sample, seed, resume,
            judge_url, judge_model, log_samples,
            backend_kind, base_url, model_name, api_key_env, concurrency, device, dtype, device_map, batch_size,
            chat_template, trust_remote_code):
    """Run METHOD on every case of DATA and write results.jsonl, summary.json and summary.md to OUT."""
    from polyedit.api import bench
    from polyedit.data.registry import load_dataset
    from polyedit.methods.base import get_method
    from polyedit.errors import PolyeditError
    from polyedit.models.load import load_model

    from polyedit.evaluation.runner import BenchConfig

    batch_size = parse_batch_size(batch_size)
    m = get_method(method, hparams)  # fail on a bad method or hyperparameters before loading anything
    langs = split_langs(langs)
    protocols = [p for p in protocols.split(",") if p] if protocols is not None else None
    checkpoints = _counts(checkpoints) if checkpoints is not None else None
    lifelong = dict(checkpoints=checkpoints, retention_sample=retention_sample, recall_sample=recall_sample)
    BenchConfig(model=model, method=method, data=data, langs=langs, protocols=protocols, seed=seed, mode=mode,
                edits_per_step=edits_per_step, limit=limit, log_samples=log_samples, judge_url=judge_url,
                judge_model=judge_model, filter=case_filter, **lifelong)  # and on bad flags
    dataset = load_dataset(data)  # fail on bad data before loading the model; handed on, not read again
    backend = None
    if backend_kind == "openai":
        from polyedit.models.openai_backend import OpenAIBackend

        if not base_url:
            raise PolyeditError("--backend openai needs --base-url")
        if not getattr(m, "edits_in_context", False):
            raise PolyeditError(f"method {method!r} edits weights; a remote endpoint runs in-context methods only")
        backend = OpenAIBackend(base_url, model_name or model, api_key_env=api_key_env, concurrency=concurrency)
        lm = model
    else:
        lm = load_model(model, dtype=dtype, device=device, device_map=device_map, trust_remote_code=trust_remote_code)
    summary = bench(lm, method, data, out, backend=backend, dataset=dataset, langs=langs, protocols=protocols,
                    hparams=hparams, seed=seed, mode=mode, edits_per_step=edits_per_step, limit=limit, resume=resume,
                    log_samples=log_samples, judge_url=judge_url, judge_model=judge_model,
                    batch_size=batch_size, chat_template=chat_template, case_filter=case_filter, **lifelong)
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
