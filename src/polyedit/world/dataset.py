"""The `world` dataset: edit cases of a built world model, regenerated from its `build.json`.

Spec: `world[:NAME|PATH][:n=N][:edit_lang=en][:split=dev|test][:seed=S]`. NAME is a built-in checkpoint
(`small`, the default; `medium`); PATH a folder written by `polyedit world build --out`. The world is
regenerated from the config stored with the model, so the cases ask exactly the facts that model was
trained on. `edit_lang` is one language, a comma-separated list or `all` (the cases of each, one after
the other; `n` counts per edit language). Without `n` every case the world gives; `n` larger than that
is an error naming the maximum. `split` keeps the cases of the dev or test persons (`cases.subject_splits`, by subject: no person is in
both); a case's `meta["split"]` says which it belongs to either way.
"""

from __future__ import annotations

from pathlib import Path

from polyedit.data.languages import normalize_code
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError


def checkpoint_dir(arg: str | None) -> Path:
    from polyedit.models.load import world_checkpoint

    if arg and Path(arg).is_dir():
        return Path(arg)
    return world_checkpoint(arg or "small")


def _int(spec: DatasetSpec, key: str, default: int | None) -> int | None:
    raw = spec.options.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise PolyeditError(f"world dataset: {key} must be an integer, got {raw!r}") from None


@register_dataset("world", "the knowledge world of a built-in model: "
                           "world[:small|medium|PATH][:n=N][:edit_lang=en|LANG,LANG|all][:split=dev|test]")
def load(spec: DatasetSpec) -> Dataset:
    from polyedit.world.build import read_build
    from polyedit.world.cases import make_cases
    from polyedit.world.config import BuildConfig
    from polyedit.world.world import generate_world

    folder = checkpoint_dir(spec.arg)
    meta = read_build(folder)
    world = generate_world(BuildConfig.from_dict(meta["config"]).world)
    raw_langs = spec.options.get("edit_lang", "en")
    edit_langs = (list(world.config.langs) if raw_langs == "all"
                  else [normalize_code(x) for x in raw_langs.split(",") if x.strip()])
    n = _int(spec, "n", None)
    if n is not None and n < 0:
        raise PolyeditError(f"world dataset: n must be at least 0, got {n}")
    cases = [c for lang in edit_langs
             for c in make_cases(world, n, seed=_int(spec, "seed", 0) or 0, edit_lang=lang,
                                 split=spec.options.get("split"))]
    return Dataset(f"world:{spec.arg or 'small'}", cases, source=str(folder))
