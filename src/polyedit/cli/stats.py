"""`polyedit stats`: the second moment C = E[k kᵀ] of MLP keys, for ROME and MEMIT, computed once and cached."""

from __future__ import annotations

import click

from polyedit.cli.common import device_map_option, device_option, dtype_option, model_option, remote_option


@click.command("stats")
@model_option
@click.option("--corpus", required=True,
              help="a .txt or .jsonl (\"text\" field) file, hf:DATASET[:CONFIG]:SPLIT (online), or world")
@click.option("--layers", default=None, help="comma-separated layers (default: the ROME and MEMIT default layers)")
@click.option("--tokens", "n_tokens", type=int, default=None, help="N, tokens to read (default: 10 × MLP width)")
@click.option("--cache-dir", default=None, help="default: $POLYEDIT_STATS_DIR or ~/.cache/polyedit/stats")
@click.option("--recompute", is_flag=True, default=False, help="ignore a cached C")
@device_option
@dtype_option
@device_map_option
@remote_option
def command(model, corpus, layers, n_tokens, cache_dir, recompute, device, dtype, device_map, trust_remote_code):
    """Compute C for ROME/MEMIT from a text corpus (streamed) and cache it; later runs reuse it."""
    import logging
    import time

    from polyedit.errors import PolyeditError
    from polyedit.methods.memit.memit_main import MEMITHParams
    from polyedit.methods.rome.rome_main import ROMEHParams
    from polyedit.methods.locate_then_edit.second_moment import cache_path, default_tokens, second_moments
    from polyedit.models.load import load_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if n_tokens is not None and n_tokens < 1:
        raise PolyeditError("--tokens must be positive")
    lm = load_model(model, dtype=dtype, device=device, device_map=device_map, trust_remote_code=trust_remote_code)
    if layers:
        try:
            chosen = sorted({int(x) for x in layers.replace(" ", ",").split(",") if x})
        except ValueError:
            raise PolyeditError(f"--layers {layers!r}: expected comma-separated integers") from None
    else:
        chosen = sorted({ROMEHParams().resolve(lm).layer, *MEMITHParams().resolve(lm).layers})
    bad = [x for x in chosen if not 0 <= x < lm.arch.n_layers]
    if bad:
        raise PolyeditError(f"--layers: {bad[0]} is not a layer of {model} (0..{lm.arch.n_layers - 1})")
    n = n_tokens or default_tokens(lm)
    t0 = time.perf_counter()
    cs = second_moments(lm, chosen, corpus, n, cache_dir, recompute=recompute)
    for layer in chosen:
        c = cs[layer]
        click.echo(f"layer {layer}: C {tuple(c.shape)}, trace {c.trace().item():.4g} -> "
                   f"{cache_path(lm, layer, corpus, n, cache_dir)}")
    click.echo(f"{len(chosen)} layer(s), N = {n} tokens, {time.perf_counter() - t0:.1f} s")
