import pytest

from polyedit.data.languages import get_language, join_target
from polyedit.world.schema import LANGS, SLOT, fill, language, relations, world_schema
from polyedit.world.world import World

SUBJECT = "Karimo Tasune"


@pytest.mark.parametrize("lang", LANGS)
def test_every_relation_has_two_statements_and_a_question(lang):
    data = language(lang)
    get_language(lang)  # a row of the language table
    for rel in relations():
        assert len(data.cloze[rel]) >= 2 and len(data.question[rel]) >= 1, (lang, rel)
        for t in data.templates(rel):
            assert t.count(SLOT) == 1, (lang, t)
            assert not t.rstrip().endswith(SLOT), f"{lang}: the object, not the subject, ends {t!r}"
            assert t == t.strip(), (lang, t)


@pytest.mark.parametrize("lang", LANGS)
def test_no_template_is_a_prefix_of_another(lang):
    """A template that is a prefix of another ('X plays' / 'X plays the') caps recall: none may be."""
    data = language(lang)
    filled = [(rel, fill(t, SUBJECT)) for rel in relations() for t in data.templates(rel)]
    for r1, a in filled:
        for r2, b in filled:
            assert a == b or not b.startswith(a), f"{lang}: {a!r} ({r1}) is a prefix of {b!r} ({r2})"


@pytest.mark.parametrize("lang", LANGS)
def test_objects_are_named_once_each_and_none_prefixes_another(lang):
    data = language(lang)
    for kind in ("country", "city", "occupation", "language"):
        names = data.objects[kind]
        assert set(names) == set(World.object_ids(kind)), (lang, kind)
        values = list(names.values())
        assert len(set(values)) == len(values), (lang, kind)
        for a in values:
            assert not any(b != a and b.startswith(a) for b in values), (lang, kind, a)


@pytest.mark.parametrize("lang", LANGS)
def test_the_object_ends_the_sentence(lang):
    for rel in relations():
        for t in language(lang).templates(rel):
            context, continuation = join_target(fill(t, SUBJECT), "OBJ", lang)
            assert (context + continuation).endswith("OBJ")
            assert continuation.startswith(" ") == get_language(lang).spaces


def test_every_transliteration_covers_every_syllable():
    syllables = set(world_schema()["name_syllables"])
    for lang in LANGS:
        table = language(lang).name_syllables
        if table is not None:
            assert set(table) == syllables, lang
            assert len(set(table.values())) == len(table), f"{lang}: two syllables spelled alike"
