"""`polyedit world`: build the knowledge-world models, inspect them, export their cases as benchmarks."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path

import click

from polyedit.errors import PolyeditError


@click.group("world")
def world() -> None:
    """The synthetic multilingual knowledge world and its built-in models."""


def _print_measured(measured: dict) -> None:
    recall = measured["recall"]
    click.echo("exact recall of training facts per language:")
    click.echo("  " + "  ".join(f"{lang} {v:.3f}" for lang, v in recall.items()))
    icl = measured["incontext"]
    click.echo(f"in-context update accuracy: {icl['update_accuracy']:.3f} (negatives kept: "
               f"{icl['negative_accuracy']:.3f}, never-seen persons: {icl['ghost']['accuracy']:.3f})")
    click.echo("  per query language: " + "  ".join(
        f"{lang} {v:.2f}" for lang, v in icl["counterfact"]["per_lang"].items()))
    tr = measured["transfer"]
    click.echo(f"held-out facts stated only in {','.join(tr['source'])}: shared Latin names "
               f"{tr['shared']['mean']:.3f}, transliterated names {tr['native']['mean']:.3f} "
               f"(majority baseline {tr['majority_baseline']:.3f})")
    kinds = tr.get("answer_kind", {})  # builds before answer kinds were measured lack it
    if kinds:
        click.echo("  by answer kind: " + ", ".join(f"{k} {v['mean']:.3f} ({v['n_facts']} facts)"
                                                 for k, v in kinds.items()))


@world.command("build")
@click.option("--size", type=click.Choice(["tiny", "small", "medium", "base"]), default="small", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="output folder [default: the built-in checkpoint folder of the size]")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the world, the corpus and the model")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, or auto")
@click.option("--threads", type=int, default=None, help="CPU threads for torch [default: torch's]")
@click.option("--epochs", type=float, default=None, help="override the size's training epochs")
@click.option("--lr", type=float, default=None, help="override the size's peak learning rate")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="measure recall and in-context accuracy after every epoch")
@click.option("--init-from", type=click.Path(file_okay=False, exists=True), default=None,
              help="train further from this earlier build of the same size and seed (a second stage)")
def build_cmd(size: str, out: str | None, seed: int, device: str, threads: int | None, epochs: float | None,
              lr: float | None, watch: bool, init_from: str | None) -> None:
    """Generate the world, train a tokenizer and a model on it, measure it and save it."""
    from polyedit.world.build import build

    if threads is not None and threads < 1:
        raise PolyeditError("--threads must be at least 1")
    if epochs is not None and epochs <= 0:
        raise PolyeditError("--epochs must be positive")
    if lr is not None and not 0 < lr < 1:
        raise PolyeditError("--lr must be in (0, 1)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = "polyedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["world"] else ""
    meta = build(size, out, seed=seed, device=device, threads=threads, command=command, watch=watch,
                 epochs=epochs, lr=lr, init_from=init_from)
    click.echo(f"built world:{size} ({meta['parameters']:,} parameters) in {meta['train_seconds']:.0f} s "
               f"of training, {meta['total_seconds']:.0f} s in all")
    _print_measured(meta["measured"])


def _markdown(meta: dict) -> str:
    """The measurements as the Markdown tables of the world's README."""
    m = meta["measured"]
    langs = list(m["recall"])
    row = lambda name, values: f"| {name} | " + " | ".join(values) + " |"  # noqa: E731
    pct = lambda v: "-" if v is None or v != v else f"{100 * v:.1f}".removesuffix(".0")  # noqa: E731
    icl, tr = m["incontext"], m["transfer"]
    stages = meta.get("stages") or []
    if len(stages) > 1:  # a build trained further with --init-from: every stage, in order
        head = [f"{meta['parameters']:,} parameters, trained in {len(stages)} stages, "
                f"{meta['train_seconds_all_stages'] / 60:.1f} min of training in all on {meta['device']}:", ""]
        head += [f"{i}. `{st['command']}`: {st['training']['steps']} steps, {st['train_seconds'] / 60:.1f} min, "
                 f"{st['threads']} thread(s)" for i, st in enumerate(stages, 1)]
    else:
        head = [f"`{meta['command']}`: {meta['parameters']:,} parameters, {meta['training']['steps']} steps, "
                f"{meta['train_seconds'] / 60:.1f} min of training ({meta['total_seconds'] / 60:.1f} min in all) on "
                f"{meta['device']} with {meta['threads']} thread(s)."]
    lines = [
        *head,
        "",
        row("%", langs), "| --- " * (len(langs) + 1) + "|",
        row("exact recall of training facts", [pct(m["recall"][x]) for x in langs]),
        row("in-context update (English fact)", [pct(icl["counterfact"]["per_lang"].get(x)) for x in langs]),
        row("in-context negatives kept", [pct(icl["negative"]["per_lang"].get(x)) for x in langs]),
        row("transfer from en, shared Latin names", [pct(tr["shared"]["per_lang"].get(x)) for x in langs]),
        row("transfer from en, transliterated names", [pct(tr["native"]["per_lang"].get(x)) for x in langs]),
        *(row(f"transfer from en, answers {kind}", [pct(v["per_lang"].get(x)) for x in langs])
          for kind, v in tr.get("answer_kind", {}).items()),
        "",
        f"In-context update accuracy {pct(icl['update_accuracy'])}% (negatives kept {pct(icl['negative_accuracy'])}%, "
        f"never-seen persons {pct(icl['ghost']['accuracy'])}%). Transfer of {tr['n_facts']} facts stated only in "
        f"{', '.join(tr['source'])}: shared names {pct(tr['shared']['mean'])}%, transliterated "
        f"{pct(tr['native']['mean'])}%, majority-object baseline {pct(tr['majority_baseline'])}%.",
    ]
    return "\n".join(lines)


