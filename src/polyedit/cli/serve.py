"""`polyedit serve`: a local model (optionally edited) over the OpenAI-compatible `/v1/completions` and
`/v1/chat/completions` API (FastAPI + uvicorn; see `polyedit/serve/server.py` for what is accepted)."""

from __future__ import annotations

import os

import click

from polyedit.cli.common import device_option, dtype_option, hparams_option, remote_option


@click.command("serve")
@click.argument("model")
@click.option("--edits", "edits_file", type=click.Path(dir_okay=False), default=None,
              help="JSONL file of edit cases to apply before serving (with --method)")
@click.option("--method", default="ft-l", show_default=True, help="weight-editing method for --edits")
@hparams_option
@click.option("--adapter", type=click.Path(file_okay=False), default=None, help="PEFT adapter folder to merge")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (loopback by default)")
@click.option("--port", type=int, default=8000, show_default=True, help="port (0: any free port)")
@click.option("--model-name", default=None, help="name clients send as 'model' (default: MODEL)")
@click.option("--api-key-env", default=None,
              help="environment variable holding a key clients must send (default: no key required)")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="prompts decoded together; concurrent requests are gathered into such batches")
@click.option("--batch-window-ms", type=click.FloatRange(0, 1000), default=4.0, show_default=True,
              help="how long the model worker waits for more requests to join a batch")
@click.option("--max-tokens", "max_tokens_limit", type=click.IntRange(1), default=None,
              help="largest max_tokens a request may ask for (default: the model's context)")
@click.option("--max-body-mb", type=click.FloatRange(0.001, 1024), default=8.0, show_default=True,
              help="largest request body")
@click.option("--timeout", "read_timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="seconds a client has to send a whole request")
@click.option("--keep-alive", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="seconds an idle keep-alive connection stays open")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="CPU threads for the model (torch.set_num_threads; default: torch's choice)")
@click.option("--backlog", type=click.IntRange(64, 65535), default=2048, show_default=True,
              help="connections the kernel queues before the server accepts them")
@device_option
@dtype_option
@remote_option
def command(model, edits_file, method, hparams, adapter, host, port, model_name, api_key_env, batch_size,
            batch_window_ms, max_tokens_limit, max_body_mb, read_timeout, keep_alive, threads, backlog, device, dtype,
            trust_remote_code):
    """Serve MODEL (hub id, path, world:small) at http://HOST:PORT/v1/completions and /v1/chat/completions
    until interrupted; LoRA adapters are loaded at run time with POST /v1/load_lora_adapter (vLLM's route)."""
    from polyedit.errors import PolyeditError
    from polyedit.models.load import load_model
    from polyedit.methods.base import get_method
    from polyedit.methods.settings_file import resolve
    from polyedit.serve import CompletionModel, apply_adapter, apply_edits, make_server

    hparams = resolve(hparams, model, method)  # a file of per-model settings gives this model's entry
    if edits_file and adapter:
        raise PolyeditError("give --edits or --adapter, not both")
    if edits_file:
        get_method(method, hparams)  # bad hyperparameters fail before the model is loaded
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise PolyeditError(f"--api-key-env {api_key_env}: the variable is not set")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # on a shared or small machine one thread can be many times faster
    lm = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    if adapter:
        apply_adapter(lm, adapter)
    if edits_file:
        n = apply_edits(lm, edits_file, method, hparams)
        click.echo(f"applied {n} edit(s) with {method}", err=True)
    served = CompletionModel(lm, model_name or model, batch_size, max_tokens=max_tokens_limit,
                             batch_window=batch_window_ms / 1000)
    server = make_server(served, host, port, key, backlog=backlog, keep_alive=keep_alive, read_timeout=read_timeout,
                         max_body=int(max_body_mb * 1024 * 1024))
    if not key and server.server_address[0] not in ("127.0.0.1", "::1", "localhost"):
        click.echo(f"warning: serving on {host} without an API key: anyone who can reach it may use the model "
                   "(--api-key-env VAR)", err=True)
    click.echo(f"serving {served.model_name} at {server.url}/v1/completions and {server.url}/v1/chat/completions "
               "(Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
