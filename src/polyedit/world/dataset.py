"""The `world` dataset: edit cases of a built world model, regenerated from its `build.json`.

Spec: `world[:NAME|PATH][:n=N][:edit_lang=en][:mix=cycle][:split=dev|test][:seed=S]`. NAME is a built-in checkpoint
(`small`, the default; `medium`); PATH a folder written by `polyedit world build --out`. The world is
regenerated from the config stored with the model, so the cases ask exactly the facts that model was
trained on. `edit_lang` is one language, a comma-separated list or `all` (the cases of each, one after
the other; `n` counts per edit language). Without `n` every case the world gives; `n` larger than that
is an error naming the maximum. `mix=cycle` (with several edit languages) makes each fact one case,
its edit language taking the listed languages in turn (fact 1 in the first, fact 2 in the second, ...):
distinct edits in every language, for sequential (lifelong) runs; `n` then counts cases in all. `split` keeps the cases of the dev or test persons (`cases.subject_splits`, by subject: no person is in
both); a case's `meta["split"]` says which it belongs to either way.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

from polyedit.data.languages import normalize_code
from polyedit.data.splits import check_split
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError


def checkpoint_dir(arg: str | None) -> Path:
    from polyedit.models.load import world_checkpoint

    # only an argument spelt as a path is a folder: a directory named `small` in the working directory
    # must not shadow the built-in `world:small`
    if arg and (arg.startswith((".", "~")) or "/" in arg):
        if not Path(arg).expanduser().is_dir():
            raise PolyeditError(f"world dataset: no folder at {arg}")
        return Path(arg).expanduser()
    return world_checkpoint(arg or "small")


def spec_int(spec: DatasetSpec, key: str, default: int | None, minimum: int, dataset: str = "world") -> int | None:
    raw = spec.options.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PolyeditError(f"{dataset} dataset: {key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise PolyeditError(f"{dataset} dataset: {key} must be at least {minimum}, got {value}")
    return value


@register_dataset("world", "the knowledge world of a built-in model: "
                           "world[:small|medium|PATH][:n=N][:edit_lang=en|LANG,LANG|all][:mix=cycle][:split=dev|test]",
                  options=("n", "edit_lang", "mix", "seed"))
def load(spec: DatasetSpec) -> Dataset:
    from polyedit.world.build import read_build
    from polyedit.world.config import BuildConfig

    folder = checkpoint_dir(spec.arg)
    config = read_build(folder)["config"]
    raw_langs = spec.options.get("edit_lang", "en")
    edit_langs = (list(BuildConfig.from_dict(config).world.langs) if raw_langs == "all"
                  else [normalize_code(x) for x in raw_langs.split(",") if x.strip()])
    n = spec_int(spec, "n", None, 1)
    # the split is the world's own, seeded by person (`meta["split"]`, which data/splits.py keeps), applied
    # here as well so that `n=` counts the cases of the split
    split = check_split(spec.options.get("split"))
    split = None if split == "all" else split
    mix = spec.options.get("mix", "concat")
    if mix not in ("concat", "cycle"):
        raise PolyeditError(f"world dataset: mix must be concat or cycle, got {mix!r}")
    seed = spec_int(spec, "seed", 0, 0) or 0
    # with one edit language (or cycling) case i is the same however many are made: a run's --limit makes
    # only the first cases (the 12 one-case runs of the demo's heatmap build 12 cases, not 12 x 1,335)
    first = spec.limit if len(edit_langs) == 1 or mix == "cycle" else None
    built = _built(json.dumps(config, sort_keys=True), n, seed, tuple(edit_langs), split, mix, first)
    cases = [_fresh(c) for c in built]
    if len(edit_langs) > 1 and mix != "cycle":  # the same fact edited in several languages: one case each, told apart by id
        for c in cases:
            c.case_id = f"{c.case_id}-{c.edit.lang}"
    name = f"world:{spec.arg or 'small'}"
    for c in cases:  # in-context editing builds its demonstrations from this world's own edits
        c.meta["demo_corpus"] = name
    # answers spelt the same in every language or translated/transliterated, and how the person's name is
    # written, are what cross-lingual transfer depends on here: summaries report each group
    return Dataset(name, cases, source=str(folder), group_by=("answer_kind", "name_style"))


@lru_cache(maxsize=8)
def _built(config: str, n: int | None, seed: int, edit_langs: tuple[str, ...], split: str | None, mix: str,
           first: int | None) -> tuple:
    """The cases of a world, by its build config (not its folder), the first `first` of them when given:
    regenerating world:medium's 1,335 cases takes seconds, and a process (a demo, a sweep, the tests) loads
    the same world many times."""
    from polyedit.world.cases import make_cases, max_cases
    from polyedit.world.config import BuildConfig
    from polyedit.world.world import generate_world

    world = generate_world(BuildConfig.from_dict(json.loads(config)).world)
    if first is not None and (n is None or first < n):
        available = max_cases(world, split)
        if n is None or n <= available:  # an n beyond the world stays the error make_cases names
            n = min(first, available)
    if mix == "cycle":
        return tuple(make_cases(world, n, seed=seed, edit_lang=list(edit_langs), split=split))
    return tuple(c for lang in edit_langs for c in make_cases(world, n, seed=seed, edit_lang=lang, split=split))


def _fresh(case):
    """A copy a caller may change (case id, meta, probe list) without changing the cached case."""
    new = copy.copy(case)
    new.probes, new.meta = list(case.probes), copy.deepcopy(case.meta)
    return new


load.describe_source = lambda: "generated by polyedit.world (no files)"  # for `polyedit data list`