@world.command("info")
@click.option("--model", "model", default="world:small", show_default=True,
              help="world:NAME or a folder written by `world build`")
@click.option("--markdown", is_flag=True, help="print the measurements as Markdown tables")
def info_cmd(model: str, markdown: bool) -> None:
    """Show how a world model was built and what was measured."""
    from polyedit.world.build import read_build
    from polyedit.world.dataset import checkpoint_dir

    meta = read_build(checkpoint_dir(model.removeprefix("world:")))
    if markdown:
        click.echo(_markdown(meta))
        return
    click.echo(f"command: {meta['command']}")
    click.echo(f"parameters: {meta['parameters']:,}; training {meta['train_seconds']:.0f} s on {meta['device']} "
               f"({meta['threads']} threads), {meta['training']['steps']} steps")
    _print_measured(meta["measured"])


@world.command("export")
@click.option("--model", "model", default="world:small", show_default=True,
              help="world:NAME or a folder written by `world build`")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--format", "formats", type=click.Choice(["mkeb", "bmike53", "jsonl"]), multiple=True,
              default=("mkeb", "bmike53", "jsonl"), show_default=True)
@click.option("-n", "n", type=int, default=None, help="number of cases [default: all]")
@click.option("--edit-lang", default="en", show_default=True)
def export_cmd(model: str, out: str, formats: tuple[str, ...], n: int | None, edit_lang: str) -> None:
    """Write the world's edit cases as MKEB, BMIKE-53 and polyedit jsonl files."""
    from polyedit.data.registry import load_dataset
    from polyedit.world.export import export_bmike53, export_mkeb

    name = model.removeprefix("world:")
    spec = f"world:{name}:edit_lang={edit_lang}" + (f":n={n}" if n is not None else "")
    cases = load_dataset(spec).cases
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if "mkeb" in formats:
        path = export_mkeb(cases, root / "mkeb" / "world.json")
        click.echo(f"mkeb: {path} (load with mkeb:{path.parent})")
    if "bmike53" in formats:
        folder = export_bmike53(cases, root / "bmike53")
        click.echo(f"bmike53: {folder} (load with bmike53:counterfact:dir={folder.parent})")
    if "jsonl" in formats:
        path = root / "world.jsonl"
        path.write_text("".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in cases), "utf-8")
        click.echo(f"jsonl: {path} (load with jsonl:{path})")
    click.echo(f"{len(cases)} cases")


command = world
