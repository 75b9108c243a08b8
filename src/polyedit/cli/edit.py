"""`polyedit edit`: one edit, and the model's answers before and after it."""

from __future__ import annotations

import click

from polyedit.cli.common import (adapter_max_error_option, adapter_rank_option, chat_template_option, device_map_option,
                                 device_option, dtype_option, hparams_option, method_option, model_option,
                                 modules_option, parse_modules, remote_option)


@click.command("edit")
@model_option
@method_option
@click.option("--lang", default="en", show_default=True, help="language of the edit prompt")
@click.option("--prompt", required=True, help="edit prompt containing the subject, e.g. 'Ana Lind was born in'")
@click.option("--subject", required=True)
@click.option("--target-new", required=True)
@click.option("--target-true", default=None)
@click.option("--probe", "probes", multiple=True, metavar="LANG=PROMPT", help="extra prompt to ask, repeatable")
@click.option("--max-new-tokens", type=int, default=8, show_default=True)
@click.option("--save", "save_dir", type=click.Path(file_okay=False), default=None,
              help="write the edited model here (safetensors, save_pretrained), or a peft adapter for adapter methods")
@click.option("--as-adapter", is_flag=True, help="with --save: write the edit as a peft LoRA adapter (any edit of "
              "linear weights: the SVD of the change, its rank and error in polyedit_adapter.json)")
@adapter_rank_option
@adapter_max_error_option
@hparams_option
@device_option
@dtype_option
@device_map_option
@chat_template_option
@modules_option
@remote_option
def command(model, method, lang, prompt, subject, target_new, target_true, probes, max_new_tokens, save_dir, as_adapter,
            adapter_rank, adapter_max_error, hparams, device, dtype, device_map, chat_template, modules, trust_remote_code):
    """Apply one edit and show the greedy answers to the edit prompt and each probe, before and after."""
    from dataclasses import asdict

    from polyedit.data.cases import Edit
    from polyedit.data.languages import normalize_code
    from polyedit.errors import PolyeditError
    from polyedit.methods.base import check_save_target, get_method
    from polyedit.methods.settings_file import resolve
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import load_model

    if max_new_tokens < 1:
        raise PolyeditError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    edit = Edit(lang, subject, prompt, target_new, target_true)
    if not edit.subject_in_prompt:  # datasets may lack it (translations); typed by hand, it is a typo
        raise PolyeditError(f"--prompt {prompt!r} does not contain its subject {subject!r}")
    asks = [(edit.lang, prompt)]
    for item in probes:
        code, sep, text = item.partition("=")
        if not sep or not text.strip():
            raise PolyeditError(f"--probe {item!r}: expected LANG=PROMPT")
        asks.append((normalize_code(code), text))
    hparams = resolve(hparams, model, method)  # a file of per-model settings gives this model's entry
    if (as_adapter or adapter_rank) and not save_dir:
        raise PolyeditError("--as-adapter and --adapter-rank need --save DIR (the adapter's folder)")
    if save_dir and get_method(method, hparams).edits_in_context:
        raise PolyeditError(f"--save: {method} edits no weight (the edit lives in the prompt); nothing to save")
    get_method(method, hparams)  # fail on bad hyperparameters before loading the model
    if save_dir:
        check_save_target(save_dir)  # and on a folder the edited model could not be written to
    lm = load_model(model, dtype=dtype, device=device, device_map=device_map, trust_remote_code=trust_remote_code,
                    modules=parse_modules(modules))
    m = get_method(method, hparams, lm)
    from polyedit.models.context import check_fits

    check_fits(lm, [f"{prompt} {target_new}", *(p for _, p in asks)], "prompt", max_new_tokens)
    backend = HFBackend(lm, chat_template=chat_template)
    prompts = [p for _, p in asks]
    before = backend.generate(prompts, max_new_tokens)
    handle = m.apply(lm, [edit])
    try:
        from polyedit.data.cases import Probe

        shown = [handle.transform_prompt(Probe("reliability", code, p, target_new)) for code, p in asks]
        after = backend.generate(shown, max_new_tokens, handle.stop_strings())
        saved = None
        if save_dir and as_adapter:
            from polyedit.methods.adapter import write_adapter

            saved = write_adapter(handle, save_dir, method, rank=adapter_rank, max_error=adapter_max_error,
                                  about={"edits": [asdict(edit)]})
        elif save_dir:
            saved = handle.save(save_dir)
    finally:
        handle.restore()
    click.echo(f"{method} edit ({edit.lang}): {prompt!r} -> {target_new!r}")
    for line in outcome_lines(handle.info):
        click.echo(line)
    for (code, p), b, a in zip(asks, before, after):
        click.echo(f"[{code}] {p}\n    before: {b.text.strip()!r}\n    after:  {a.text.strip()!r}")
    if saved is not None:
        click.echo(f"edit saved as an adapter to {saved}" if as_adapter else f"edited model saved to {saved}")


def outcome_lines(info: dict) -> list[str]:
    """What the method reached: its objective's final loss against the target and the steps it took (for a
    method that optimises one), then each note it left."""
    lines = []
    for row in info.get("edits") or []:
        if "converged" not in row:
            continue
        loss = "no loss" if row["loss"] is None else f"loss {row['loss']:.4g}"
        verdict = "converged" if row["converged"] else "did NOT converge: the edit itself failed"
        lines.append(f"objective: {loss} after {row['steps']} steps (target {row['target']:g}): {verdict}")
    return lines + [f"note: {n}" for n in info.get("notes", [])]
