"""The world sizes built to measure editing on (issue 17): enough distinct edit cases in every edit language,
a dev/test split by subject, both answer kinds, paraphrases. Case building needs no model: these tests build
the cases of `world:medium`'s config straight from `SIZES`."""

import json
from collections import Counter

import pytest

from polyedit.cli.main import main
from polyedit.data.cases import PORTABILITY
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError
from polyedit.world.cases import SPLITS, candidates, make_cases, max_cases, subject_splits
from polyedit.world.config import SIZES
from polyedit.world.schema import LANGS, language, relations
from polyedit.world.world import ANSWER_KINDS, SAME, TRANSLATED, generate_world

MIN_CASES, MIN_TEST = 1200, 300


@pytest.fixture(scope="module")
def medium():
    return generate_world(SIZES["medium"].world)


@pytest.fixture(scope="module")
def medium_folder(tmp_path_factory):
    """A folder with just the build.json of world:medium's config: what the dataset loader reads."""
    folder = tmp_path_factory.mktemp("medium")
    (folder / "build.json").write_text(json.dumps({"config": SIZES["medium"].to_dict()}), "utf-8")
    return folder


def test_medium_gives_enough_cases_and_test_cases(medium):
    assert max_cases(medium) >= MIN_CASES
    assert max_cases(medium, "test") >= MIN_TEST
    assert max_cases(medium, "dev") + max_cases(medium, "test") == max_cases(medium)


def test_the_edit_language_does_not_change_how_many_cases_a_world_gives(world):
    """So `max_cases` (which builds nothing) holds for each of the 12 edit languages."""
    counts = {lang: Counter(c.meta["split"] for c in make_cases(world, edit_lang=lang)) for lang in LANGS}
    expected = {split: max_cases(world, split) for split in SPLITS}
    assert all(dict(c) == expected for c in counts.values()), counts
    assert sum(expected.values()) == max_cases(world) == len(candidates(world))


def test_cases_are_distinct_edits(medium):
    keys = [(s, r) for s, r, _ in candidates(medium)]
    assert len(keys) == len(set(keys))


def test_split_is_by_subject_and_deterministic(world):
    splits = subject_splits(world)
    assert splits == subject_splits(generate_world(world.config))
    cases = make_cases(world)
    by_split = {s: {c.meta["subject_key"] for c in cases if c.meta["split"] == s} for s in SPLITS}
    assert by_split["dev"] and by_split["test"] and not by_split["dev"] & by_split["test"]
    assert all(c.meta["split"] == splits[c.meta["subject_id"]] == splits[c.meta["subject_key"]] for c in cases)
    test_only = make_cases(world, split="test")
    assert [c.to_dict() for c in test_only] == [c.to_dict() for c in cases if c.meta["split"] == "test"]


def test_every_base_fact_is_a_case_and_plain_ones_have_no_portability(world):
    cases = make_cases(world)
    base = {r.name for r in relations().values() if r.subject == "person" and not r.chain}
    assert {c.meta["relation"] for c in cases} == base
    seen_plain = False
    for c in cases:
        if c.meta["chained_relation"] is None:
            seen_plain = True
            assert not c.probes_for(kind=PORTABILITY)
            assert {p.kind for p in c.probes} == {"reliability", "generality", "locality"}
        else:
            assert not seen_plain, "cases with a chained relation come first"
            assert len(c.probes_for(kind=PORTABILITY)) == len(LANGS)


def test_answer_kinds_are_read_from_the_names_and_recorded_per_case(medium):
    kinds = medium.answer_kinds
    assert kinds["organisation"] == SAME  # brand names, written alike everywhere
    assert {kinds[k] for k in ("city", "country", "occupation", "language")} == {TRANSLATED}
    cases = make_cases(medium, 200)
    assert {c.meta["answer_kind"] for c in cases} == set(ANSWER_KINDS)
    for c in cases:
        kind = relations()[c.meta["relation"]].object
        names = {lang: medium.object_name(kind, c.meta["object_new"], lang) for lang in LANGS}
        assert (len(set(names.values())) == 1) == (c.meta["answer_kind"] == SAME), (c.case_id, names)


@pytest.mark.parametrize("lang", LANGS)
def test_at_least_three_prompts_per_relation(lang):
    for rel in relations():
        assert len(language(lang).templates(rel)) >= 3, (lang, rel)


def test_n_beyond_the_world_is_an_error_naming_the_maximum(world, medium_folder, capsys):
    most = max_cases(world)
    assert len(make_cases(world, most)) == most
    with pytest.raises(PolyeditError, match=f"at most {most} edit cases"):
        make_cases(world, most + 1)
    with pytest.raises(PolyeditError, match=f"at most {max_cases(world, 'test')} edit cases in its test split"):
        make_cases(world, max_cases(world, "test") + 1, split="test")
    with pytest.raises(PolyeditError, match="split must be one of"):
        make_cases(world, 1, split="train")
    with pytest.raises(PolyeditError, match="edit language"):
        make_cases(world, 1, edit_lang="sw")
    assert main(["data", "stats", f"world:{medium_folder}:n=100000"]) == 2
    assert "gives at most" in capsys.readouterr().err


