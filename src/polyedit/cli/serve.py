"""`polyedit serve`: a local model (optionally edited) over the OpenAI-compatible `/v1/completions` API."""

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
@click.option("--batch-size", type=int, default=16, show_default=True)
@device_option
@dtype_option
@remote_option
def command(model, edits_file, method, hparams, adapter, host, port, model_name, api_key_env, batch_size, device,
            dtype, trust_remote_code):
    """Serve MODEL (hub id, path, world:small) at http://HOST:PORT/v1/completions until interrupted."""
    from polyedit.errors import PolyeditError
    from polyedit.models.load import load_model
    from polyedit.serve import CompletionModel, apply_adapter, apply_edits, make_server

    if edits_file and adapter:
        raise PolyeditError("give --edits or --adapter, not both")
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise PolyeditError(f"--api-key-env {api_key_env}: the variable is not set")
    lm = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    if adapter:
        apply_adapter(lm, adapter)
    if edits_file:
        n = apply_edits(lm, edits_file, method, hparams)
        click.echo(f"applied {n} edit(s) with {method}", err=True)
    server = make_server(CompletionModel(lm, model_name or model, batch_size), host, port, key)
    h, p = server.server_address[:2]
    click.echo(f"serving {model_name or model} at http://{h}:{p}/v1/completions (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
