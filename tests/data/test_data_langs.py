"""`langs` restricts what is read and reported, on every dataset: a run's `--langs` becomes the spec's
`langs=`, so BMIKE-53 asked for de and ja reads and counts those two files, not 53."""

import pytest
from helpers.requires import bmike53_root, shared

import polyedit.data.registry as registry
from polyedit.cli.main import main
from polyedit.data.languages import normalize_code
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

SPECS = {
    "world": (lambda: "world:small", ["de", "ja"]),
    "bmike53": (lambda: f"bmike53:wikifactdiff:dir={bmike53_root()}", ["de", "ja"]),
    "mzsre": (lambda: f"mzsre:{shared('data/mzsre/data/MzsRE')}", ["de", "th"]),
    "bizsre": (lambda: f"bizsre:{shared('data/bi-zsre/eval/data/bizsre_test.json')}", ["zh"]),
    "mlake": (lambda: f"mlake:{shared('data/mlake/dataset')}", ["fr"]),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_langs_restricts_the_probes_and_the_counts(name):
    spec, langs = SPECS[name][0](), SPECS[name][1]
    ds = load_dataset(spec, langs=langs)
    # the asked languages, and the edit language, which a run always probes (the run's notes say so): read too
    assert {p.lang for c in ds.cases for p in c.probes} == set(langs) | {c.edit.lang for c in ds.cases}
    counted = {reason.split(":")[0] for reason in ds.skipped if ":" in reason}
    assert counted <= {*langs, "en"}, counted  # English: the edit language, read for the edit itself
    read = {path.split(".")[0] for path in ds.fields.get("read", {})}
    assert all(normalize_code(x) in {*langs, "en"} for x in read if len(x) == 2), read


def test_the_spec_own_langs_wins(fixtures):
    ds = load_dataset(f"mzsre:{fixtures / 'mzsre'}:langs=zh", langs=["cs"])
    assert {p.lang for c in ds.cases for p in c.probes} == {"zh"}


def test_bench_hands_its_langs_to_the_loader(monkeypatch):
    seen = {}

    def fake(spec, limit=None, langs=None):
        seen.update(spec=spec, langs=langs)
        raise PolyeditError("stop here")  # before any model is loaded

    monkeypatch.setattr(registry, "load_dataset", fake)  # bench imports it when it runs
    code = main(["bench", "--model", "world:small", "--method", "ft-l", "--data", "bmike53:zsre", "--langs", "de,ja",
                 "--out", "unused"])
    assert code == 2 and seen == {"spec": "bmike53:zsre", "langs": ["de", "ja"]}
