"""ReMaKE: retrieval of stored edits across languages on world:small, ReMaKE's own prompt (the bare question
when nothing is retrieved) and BMIKE's as the alternative, a memory that grows with sequential edits and shrinks on restore, a missing retriever
as one line, and the same results through a local model and `polyedit serve` on loopback."""

import json

import pytest

from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError
from polyedit.methods import get_method
from polyedit.methods.ike.prompts import fact_text


@pytest.fixture(scope="module")
def cases():
    return load_dataset("world:small:n=40:edit_lang=all:mix=cycle").cases


def test_a_query_in_any_language_retrieves_its_edit_where_the_name_is_written_alike(cases):
    edited = cases[:12]  # one edit in each of the 12 languages
    m = get_method("remake")
    h = m.apply(None, [c.edit for c in edited])
    assert h.info["retriever"] == "tfidf-char-2-4" and h.info["memory"] == 12
    alike = found = 0
    for c in edited:
        for p in c.probes:
            if p.kind != "reliability" or p.subject != c.edit.subject:
                continue  # transliterated names share no characters with the edit's spelling
            alike += 1
            hits = h.retrieved(p)
            # indexed by subject: the nearest is an edit of this subject (this one, or another relation's)
            found += bool(hits) and hits[0][0].subject == c.edit.subject
    assert alike >= 30 and found == alike
    langs = {p.lang for c in edited for p in c.probes if p.subject == c.edit.subject}
    assert {"zh", "ja", "ru"} & langs  # across scripts too, where the name is spelt in Latin letters
    probe = next(p for p in edited[1].probes if p.kind == "reliability" and p.lang == "en")
    e = edited[1].edit
    # ReMaKE's own form (its `compute_icl_edit_quality`): the edit as a question and answer, then the query
    assert h.info["prompt_form"] == "remake" and h.stop_strings() == ("\n",)
    assert h.transform_prompt(probe) == f"Question: {e.prompt} Answer: {e.target_new}\nQuestion: {probe.prompt} Answer:"
    bmike = get_method("remake", {"prompt_form": "bmike"}).apply(None, [c.edit for c in edited])
    fact = fact_text(e.prompt, e.target_new, e.lang)  # a zh edit: prompt and target joined without a space
    assert bmike.transform_prompt(probe) == f'New Fact: "{fact}"\nQuestion: "{probe.prompt}" Answer: "'
    assert bmike.info["prompt_form"] == "bmike" and bmike.stop_strings() == ('"',)


def test_nothing_retrieved_means_the_bare_question_or_under_bmike_the_plain_prompt(cases):
    edited, others = cases[:12], cases[12:]
    h = get_method("remake").apply(None, [c.edit for c in edited])
    edited_subjects = {p.subject for c in edited for p in c.probes}
    plain = [p for c in others for p in c.probes if p.kind == "reliability" and p.subject not in edited_subjects]
    assert len(plain) > 50
    unretrieved = [p for p in plain if not h.retrieved(p)]
    assert len(unretrieved) >= 0.8 * len(plain)
    assert all(h.transform_prompt(p) == f"Question: {p.prompt} Answer:" for p in unretrieved)
    bmike = get_method("remake", {"prompt_form": "bmike"}).apply(None, [c.edit for c in edited])
    assert all(bmike.transform_prompt(p) == p.prompt for p in unretrieved)


def test_memory_grows_with_sequential_edits_and_restore_removes_them(cases):
    m = get_method("remake")
    handles = [m.apply(None, [c.edit]) for c in cases[:3]]
    assert [h.info["memory"] for h in handles] == [1, 2, 3]
    probe = next(p for p in cases[0].probes if p.kind == "reliability" and p.lang == "en")
    assert handles[2].retrieved(probe)[0][0] == cases[0].edit  # the latest handle sees every edit so far
    for h in reversed(handles):
        h.restore()
    assert m.memory.edits == [] and handles[2].transform_prompt(probe) == f"Question: {probe.prompt} Answer:"


def test_an_unavailable_retriever_is_one_line_not_a_fallback(cases):
    m = get_method("remake", {"retriever": "sentence-transformers", "embedding_model": "no-such/model"})
    with pytest.raises(PolyeditError, match="remake: retriever sentence-transformers model 'no-such/model' "
                                            "unavailable") as e:
        m.apply(None, [cases[0].edit])
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_bench_local_and_through_the_endpoint_agree(tmp_path):
    from helpers.requires import world_checkpoint

    from polyedit.evaluation.runner import BenchConfig, run_bench
    from polyedit.models import load_model
    from polyedit.models.openai_backend import OpenAIBackend
    from polyedit.serve import CompletionModel, serve_in_thread

    world_checkpoint("small")
    lm = load_model("world:small")
    data = "world:small:n=3:edit_lang=all:mix=cycle"
    cfg = dict(model="world:small", method="remake", data=data, langs=["en", "de", "zh"],
               protocols=["answer", "answer_locality"], mode="sequential")
    bmike = {"prompt_form": "bmike"}  # the world models learnt in-context facts in BMIKE's form, not ReMaKE's
    local = run_bench(lm, get_method("remake", bmike), load_dataset(data), tmp_path / "local", BenchConfig(**cfg),
                      progress=False)
    server, _ = serve_in_thread(CompletionModel(lm, "world-small"), "127.0.0.1", 0)
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}/v1", "world-small")
        remote = run_bench(None, get_method("remake", bmike), load_dataset(data), tmp_path / "remote", BenchConfig(**cfg),
                           progress=False, backend=backend)
    finally:
        server.shutdown()
        server.server_close()
    rec = json.loads((tmp_path / "local" / "results.jsonl").read_text("utf-8").splitlines()[0])
    assert rec["info"]["retriever"] == "tfidf-char-2-4"  # the retriever is named in the results
    assert local["mean"]["reliability"]["post"] == remote["mean"]["reliability"]["post"]
    assert local["mean"]["reliability"]["post"] > local["mean"]["reliability"]["pre"]
    assert local["mean"]["locality"]["post"] == remote["mean"]["locality"]["post"]
