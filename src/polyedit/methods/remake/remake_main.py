"""ReMaKE (Wang, Haddow and Birch 2023, "Retrieval-augmented Multilingual Knowledge Editing", arXiv 2312.13040):
the edits are kept in a multilingual knowledge base; a query, in any language, retrieves the stored edits
relevant to it, and only those are put before it in the in-context editing prompt. When the retriever finds
nothing relevant the query goes to the model as it is, which is what keeps unrelated answers unchanged.

- Memory: every `apply` adds its edits; `restore()` removes them (last applied first), so a sequential run
  grows the memory and every re-scored query sees all edits so far. No weight is touched; the method runs
  on a local model or an OpenAI-compatible endpoint alike.
- Retrieval: each stored edit is embedded by its subject (`key: subject`, the default: a query about the
  subject in any language names it; the template words of a whole sentence match every fact of the same
  relation, measured below) or by its new-fact sentence (`key: fact`, `<prompt> <target_new>`); a query (the probe's prompt) retrieves the `top_k` most similar with cosine similarity
  at least `threshold`. The retriever is named in every result (`info["retriever"]`): `tfidf`
  (character n-grams, `ike.retrieval`: it matches names written alike across languages, not across
  scripts) or `sentence-transformers` (`embedding_model`, a local multilingual encoder; unavailable is a
  one-line error, never a silent fallback). The paper's retriever is a fine-tuned multilingual
  classifier; any sentence-transformers model stands in for it here.
- Prompt (`prompt_form`, recorded in `info`): ReMaKE's own by default, `Question: <edit prompt> Answer:
  <target>\nQuestion: <query> Answer:` and the bare `Question: <query> Answer:` when nothing is retrieved;
  `bmike`: BMIKE-53's in-context prompt (`ike.prompts`) and the plain query when nothing is retrieved
  (`remake.prompts`). No demonstrations (ReMaKE's zero-shot setting).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from polyedit.data.cases import Edit, Probe
from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.methods.ike.prompts import fact_text
from polyedit.methods.ike.retrieval import CharNgramTfidf, SentenceTransformerEmbedder
from polyedit.methods.remake.prompts import BUILDERS, PROMPT_FORMS, STOPS

MULTILINGUAL_ST_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


class ReMaKEHParams(HParams):
    retriever: Literal["tfidf", "sentence-transformers"] = param(
        "tfidf", "how edits are retrieved: tfidf (character n-grams) or sentence-transformers (`embedding_model`, "
        "local files only)")
    embedding_model: str = param(MULTILINGUAL_ST_MODEL, "the sentence-transformers model of the retriever")
    top_k: int = param(1, "at most this many stored edits go before a query", ge=1)
    key: Literal["subject", "fact"] = param("subject", "what a stored edit is indexed by: its subject, or its new-fact "
                                            "sentence (fact)")
    threshold: float = param(0.5, "cosine similarity an edit needs to be retrieved; none above it: no edit in "
                                  "the prompt", ge=-1, le=1)
    prompt_form: Literal[PROMPT_FORMS] = param("remake", "remake: ReMaKE's `Question: ... Answer: ...` prompt (the "
                                               "bare question when nothing is retrieved); bmike: BMIKE-53's `New "
                                               "Fact:` prompt (the plain query when nothing is retrieved)")


def make_retriever(hp: ReMaKEHParams):
    if hp.retriever == "tfidf":
        return CharNgramTfidf()
    try:
        from sentence_transformers import SentenceTransformer

        emb = SentenceTransformerEmbedder(SentenceTransformer(hp.embedding_model, local_files_only=True))
    except Exception as e:  # not installed, or not in the local cache: said, never replaced by another
        why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise PolyeditError(f"remake: retriever sentence-transformers model {hp.embedding_model!r} unavailable "
                            f"({why}); set retriever: tfidf or a local embedding_model") from None
    emb.name = f"sentence-transformers:{hp.embedding_model}"
    return emb


class Memory:
    """The stored edits, their owners, and the index over them (refitted when the memory changes)."""

    def __init__(self, embedder, key: str = "fact") -> None:
        self.embedder = embedder
        self.key = key
        self.edits: list[tuple[Edit, int]] = []  # (edit, id of the handle that added it)
        self._matrix: np.ndarray | None = None

    def add(self, edits: list[Edit], owner: int) -> None:
        self.edits += [(e, owner) for e in edits]
        self._matrix = None

    def remove(self, owner: int) -> None:
        self.edits = [x for x in self.edits if x[1] != owner]
        self._matrix = None

    def retrieve(self, query: str, k: int, threshold: float) -> list[tuple[Edit, float]]:
        """The `k` most similar stored edits with similarity >= threshold, most similar first."""
        if not self.edits:
            return []
        if self._matrix is None:
            self._matrix = self.embedder.fit([e.subject if self.key == "subject" else
                                              fact_text(e.prompt, e.target_new, e.lang) for e, _ in self.edits])
        sims = self._matrix @ self.embedder.embed([query])[0]
        order = np.argsort(-sims, kind="stable")[:k]
        return [(self.edits[i][0], float(sims[i])) for i in order if sims[i] >= threshold]


class ReMaKEHandle(EditHandle):
    def __init__(self, lm, method: ReMaKE, edits: list[Edit], info: dict[str, Any]) -> None:
        super().__init__(lm, (), info)
        self.method = method
        method.memory.add(edits, id(self))

    def retrieved(self, probe: Probe) -> list[tuple[Edit, float]]:
        hp = self.method.hparams
        return self.method.memory.retrieve(probe.prompt, hp.top_k, hp.threshold)

    def transform_prompt(self, probe: Probe) -> str:
        return BUILDERS[self.method.hparams.prompt_form]([e for e, _ in self.retrieved(probe)], probe.prompt)

    def stop_strings(self) -> tuple[str, ...]:
        return (STOPS[self.method.hparams.prompt_form],)

    def restore(self) -> None:
        self.method.memory.remove(id(self))
        self.restored = True


@register_method
class ReMaKE(EditMethod):
    name = "remake"
    hparams_class = ReMaKEHParams
    description = ("ReMaKE: retrieval of stored edits from a multilingual memory + in-context editing; "
                   "the plain prompt when nothing is retrieved")
    supports_batch = True
    edits_in_context = True

    def __init__(self, hparams: ReMaKEHParams | None = None) -> None:
        super().__init__(hparams)
        self._memory: Memory | None = None

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = Memory(make_retriever(self.hparams), self.hparams.key)
        return self._memory

    def apply(self, lm, edits: list[Edit]) -> EditHandle:
        self.hparams = self.resolved(lm)
        memory = self.memory  # a missing retriever fails here, before anything is evaluated
        handle = ReMaKEHandle(lm, self, list(edits), {})
        handle.info.update({"retriever": memory.embedder.name, "top_k": self.hparams.top_k,
                            "key": self.hparams.key, "threshold": self.hparams.threshold,
                            "prompt_form": self.hparams.prompt_form,
                            "memory": len(memory.edits)})
        return handle