def test_world_dataset_options(world, medium_folder):
    ds = load_dataset(f"world:{medium_folder}:n=3:edit_lang=de,ja:split=test")
    assert [c.edit.lang for c in ds.cases] == ["de"] * 3 + ["ja"] * 3
    assert {c.meta["split"] for c in ds.cases} == {"test"}
    assert [c.meta["subject_key"] for c in ds.cases[:3]] == [c.meta["subject_key"] for c in ds.cases[3:]]
    assert len(load_dataset(f"world:{medium_folder}:n=1:edit_lang=all").cases) == len(LANGS)


def test_data_stats_shows_the_cases_and_the_split_sizes(medium, medium_folder, capsys):
    """`polyedit data stats` on world:medium's world, in one edit language (the count is the same in every
    one: see test_the_edit_language_does_not_change_how_many_cases_a_world_gives)."""
    assert main(["data", "stats", f"world:{medium_folder}:edit_lang=th"]) == 0
    out = capsys.readouterr().out
    total, test = max_cases(medium), max_cases(medium, "test")
    assert f"cases: {total}\n" in out and f"edit languages: th ({total})" in out
    assert f"splits: dev {total - test}, test {test}" in out
    assert total >= MIN_CASES and test >= MIN_TEST


def test_the_readme_table_of_case_counts_matches_the_worlds():
    """The counts in polyedit/world/README.md are the worlds' (data, not measurements; held to the code)."""
    from importlib import resources

    text = resources.files("polyedit.world").joinpath("README.md").read_text("utf-8")
    for size in ("small", "medium"):
        world = generate_world(SIZES[size].world)
        cands = candidates(world)
        kinds = Counter(world.answer_kind(relations()[r].object) for _, r, _ in cands)
        chained = sum(1 for c in cands if c[2])
        row = (f"| `world:{size}` | {len(world.persons)} | {len(cands):,} | {chained:,} | {max_cases(world, 'dev'):,} "
               f"| {max_cases(world, 'test'):,} | {kinds[SAME]:,} / {kinds[TRANSLATED]:,} |")
        assert row in text, row


# ---- the committed checkpoint --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def medium_model():
    from helpers.requires import world_checkpoint

    folder = world_checkpoint("medium")  # committed: missing, it fails under CI=true
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend
    from polyedit.world.build import read_build

    return HFBackend(load_model("world:medium"), batch_size=64), read_build(folder), folder


def test_medium_checkpoint_is_the_medium_config_and_small_enough(medium_model):
    _, meta, folder = medium_model
    assert meta["size"] == "medium" and meta["seed"] == 0
    assert meta["command"].startswith("polyedit world build --size medium")
    recipe = json.loads(json.dumps(SIZES["medium"].to_dict()))
    # the world and the model regenerate exactly; the training went in stages, the first at the size's recipe
    assert {k: v for k, v in meta["config"].items() if k != "train"} == {k: v for k, v in recipe.items() if k != "train"}
    stages = meta["stages"]
    assert stages[0]["train"] == recipe["train"] and stages[0]["init_from"] is None
    assert all(s["command"].startswith("polyedit world build --size medium") for s in stages)
    assert all(s["init_from"] for s in stages[1:]) and stages[-1]["train"] == meta["config"]["train"]
    assert meta["train_seconds_all_stages"] == pytest.approx(sum(s["train_seconds"] for s in stages), abs=0.5)
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 25 * 2**20
    m = meta["measured"]
    assert set(m["recall"]) == set(LANGS)
    assert set(m["transfer"]["answer_kind"]) == set(ANSWER_KINDS)


def test_medium_recalls_what_its_build_measured(medium_model, medium):
    """Loaded like a hub model, the committed model reproduces the recall its build recorded (loading,
    tokenizer and world regeneration agree) on a fresh sample of 100 prompts per language."""
    import random

    from polyedit.world.corpus import fact_prompts

    backend, meta, _ = medium_model
    for lang in LANGS:
        prompts = [p for f in medium.facts if lang in medium.languages_of(f) for p in fact_prompts(medium, f, lang)]
        sample = random.Random(f"medium-{lang}").sample(prompts, 100)
        results = backend.score([(p.context, p.continuation) for p in sample])
        recall = sum(r.token_accuracy == 1.0 for r in results) / len(results)
        assert abs(recall - meta["measured"]["recall"][lang]) <= 0.1, (lang, recall)
