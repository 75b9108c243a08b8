"""`polyedit world build`: world -> corpus -> tokenizer -> model -> training -> measurements -> checkpoint.

The checkpoint is a plain `save_pretrained` folder (safetensors, config, tokenizer) plus `build.json`:
the command and seed that rebuild it, the full build config (from which the world is regenerated
exactly) and what was measured.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch

from polyedit.data.jsonio import read_json
from polyedit.world.config import BuildConfig, build_config
from polyedit.world.corpus import UpdateSampler, fact_docs, incontext_split
from polyedit.world.editing_yaml import CHECKPOINTS, write_checkpoint_copy
from polyedit.world.world import generate_world

log = logging.getLogger(__name__)
BUILD_FILE = "build.json"


def default_out(size: str) -> Path:
    return CHECKPOINTS / size


def read_build(path: str | Path) -> dict:
    """The `build.json` of a world checkpoint folder."""
    from polyedit.errors import PolyeditError

    file = Path(path) / BUILD_FILE
    if not file.is_file():
        raise PolyeditError(f"{path} is not a knowledge-world checkpoint (no {BUILD_FILE})")
    return read_json(file)


def build(size: str, out: str | Path | None = None, *, seed: int = 0, device: str = "cpu",
          threads: int | None = None, command: str = "", progress: bool = True, eval_per_lang: int | None = None,
          watch: bool = False, init_from: str | Path | None = None, **train_overrides) -> dict:
    from polyedit.models.backend import HFBackend
    from polyedit.models.load import LoadedModel, pick_device, prepare_tokenizer
    from polyedit.world import evaluate
    from polyedit.world.tokenizer import train_tokenizer
    from polyedit.world.train import encode, make_model, train

    cfg: BuildConfig = build_config(size, seed, **train_overrides)
    out = Path(out) if out else default_out(size)
    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    t0 = time.time()

    world = generate_world(cfg.world)
    split = incontext_split(world, cfg.n_ghosts, cfg.icl_eval_pairs)
    docs = fact_docs(world)
    sampler = UpdateSampler(world, split.train_ghosts, split.heldout_pairs, cfg.train.icl_english_fact_share)
    mix, demo = cfg.train.icl_mix, cfg.train.demo_share

    def icl_epoch(epoch: int, n: int):
        rng = random.Random(f"{seed}-epoch-{epoch}")
        return [sampler.sample(rng, mix, demo).doc() for _ in range(n)]

    previous = None
    if init_from is not None:  # a further training stage of an earlier build of the same world and model
        model, tokenizer, previous = _continue_from(Path(init_from), cfg)
    else:
        tokenizer_text = [d.text for d in docs] + [d.text for d in icl_epoch(-1, min(4000, len(docs)))]
        tokenizer = train_tokenizer(tokenizer_text, cfg.model.vocab_size)
        prepare_tokenizer(tokenizer)
        model = make_model(cfg.model, tokenizer, seed)
    log.info("world: %d facts, %d fact documents, vocabulary %d", len(world.facts), len(docs), len(tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    facts = encode(tokenizer, docs, cfg.model.max_positions)
    backend = HFBackend(LoadedModel(model, tokenizer, f"world:{size}"), batch_size=64)

    def on_epoch(epoch: int) -> str:  # a cheap look at the cliff: recall and in-context accuracy so far
        rec = evaluate.recall(backend, world, 16, seed)
        icl = evaluate.incontext(backend, world, split, limit=24)
        return (f"recall {sum(rec.values()) / len(rec):.2f} (min {min(rec.values()):.2f}), in-context "
                f"{icl['update_accuracy']:.2f}, negatives {icl['negative_accuracy']:.2f}, "
                f"ghosts {icl['ghost']['accuracy']:.2f}")

    t_train = time.time()
    # a later stage draws other in-context documents and another batch order than the stage before it
    stage_seed = seed if previous is None else seed + 1000 * len(previous["stages"])
    stats = train(model, tokenizer, facts, icl_epoch, cfg.train, stage_seed, dev, cfg.model.max_positions,
                  progress, on_epoch if watch else None)
    train_s = time.time() - t_train

    # Saved before measuring: an hour of training is not lost to a failure in the measurements.
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    write_checkpoint_copy(size, out)
    # the model names its own dataset (models.load reads it): the built-in name, or this folder
    (out / "dataset.txt").write_text(f"world:{size if out == default_out(size) else out.resolve()}\n", "utf-8")
    log.info("trained in %.0f s; measuring", train_s)

    per_lang = eval_per_lang if eval_per_lang is not None else (24 if size == "tiny" else 400)
    measured = {
        "recall": evaluate.recall(backend, world, per_lang, seed),
        "incontext": evaluate.incontext(backend, world, split),
        "transfer": evaluate.transfer(backend, world),
    }
    measured["recall_min"] = min(measured["recall"].values())
    meta = {
        "command": command or f"polyedit world build --size {size} --seed {seed}",
        "size": size, "seed": seed, "config": cfg.to_dict(),
        "parameters": n_params, "device": str(dev), "threads": torch.get_num_threads(),
        "train_seconds": round(train_s, 1), "total_seconds": round(time.time() - t0, 1),
        "training": stats, "measured": measured,
        # every training stage, first to last: the commands that rebuild this checkpoint, in order
        "stages": [*(previous["stages"] if previous else []),
                   {"command": command or f"polyedit world build --size {size} --seed {seed}",
                    "train": asdict(cfg.train), "training": stats, "train_seconds": round(train_s, 1),
                    "threads": torch.get_num_threads(), "init_from": str(init_from) if init_from else None}],
        "versions": {"torch": torch.__version__, "transformers": _version("transformers"),
                     "tokenizers": _version("tokenizers"), "python": platform.python_version()},
    }
    meta["train_seconds_all_stages"] = round(sum(st["train_seconds"] for st in meta["stages"]), 1)
    (out / BUILD_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    log.info("saved %s", out)
    return meta


def _continue_from(folder: Path, cfg: BuildConfig):
    """The model and tokenizer of an earlier build, checked to be of the same world and architecture.

    The tokenizer is the earlier build's (a new one would renumber the vocabulary under the trained
    embeddings); the earlier stages are carried into the new `build.json`.
    """
    from transformers import AutoTokenizer, LlamaForCausalLM

    from polyedit.errors import PolyeditError
    from polyedit.models.load import prepare_tokenizer

    before = read_build(folder)
    old = BuildConfig.from_dict(before["config"])
    if old.world != cfg.world or old.model != cfg.model or old.n_ghosts != cfg.n_ghosts \
            or old.icl_eval_pairs != cfg.icl_eval_pairs:
        raise PolyeditError(f"{folder}: built from another world or model than --size {cfg.size} (see its {BUILD_FILE})")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for loading_only in ("is_local", "local_files_only"):  # how it was read, not what it is: not saved again
        tokenizer.init_kwargs.pop(loading_only, None)
    prepare_tokenizer(tokenizer)
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    stages = before.get("stages") or [{  # a build from before stages were recorded: its one stage
        "command": before["command"], "train": before["config"]["train"], "training": before["training"],
        "train_seconds": before["train_seconds"], "threads": before["threads"], "init_from": None}]
    return model, tokenizer, {"stages": stages}


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)
