"""The two knowledge-world lm-eval tasks, written for one run: data files and per-language task files.

`world_knowledge` (multiple choice) asks every fact of the world that no edit of the run touches (no fact of
an edited person: an edit also changes the facts chained to it) in every language, the true object among
`N_CHOICES - 1` distractors of the same kind. `world_fluency` scores held-out world sentences (`loglikelihood_rolling`): the relation templates of every language with persons who are not in the
world and drawn objects. Both are ordered by a seeded shuffle that is the same in every language, so
`--capability-limit N` keeps the same facts (sentences) everywhere and a document's `id` names it across
languages (the resampling unit of the paired bootstrap).

Written under the run folder as lm-eval reads a local task: `DIR/<task>_<lang>.yaml` includes the shipped
`tasks/<task>.yaml` and points `dataset_path: json` at `DIR/data/<task>_<lang>.jsonl`; `DIR/<task>.yaml` groups
the languages. `lm_eval --include_path DIR --tasks world_knowledge` runs the very same tasks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from polyedit.data.languages import join_target
from polyedit.world import names as N
from polyedit.world.corpus import fact_prompts
from polyedit.world.schema import fill, language, relations
from polyedit.world.world import World

KNOWLEDGE, FLUENCY = "world_knowledge", "world_fluency"
TASKS = (KNOWLEDGE, FLUENCY)
HEADLINE = {KNOWLEDGE: "acc", FLUENCY: "logprob_per_char"}  # the first metric of each shipped task file
N_CHOICES = 4
N_GHOSTS = 48  # persons outside the world whose sentences the fluency task scores


def shipped_task(name: str) -> Path:
    """The task file shipped with polyedit that every language's file includes."""
    return Path(__file__).resolve().parent / "tasks" / f"{name}.yaml"


def knowledge_docs(world: World, edited_subjects: set[str], seed: int) -> dict[str, list[dict]]:
    """language -> documents: {id, context, choices, gold} for each untouched fact the model was trained on
    in every language (a held-out transfer fact is stated in its source language only)."""
    every = set(world.config.langs)
    facts = [f for f in world.facts if f.subject not in edited_subjects and set(world.languages_of(f)) == every]
    random.Random(f"capability-knowledge-{seed}").shuffle(facts)
    out: dict[str, list[dict]] = {lang: [] for lang in world.config.langs}
    for fact in facts:
        rng = random.Random(f"capability-knowledge-{seed}-{fact.subject}-{fact.relation}")
        others = [o for o in world.object_ids(relations()[fact.relation].object) if o != fact.object]
        objects = rng.sample(others, min(N_CHOICES - 1, len(others)))
        gold = rng.randrange(len(objects) + 1)
        objects.insert(gold, fact.object)
        for lang in world.config.langs:
            prompts = [fact_prompts(world, fact, lang, o)[0] for o in objects]
            out[lang].append({"id": f"{fact.subject}/{fact.relation}", "context": prompts[0].context,
                              "choices": [p.continuation for p in prompts], "gold": gold})
    return out


def fluency_docs(world: World, seed: int) -> dict[str, list[dict]]:
    """language -> documents: {id, text}, a relation template of a person outside the world with a drawn
    object (the template cycles, so every template of every relation is read)."""
    rng = random.Random(f"capability-fluency-{seed}")
    taken = {p.name for p in world.persons.values()}
    ghosts = N.unique_names(rng, N_GHOSTS, taken)
    base = [r for r in relations().values() if r.subject == "person" and not r.chain]
    out: dict[str, list[dict]] = {lang: [] for lang in world.config.langs}
    for i, name in enumerate(ghosts):
        style = N.NAME_STYLES[i % len(N.NAME_STYLES)]
        for j, rel in enumerate(base):
            obj = rng.choice(world.object_ids(rel.object))
            for lang in world.config.langs:
                out[lang].append({"id": f"ghost{i:03d}/{rel.name}",
                                  "text": _sentence(world, name, style, rel, obj, lang, i + j)})
    return out


def _sentence(world: World, name, style: str, rel, obj: str, lang: str, k: int) -> str:
    """Template `k` (cycling) of `rel` with the person `name` and `obj`, joined as the training text is."""
    data = language(lang)
    templates = data.templates(rel.name)
    context, continuation = join_target(fill(templates[k % len(templates)], N.spell(name, data, style)),
                                        world.object_name(rel.object, obj, lang), lang)
    return context + continuation


def write_tasks(folder: Path, world: World, edited_subjects: set[str], seed: int) -> dict[str, list[str]]:
    """Write both tasks' data, per-language task files and groups under `folder`; returns group -> subtasks."""
    docs = {KNOWLEDGE: knowledge_docs(world, edited_subjects, seed), FLUENCY: fluency_docs(world, seed)}
    (folder / "data").mkdir(parents=True, exist_ok=True)
    groups = {}
    for task, per_lang in docs.items():
        version = yaml.safe_load(_strip_function_tags(shipped_task(task).read_text("utf-8")))["metadata"]["version"]
        subtasks = []
        for lang, rows in per_lang.items():
            if not rows:
                continue
            name = f"{task}_{lang}"
            data = folder / "data" / f"{name}.jsonl"
            data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
            _write_yaml(folder / f"{name}.yaml", {
                "include": str(shipped_task(task)), "task": name,
                "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
                "metadata": {"version": version, "lang": lang}})
            subtasks.append(name)
        _write_yaml(folder / f"{task}.yaml", {"group": task, "task": subtasks,
                                              "aggregate_metric_list": [_group_metric(task)],
                                              "metadata": {"version": version}})
        groups[task] = subtasks
    return groups


def _group_metric(task: str) -> dict:
    """The group's line: the mean over languages of the headline metric (each language weighs the same)."""
    return {"metric": HEADLINE[task], "aggregation": "mean", "weight_by_size": False}


def _strip_function_tags(text: str) -> str:
    return text.replace("!function ", "")


def _write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
