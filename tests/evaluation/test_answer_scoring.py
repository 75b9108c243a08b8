"""Known answers for the generated-answer headline: normalisers per script, aliases, stop rules, the
answer-language detector, and the two protocols on a scripted backend."""

from __future__ import annotations

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.data.normalize import answer_f1, answer_stops, answer_units, cut_answer, exact_match, normalize_answer
from polyedit.evaluation.answer_language import in_language
from polyedit.evaluation.engine import evaluate
from polyedit.evaluation.protocols import get_protocol
from polyedit.models.backend import Generation

WORLD = ("en", "zh", "fr", "de", "it", "es", "pt", "pl", "ru", "ja", "ko", "th")


@pytest.mark.parametrize("text,lang,expected", [
    ("The Eiffel Tower.", "en", "eiffel tower"),                # English articles and the full stop
    ("  Washington,   D.C. ", "en", "washington d c"),            # ASCII punctuation, runs of spaces
    ("Der Rhein", "de", "rhein"), ("STRASSE", "de", "strasse"), ("Straße", "de", "strasse"),  # casefold ß
    ("l’Aquila", "it", "aquila"), ("L'Oréal", "fr", "oréal"),   # elided articles, typographic apostrophe
    ("¿El Prado?", "es", "prado"),                              # inverted question mark
    ("«Париж»", "ru", "париж"), ("МОСКВА", "ru", "москва"),      # guillemets, Cyrillic case
    ("「東京 都」。", "ja", "東京都"), ("ＡＢＣ", "ja", "abc"),    # CJK brackets and full stop, full-width
    ("北京，中国", "zh", "北京中国"),                             # ideographic comma, no spaces in zh
    ("서울, 한국", "ko", "서울 한국"),                            # Korean keeps its spaces
    ("กรุงเทพ มหานคร", "th", "กรุงเทพมหานคร"),                  # Thai has no word spaces
    ("القاهرة؟", "ar", "القاهرة"), ("दिल्ली।", "hi", "दिल्ली"),   # Arabic question mark, danda
])
def test_normalize_answer_per_script(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_articles_are_language_data_not_english_everywhere():
    assert normalize_answer("The Hague", "en") == "hague"
    assert normalize_answer("The Hague", "nl") == "the hague"   # 'the' is no Dutch article
    assert normalize_answer("De Haag", "nl") == "haag" and normalize_answer("De Haag", "en") == "de haag"


def test_f1_counts_words_or_characters():
    assert answer_units("New York City", "en") == ["new", "york", "city"]
    assert answer_units("東京都", "ja") == ["東", "京", "都"]
    assert answer_units("CBS 電視台 2024年", "zh") == ["cbs", "電", "視", "台", "2024", "年"]  # Latin runs stay words
    assert answer_f1("New York", ["New York City"], "en") == pytest.approx(0.8)  # P 1, R 2/3
    assert answer_f1("東京", ["東京都"], "ja") == pytest.approx(0.8)              # character F1
    assert answer_f1("Tokyo", ["東京都"], "ja") == 0.0


def test_aliases_count_with_the_best_match():
    p = Probe("reliability", "en", "Q", "United States", aliases=("USA", "the US"))
    assert exact_match("U.S.A.", p.answers, "en") == 0.0  # "u s a" is not "usa": punctuation splits
    assert exact_match("USA", p.answers, "en") == 1.0 and exact_match("US", p.answers, "en") == 1.0
    assert answer_f1("United Kingdom", p.answers, "en") == pytest.approx(0.5)
    assert exact_match("USA", ("United States",), "en") == 0.0  # without the alias it is wrong


@pytest.mark.parametrize("generated,prompt,expected", [
    (" Oslo. It is a city", "Bo lives in", " Oslo"),
    (" Washington, D.C.\nNext", "Capital:", " Washington, D.C."),  # a period inside a name does not stop
    (" 3.5 km", "Distance:", " 3.5 km"),
    (" Oslo\nQuestion: x", "Bo lives in", " Oslo"),
    ("東京。次の", "首都は", "東京"), ("東京！", "首都は", "東京"), ("ソウル？", "首都は", "ソウル"),
    ("दिल्ली। और", "राजधानी", "दिल्ली"), ("القاهرة؟ ثم", "العاصمة", "القاهرة"),
    ('Oslo" and more', 'Answer: "', "Oslo"),                      # the quote the prompt opens
    ("Oslo» etc", "Réponse : «", "Oslo"), ("東京」と", "答え：「", "東京"),
    ('Oslo" and more', "Bo lives in", 'Oslo" and more'),           # no open quote: a quote is text
])
def test_stop_rules_hold_in_every_script(generated, prompt, expected):
    assert cut_answer(generated, answer_stops(prompt)) == expected


@pytest.mark.parametrize("text,lang,expected", [
    ("Милан", "ru", True), ("Milano", "ru", False), ("서울", "ko", True), ("Seoul", "ko", False),
    ("パリ", "ja", True), ("巴黎", "zh", True), ("Paris", "zh", False),
    ("die Hauptstadt von Frankreich", "de", True), ("die Hauptstadt von Frankreich", "fr", False),  # the LID
    ("Warszawa", "pl", True), ("Warszawa", "fr", False),
    ("Oslo", "de", True),          # too short to tell among Latin-script languages: the script decides
    ("1990", "en", None),          # no letters: undetermined
])
def test_answer_language_restricted_to_the_runs_languages(text, lang, expected):
    assert in_language(text, lang, WORLD) is expected


def test_answer_language_without_other_candidates_is_the_script():
    assert in_language("die Hauptstadt von Frankreich", "fr", ("fr", "ja")) is True


class Scripted:
    capabilities = frozenset({"generate"})

    def __init__(self, texts):
        self.texts, self.calls = texts, []

    def tokenize(self, text):
        return text.split()

    def generate(self, prompts, n, stop=()):
        self.calls.append((len(prompts), n, stop))
        return [Generation(self.texts[p], []) for p in prompts]


def test_answer_protocol_end_to_end_on_a_scripted_backend():
    case = make_case("c", "en", "Ana", "Ana lives in", "Milan", "Oslo", [
        Probe("reliability", "ru", "Ана живёт в", "Милан", aliases=("Milan",)),
        Probe("reliability", "ja", "アナの住まいは", "ミラノ"),
        Probe("locality", "de", "Bo wohnt in", "Rom")])
    before = Scripted({"Ana lives in": " Oslo.", "Ана живёт в": " Осло\n", "アナの住まいは": "オスロ。", "Bo wohnt in": " Rom."})
    pre = evaluate(before, [case], ["answer", "answer_locality"])
    after = Scripted({"Ana lives in": " Milan. Then", "Ана живёт в": " Milan", "アナの住まいは": "「ミラノ」です",
                      "Bo wohnt in": " Paris."})
    post = evaluate(after, [case], ["answer", "answer_locality"], reference=pre)
    en, ru, ja, loc = post.results
    assert [r.metrics["answer_em"] for r in pre.results] == [0.0, 0.0, 0.0, 1.0]
    assert en.metrics["answer_em"] == 1.0 and ru.metrics["answer_em"] == 1.0  # ru: the English alias counts
    assert ru.metrics["answer_in_language"] == 0.0 and ru.metrics["answer_em_strict"] == 0.0  # ...but not strictly
    assert ja.metrics["answer_em"] == 0.0 and ja.metrics["answer_f1"] == pytest.approx(0.75)  # P 3/5, R 1
    assert pre.results[3].metrics["answer_unchanged"] == 1.0 and loc.metrics["answer_unchanged"] == 0.0
    assert loc.metrics["answer_em"] == 0.0
    assert en.protocol_of["answer_em"] == "answer" and loc.protocol_of["answer_unchanged"] == "answer_locality"
    assert post.protocols["answer"]["kind"] == "generated" and "NFKC" in post.protocols["answer"]["normalization"]
    assert en.outputs["answer"] == [" Milan. Then"] and ja.prompt == "アナの住まいは"
    # both protocols share one generation per prompt; every probe's budget is one power of two here
    assert sum(n for n, _, _ in after.calls) == 4 and {b for _, b, _ in after.calls} == {16}


def test_protocols_register_their_metrics_and_kind():
    from polyedit.evaluation.metrics import get_metric

    assert "answer_em" in get_protocol("answer").metrics and get_protocol("answer_locality").metrics == (
        "answer_unchanged",)
    assert get_metric("answer_em").heads == ("reliability", "generality", "portability")
    assert get_metric("answer_unchanged").heads == ("locality",)
    assert get_protocol("token_accuracy").kind == "teacher-forced" and get_protocol("answer").kind == "generated"
